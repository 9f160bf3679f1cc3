// The OpenZFS source tarball the build downloads: its URL (ZFS_SOURCE_URL), and one streaming
// pass that hashes it and reads the kernel range from the META file inside.
import { createHash } from "node:crypto";
import { type Logger, silentLogger } from "../cli/cli.ts";
import { CheckError, RemoteError } from "../core/errors.ts";
import { fetchWithRetry, remoteErrorOf, type RetryOptions } from "../core/http.ts";
import { zfsTag as checkZfsTag } from "../core/patterns.ts";
import { envUrl } from "../core/settings.ts";
import { tarEntries } from "../core/tar.ts";

export const DEFAULT_ZFS_SOURCE_URL = "https://github.com/openzfs/zfs/archive/refs/tags";

/** The base URL of the source tarballs: ZFS_SOURCE_URL or GitHub's archive tarballs. */
export function zfsSourceBaseUrl(): string {
  return envUrl("ZFS_SOURCE_URL", DEFAULT_ZFS_SOURCE_URL);
}

/** The tarball the Containerfile downloads for a tag: `${base}/${tag}.tar.gz`. */
export function zfsSourceUrl(zfsTag: string, base = zfsSourceBaseUrl()): string {
  return `${base}/${checkZfsTag(zfsTag)}.tar.gz`;
}

/** The fields of META that matter here (the file is "Key: value" lines). */
export interface ZfsMeta {
  name?: string;
  version?: string;
  linuxMinimum?: string;
  linuxMaximum?: string;
}

/** Parses an OpenZFS META file. Values are returned as written; callers validate them. */
export function parseMeta(text: string): ZfsMeta {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z-]+):\s*(.*?)\s*$/.exec(line);
    if (match) fields.set(match[1]!.toLowerCase(), match[2]!);
  }
  return {
    name: fields.get("name"),
    version: fields.get("version"),
    linuxMinimum: fields.get("linux-minimum"),
    linuxMaximum: fields.get("linux-maximum"),
  };
}

export interface TarballHash {
  url: string;
  sha256: string;
  bytes: number;
  /** META at the top of the tree (`<top>/META`); undefined when the tarball has none. */
  meta?: ZfsMeta;
}

export interface HashTarballOptions extends RetryOptions {
  /** Base URL instead of ZFS_SOURCE_URL. */
  baseUrl?: string;
  logger?: Logger;
}

/** META is a few hundred bytes; a huge one is not OpenZFS's. */
const MAX_META = 64 * 1024;

/**
 * Downloads the source tarball of a release and, in one pass without buffering the file,
 * computes its sha256 and reads its META. A 404, a download that breaks off, or a body
 * that is not a complete gzip tar archive throws (RemoteError/CheckError, exit 1).
 */
export async function hashTarball(
  zfsTag: string,
  options: HashTarballOptions = {},
): Promise<TarballHash> {
  const { baseUrl, logger = silentLogger, ...retry } = options;
  const url = zfsSourceUrl(zfsTag, baseUrl);
  logger.info(`Downloading ${url}`);
  // HTTP_TIMEOUT_MS bounds the wait for the headers and every pause in the body (an idle
  // timeout), so a large download is not cut off while bytes keep coming.
  const response = await fetchWithRetry(url, {}, retry);
  if (!response.ok) throw await remoteErrorOf(url, response);
  if (!response.body) throw new RemoteError(url, response.status, "Empty answer");

  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
    transform(chunk, controller) {
      hash.update(chunk);
      bytes += chunk.length;
      controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
    },
  });
  const unpacked = response.body.pipeThrough(hashing).pipeThrough(new DecompressionStream("gzip"));

  let meta: ZfsMeta | undefined;
  try {
    for await (const entry of tarEntries(unpacked)) {
      if (
        meta === undefined && entry.type === "file" && /^(?:[^/]+\/)?META$/.test(entry.name) &&
        entry.size <= MAX_META
      ) {
        meta = parseMeta(new TextDecoder().decode(await entry.read()));
      }
    }
    // The end-of-archive marker is not the end of the file: hash (and gunzip-check) the rest.
    const reader = unpacked.getReader();
    while (!(await reader.read()).done) {
      // only draining
    }
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if (error instanceof CheckError || /gzip|checksum|deflate/i.test(detail)) {
      throw new CheckError(`Not a complete gzip tar archive: ${url} (${detail})`);
    }
    throw new RemoteError(url, response.status, `Download failed (${detail})`);
  }
  const sha256 = hash.digest("hex");
  logger.info(`Downloaded ${(bytes / 1024 / 1024).toFixed(1)} MiB, sha256 ${sha256}`);
  return { url, sha256, bytes, meta };
}

/** How a downloaded tarball's sha256 compares with the one matrix.yaml pins for the release. */
export interface PinComparison {
  /** match: the same; differs: another sha256 pinned; unpinned: no sha256; absent: not listed. */
  pin: "match" | "differs" | "unpinned" | "absent";
  /** The sha256 matrix.yaml pins, when it pins one. */
  pinned?: string;
  /** One line for people. */
  line: string;
}

/** Compares a tarball's sha256 with matrix.yaml's entry (pure). */
export function comparePin(
  tag: string,
  sha256: string,
  entry: { sha256?: string } | undefined,
): PinComparison {
  if (entry === undefined) {
    return {
      pin: "absent",
      line: `${tag} is not in matrix.yaml: add it with \`deno task matrix add ${tag}\``,
    };
  }
  if (entry.sha256 === undefined) {
    return {
      pin: "unpinned",
      line: `matrix.yaml pins no sha256 for ${tag}: pin it with \`deno task matrix add ${tag}\``,
    };
  }
  return entry.sha256 === sha256
    ? { pin: "match", pinned: entry.sha256, line: `✓ the sha256 matrix.yaml pins for ${tag}` }
    : {
      pin: "differs",
      pinned: entry.sha256,
      line: `✗ matrix.yaml pins another sha256 for ${tag}: ${entry.sha256} (the download is ` +
        `${sha256}): a build of ${tag} refuses this tarball`,
    };
}
