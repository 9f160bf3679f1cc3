// Streaming tar reading on top of modern-tar (ustar, pax, GNU and old-GNU long names, base-256
// sizes): entries are yielded as the stream arrives, so a source tarball or an image layer is
// never held in memory whole. This file only adapts modern-tar to the small API the rest of the
// project uses and turns its errors into one-line CheckErrors.
import { createTarDecoder, type ParsedTarEntry } from "modern-tar";
import { CheckError } from "./errors.ts";

export type TarEntryType = "file" | "directory" | "other";

export interface TarEntry {
  /** The path in the archive, without a trailing "/" for directories. */
  name: string;
  type: TarEntryType;
  size: number;
  /** The body of this entry; only while it is the current entry (unread bodies are skipped). */
  read(): Promise<Uint8Array>;
  /** The body as a stream, for a file too big to hold: same rules as read(), one or the other. */
  stream(): ReadableStream<Uint8Array>;
}

function typeOf(header: ParsedTarEntry["header"]): TarEntryType {
  if (header.type === "directory") return "directory";
  return header.type === "file" || header.type === undefined ? "file" : "other";
}

/** modern-tar throws plain Errors; these are the ones a corrupt or cut archive produces. */
function archiveError(error: unknown, where: string): CheckError {
  const message = error instanceof Error ? error.message : String(error);
  if (/truncated/i.test(message)) {
    return new CheckError(`Truncated tar archive: the stream ended ${where}`);
  }
  if (/checksum/i.test(message)) {
    return new CheckError(
      "Malformed tar header: checksum mismatch (not a tar archive, or corrupt)",
    );
  }
  return new CheckError(`Malformed tar archive: ${message.replace(/\.$/, "")}`);
}

async function readAll(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const content = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of body) {
    content.set(chunk.subarray(0, size - filled), filled);
    filled += chunk.length;
  }
  return content;
}

/**
 * Yields the entries of a tar stream in order. The stream is read to its end (what follows the
 * end-of-archive marker must be zero padding) and then released, so a hashing or gunzip stage
 * upstream sees every byte; a consumer that stops early cancels it. Corrupt, truncated or
 * non-tar data throws CheckError; an error of the source stream itself is passed on unchanged.
 */
export async function* tarEntries(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<TarEntry> {
  // strict: checksums verified, junk is an error instead of being skipped block by block
  const decoder = createTarDecoder({ strict: true });
  const reader = stream.getReader();
  const writer = decoder.writable.getWriter();
  let sourceError: { error: unknown } | undefined;
  let stopped = false;
  // Pumped by hand rather than with pipeThrough so that the lock on `stream` is ours to release
  // the moment the archive is done, and a source error stays distinguishable from a tar error.
  const pump = (async () => {
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          sourceError = { error };
          await writer.abort(error).catch(() => {});
          return;
        }
        if (chunk.done || stopped) break;
        await writer.write(chunk.value);
      }
      await writer.close();
    } catch {
      // the decoder failed; the entry loop below reports its error
    }
  })();

  let finished = false;
  let where = "inside a header";
  try {
    for await (const { header, body } of decoder.readable) {
      const name = header.name.replace(/\/+$/, "");
      const size = header.size;
      const state = { read: false, gone: false };
      where = `inside ${name}`;
      const stream = (): ReadableStream<Uint8Array> => {
        if (state.gone) throw new Error(`tar entry ${name} is no longer current`);
        if (state.read) throw new Error(`tar entry ${name} was already read`);
        state.read = true;
        return ReadableStream.from((async function* () {
          try {
            yield* body;
          } catch (error) {
            if (sourceError) throw sourceError.error;
            throw archiveError(error, `inside ${name}`);
          }
        })());
      };
      const read = async () => await readAll(stream(), size);
      yield { name, type: typeOf(header), size, read, stream };
      state.gone = true;
      // An unread body is read to its end, not cancelled: modern-tar 0.8.6 stalls on a cancelled
      // body while a small chunk is pending (tests/core/tar_test.ts "never stalls").
      if (!state.read) { for await (const _ of body) { /* skipped */ } }
      where = "inside a header";
    }
    await pump;
    finished = true;
  } catch (error) {
    if (sourceError) throw sourceError.error;
    if (error instanceof CheckError) throw error;
    throw archiveError(error, where);
  } finally {
    if (finished) {
      reader.releaseLock();
    } else {
      stopped = true;
      await reader.cancel().catch(() => {});
      await decoder.readable.cancel().catch(() => {});
    }
  }
}
