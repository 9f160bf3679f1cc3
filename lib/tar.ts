// A minimal streaming tar reader (ustar, pax and GNU long names): entries are yielded as the
// stream arrives, so a source tarball or an image layer is never held in memory whole.
import { CheckError } from "./errors.ts";

export type TarEntryType = "file" | "directory" | "other";

export interface TarEntry {
  /** The path in the archive, without a trailing "/" for directories. */
  name: string;
  type: TarEntryType;
  size: number;
  /** The body of this entry; only while it is the current entry (unread bodies are skipped). */
  read(): Promise<Uint8Array>;
}

const BLOCK = 512;
/** pax and GNU long-name headers are small; anything bigger is a corrupt archive. */
const MAX_METADATA = 1 << 20;

/** Reads exact byte counts out of a stream of arbitrarily sized chunks. */
class ByteReader {
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async #available(): Promise<number> {
    while (this.#offset === this.#chunk.length) {
      const { done, value } = await this.reader.read();
      if (done) return 0;
      this.#chunk = value;
      this.#offset = 0;
    }
    return this.#chunk.length - this.#offset;
  }

  /** Fills `target`; returns the bytes copied (fewer only at the end of the stream). */
  async readInto(target: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < target.length) {
      const available = await this.#available();
      if (available === 0) break;
      const n = Math.min(target.length - filled, available);
      target.set(this.#chunk.subarray(this.#offset, this.#offset + n), filled);
      this.#offset += n;
      filled += n;
    }
    return filled;
  }

  /** Discards `count` bytes; returns the bytes discarded (fewer only at the end of the stream). */
  async skip(count: number): Promise<number> {
    let skipped = 0;
    while (skipped < count) {
      const available = await this.#available();
      if (available === 0) break;
      const n = Math.min(count - skipped, available);
      this.#offset += n;
      skipped += n;
    }
    return skipped;
  }
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

function text(field: Uint8Array): string {
  const end = field.indexOf(0);
  return utf8.decode(end === -1 ? field : field.subarray(0, end));
}

/** A numeric header field: octal digits padded with spaces/NULs, or GNU base-256. */
function number(field: Uint8Array, what: string): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const digits = latin1.decode(field).replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (!/^[0-7]*$/.test(digits)) {
    throw new CheckError(`Malformed tar header: its ${what} is not a number (not a tar archive?)`);
  }
  return digits === "" ? 0 : parseInt(digits, 8);
}

function verifyChecksum(header: Uint8Array): void {
  const expected = number(header.subarray(148, 156), "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Some old tar writers summed signed bytes; accept either.
  if (expected !== unsigned && expected !== signed) {
    throw new CheckError("Malformed tar header: checksum mismatch (not a tar archive, or corrupt)");
  }
}

/** pax records: "<length> <key>=<value>\n", the length counted in bytes. */
function paxRecords(body: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const length = space === -1 ? NaN : Number(latin1.decode(body.subarray(pos, space)));
    if (!Number.isInteger(length) || length <= 0 || pos + length > body.length) {
      if (body.subarray(pos).every((b) => b === 0)) break; // NUL padding
      throw new CheckError("Malformed tar archive: bad pax extended header");
    }
    const record = utf8.decode(body.subarray(space + 1, pos + length)).replace(/\n$/, "");
    const equals = record.indexOf("=");
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    pos += length;
  }
  return records;
}

function typeOf(flag: string, name: string): TarEntryType {
  if (flag === "5") return "directory";
  if (flag === "0" || flag === "7" || flag === "\0") {
    return name.endsWith("/") ? "directory" : "file";
  }
  return "other"; // links, devices, FIFOs
}

function truncated(where: string): CheckError {
  return new CheckError(`Truncated tar archive: the stream ended ${where}`);
}

/**
 * Yields the entries of a tar stream in order. At the end-of-archive marker the stream is
 * released (not cancelled), so a caller can go on reading what follows; a consumer that
 * stops early cancels it. Corrupt or truncated archives throw CheckError.
 */
export async function* tarEntries(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<TarEntry> {
  const reader = stream.getReader();
  const bytes = new ByteReader(reader);
  let finished = false;
  // Extended headers apply to the entry that follows them.
  let pending: { path?: string; size?: number } = {};
  try {
    for (;;) {
      const header = new Uint8Array(BLOCK);
      const got = await bytes.readInto(header);
      // A missing end marker at a block boundary is tolerated, as GNU tar does.
      if (got === 0 || (got === BLOCK && header.every((b) => b === 0))) {
        finished = true;
        return;
      }
      if (got < BLOCK) throw truncated("inside a header");
      verifyChecksum(header);
      const flag = String.fromCharCode(header[156]!);
      const size = pending.size ?? number(header.subarray(124, 136), "size");
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;

      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        if (size > MAX_METADATA) {
          throw new CheckError(`Malformed tar archive: ${size}-byte extended header`);
        }
        const body = new Uint8Array(size);
        if (await bytes.readInto(body) < size) throw truncated("inside an extended header");
        if (await bytes.skip(padding) < padding) throw truncated("inside an extended header");
        if (flag === "x") {
          const records = paxRecords(body);
          const paxSize = records.get("size");
          if (records.has("path")) pending.path = records.get("path");
          if (paxSize !== undefined && /^\d+$/.test(paxSize)) pending.size = Number(paxSize);
        } else if (flag === "L") {
          pending.path = text(body);
        }
        // "g" (global, e.g. git's commit id) and "K" (long link target) change no name.
        continue;
      }

      const magic = latin1.decode(header.subarray(257, 263));
      const prefix = magic === "ustar\0" ? text(header.subarray(345, 500)) : "";
      const rawName = pending.path ??
        (prefix ? `${prefix}/${text(header.subarray(0, 100))}` : text(header.subarray(0, 100)));
      pending = {};
      const type = typeOf(flag, rawName);
      const name = rawName.replace(/\/+$/, "");

      const body = { read: false, gone: false };
      const read = async (): Promise<Uint8Array> => {
        if (body.gone) throw new Error(`tar entry ${name} is no longer current`);
        if (body.read) throw new Error(`tar entry ${name} was already read`);
        body.read = true;
        const content = new Uint8Array(size);
        if (await bytes.readInto(content) < size) throw truncated(`inside ${name}`);
        return content;
      };
      yield { name, type, size, read };
      const rest = (body.read ? 0 : size) + padding;
      body.gone = true;
      if (await bytes.skip(rest) < rest) throw truncated(`inside ${name}`);
    }
  } finally {
    if (finished) reader.releaseLock();
    else await reader.cancel().catch(() => {});
  }
}
