// matrix.yaml maintenance: add a ZFS release read from its own source tarball, editing the file
// through the yaml document API so every comment and layout of the rest survives; and the
// report of what matrix.yaml lacks compared with the releases on GitHub.
import { isMap, isScalar, isSeq, Pair, parseDocument, Scalar, type YAMLMap } from "yaml";
import { type Logger, silentLogger } from "../cli/cli.ts";
import { CheckError, InputError } from "../core/errors.ts";
import {
  type Matrix,
  matrixPath,
  openMatrixFile,
  readMatrixFile,
  trackedSeries,
} from "./matrix.ts";
import { parseMatrix } from "./matrix_schema.ts";
import {
  compareZfsTags,
  KERNEL_MAJOR_MINOR,
  seriesOfTag,
  ZFS_TAG,
  zfsVersionOf,
} from "../core/patterns.ts";
import { hashTarball, type HashTarballOptions } from "./tarball.ts";
import type { GithubRelease } from "./zfs_releases.ts";

/** A release entry as matrix.yaml spells it, keys in the order the file uses. */
export interface ReleaseEntry {
  tag: string;
  "max-kernel": string;
  "min-kernel"?: string;
  sha256?: string;
}

const KEY_ORDER = ["tag", "max-kernel", "min-kernel", "sha256"] as const;
type Key = typeof KEY_ORDER[number];
/** Kernel versions are quoted so YAML never reads "7.0" as the number 7. */
const QUOTED: readonly Key[] = ["max-kernel", "min-kernel"];

export interface Difference {
  key: string;
  old?: string;
  new?: string;
}

export interface EditResult {
  /**
   * added: a new entry; completed: missing keys filled in; replaced: different values
   * overwritten (force); unchanged: nothing to do; conflict: different values, not forced
   * (the text is returned unchanged).
   */
  change: "added" | "completed" | "replaced" | "unchanged" | "conflict";
  text: string;
  differences: Difference[];
}

function scalar(key: Key, value: string): Scalar {
  const node = new Scalar(value);
  if (QUOTED.includes(key)) node.type = Scalar.QUOTE_DOUBLE;
  return node;
}

function tagOf(item: unknown): string | undefined {
  if (!isMap(item)) return undefined;
  const tag = item.get("tag");
  return typeof tag === "string" ? tag : undefined;
}

/** Sets a key of a release map, keeping the node (and its quoting) of an existing value. */
function setKey(map: YAMLMap, key: Key, value: string): void {
  const existing = map.get(key, true);
  if (isScalar(existing)) {
    existing.value = value;
    return;
  }
  // A new key goes after the last present key that comes before it in KEY_ORDER.
  const rank = KEY_ORDER.indexOf(key);
  let at = 0;
  map.items.forEach((pair, index) => {
    const name = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const r = KEY_ORDER.indexOf(name as Key);
    if (r !== -1 && r < rank) at = index + 1;
  });
  map.items.splice(at, 0, pairOf(key, value));
}

function pairOf(key: Key, value: string): Pair<Scalar, Scalar> {
  return new Pair(new Scalar(key), scalar(key, value));
}

/**
 * Adds (or completes, or with `force` replaces) a release entry in matrix.yaml text. A new
 * entry goes in version order within its series; the rest of the file is kept byte for byte.
 * The result is validated with parseMatrix() before it is returned.
 */
export function addRelease(
  text: string,
  release: ReleaseEntry,
  options: { force?: boolean; file?: string } = {},
): EditResult {
  const file = options.file ?? "matrix.yaml";
  parseMatrix(text, file); // never edit a file that is already broken
  const doc = parseDocument(text);
  const releases = doc.getIn(["zfs", "releases"], true);
  if (!isSeq(releases)) throw new InputError(`Cannot parse ${file}: zfs.releases is not a list`);
  const wanted = KEY_ORDER.filter((key) => release[key] !== undefined);

  let change: EditResult["change"];
  const differences: Difference[] = [];
  const index = releases.items.findIndex((item) => tagOf(item) === release.tag);
  const existing = releases.items[index];
  if (isMap(existing)) {
    for (const key of wanted) {
      const old = existing.get(key);
      const value = release[key]!;
      if (old === undefined || old === null) differences.push({ key, new: value });
      else if (String(old) !== value) differences.push({ key, old: String(old), new: value });
    }
    const conflicting = differences.some((d) => d.old !== undefined);
    if (differences.length === 0) return { change: "unchanged", text, differences };
    if (conflicting && !options.force) return { change: "conflict", text, differences };
    for (const { key, new: value } of differences) setKey(existing, key as Key, value!);
    change = conflicting ? "replaced" : "completed";
  } else {
    // Before the first entry with a higher version; a series comment ("# 2.4") on that entry
    // stays above the series' first entry.
    let at = releases.items.findIndex((item) => {
      const tag = tagOf(item);
      return tag !== undefined && ZFS_TAG.test(tag) && compareZfsTags(tag, release.tag) > 0;
    });
    if (at === -1) at = releases.items.length;
    const map = doc.createNode({}) as YAMLMap;
    for (const key of wanted) map.items.push(pairOf(key, release[key]!));
    const next = releases.items[at];
    const nextTag = tagOf(next);
    if (isMap(next) && nextTag && seriesOfTag(nextTag) === seriesOfTag(release.tag)) {
      map.commentBefore = next.commentBefore;
      map.spaceBefore = next.spaceBefore;
      next.commentBefore = undefined;
      next.spaceBefore = undefined;
    }
    releases.items.splice(at, 0, map);
    for (const key of wanted) differences.push({ key, new: release[key] });
    change = "added";
  }
  const edited = doc.toString({ lineWidth: 0 });
  parseMatrix(edited, file);
  return { change, text: edited, differences };
}

/** "max-kernel: "7.2" → "7.3"" lines for a human. */
export function describeDifferences(differences: Difference[]): string[] {
  const show = (value: string | undefined) =>
    value === undefined ? "(none)" : JSON.stringify(value);
  return differences.map((d) => `${d.key}: ${show(d.old)} → ${show(d.new)}`);
}

/** The release entry that META and the download say, checked before it reaches the file. */
export function releaseFromSource(
  zfsTag: string,
  source: {
    url: string;
    sha256: string;
    meta?: { name?: string; version?: string; linuxMinimum?: string; linuxMaximum?: string };
  },
): ReleaseEntry {
  const { url, meta } = source;
  if (!meta) {
    throw new CheckError(`No META file at the top of ${url}: not an OpenZFS source tarball`);
  }
  const kernel = (field: "Linux-Maximum" | "Linux-Minimum", value: string | undefined) => {
    if (value !== undefined && !KERNEL_MAJOR_MINOR.test(value)) {
      throw new CheckError(
        `Malformed META in ${url}: ${field} is ${JSON.stringify(value)} (expected e.g. 6.17)`,
      );
    }
    return value;
  };
  if (meta.name !== "zfs") {
    throw new CheckError(
      `META in ${url} says Name ${JSON.stringify(meta.name ?? null)}, not "zfs": not OpenZFS`,
    );
  }
  if (meta.version === undefined) throw new CheckError(`META in ${url} has no Version`);
  const maxKernel = kernel("Linux-Maximum", meta.linuxMaximum);
  if (maxKernel === undefined) throw new CheckError(`META in ${url} has no Linux-Maximum`);
  const minKernel = kernel("Linux-Minimum", meta.linuxMinimum);
  if (meta.version !== zfsVersionOf(zfsTag)) {
    throw new CheckError(
      `META in ${url} says Version ${JSON.stringify(meta.version)}, not ${zfsVersionOf(zfsTag)}`,
    );
  }
  return {
    tag: zfsTag,
    "max-kernel": maxKernel,
    ...(minKernel === undefined ? {} : { "min-kernel": minKernel }),
    sha256: source.sha256,
  };
}

export interface AddOptions {
  /** matrix.yaml to edit (default MATRIX_FILE, else the repository's). */
  path?: string;
  /** A sha256 obtained elsewhere that the download must match. */
  expectedSha256?: string;
  force?: boolean;
  logger?: Logger;
  download?: HashTarballOptions;
}

export interface AddResult extends EditResult {
  entry: ReleaseEntry;
  url: string;
  bytes: number;
  path: string;
}

/**
 * Locks a file for a read-modify-write that replaces it by rename: waits for an exclusive
 * lock, then makes sure the path still names the locked file (another writer may have
 * renamed a new one into place meanwhile) and tries again if not.
 */
async function lockForUpdate(path: string): Promise<Deno.FsFile> {
  for (let attempt = 0;; attempt++) {
    const file = await openMatrixFile(path);
    try {
      await file.lock(true);
      const [held, current] = await Promise.all([file.stat(), Deno.stat(path)]);
      if (held.ino === current.ino && held.dev === current.dev) return file;
    } catch (error) {
      file.close();
      throw new CheckError(
        `Cannot lock ${path}: ${error instanceof Error ? error.message : error}`,
      );
    }
    file.close();
    if (attempt > 1000) throw new CheckError(`Cannot lock ${path}: it keeps being replaced`);
  }
}

/** The file a path names after following symlinks, so a symlinked matrix.yaml stays a symlink. */
async function realFile(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (error) {
    throw new InputError(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * `matrix add`: downloads and hashes the release's source tarball, reads META, and writes the
 * entry into matrix.yaml (atomically, under a lock, so concurrent runs all land; through a
 * symlink to its target, keeping the mode). Nothing is written when any check fails.
 */
export async function addReleaseFromSource(
  zfsTag: string,
  options: AddOptions = {},
): Promise<AddResult> {
  const path = options.path ?? matrixPath();
  const logger = options.logger ?? silentLogger;
  {
    using file = await openMatrixFile(path);
    parseMatrix(await readMatrixFile(file, path), path); // fail before a long download
  }
  const source = await hashTarball(zfsTag, { logger, ...options.download });
  if (options.expectedSha256 !== undefined && options.expectedSha256 !== source.sha256) {
    throw new CheckError(
      `sha256 mismatch for ${source.url}: downloaded ${source.sha256}, expected ${options.expectedSha256}; ${path} not changed`,
    );
  }
  const entry = releaseFromSource(zfsTag, source);
  const target = await realFile(path);
  // The lock covers reading the current text through the rename of the new one: a second
  // `matrix add` waits here and then edits the text that includes this run's entry.
  using file = await lockForUpdate(target);
  const text = await readMatrixFile(file, path);
  const result = addRelease(text, entry, { force: options.force, file: path });
  if (result.text !== text) {
    const mode = (await file.stat()).mode;
    // Write beside the file, then rename: a crash never leaves half a matrix.yaml.
    const temporary = `${target}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeTextFile(temporary, result.text, { createNew: true });
      if (mode !== null) await Deno.chmod(temporary, mode & 0o7777);
      await Deno.rename(temporary, target);
    } catch (error) {
      await Deno.remove(temporary).catch(() => {});
      throw new CheckError(
        `Cannot write ${path}: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
  return { ...result, entry, url: source.url, bytes: source.bytes, path };
}

export interface MatrixReport {
  series: string[];
  /** Published releases of the tracked series that matrix.yaml lacks, oldest first. */
  missing: string[];
  /** Entries of matrix.yaml without a pinned sha256, in file order. */
  unpinned: string[];
}

/** What matrix.yaml lacks, compared with the releases of openzfs/zfs on GitHub. */
export function matrixReport(matrix: Matrix, releases: GithubRelease[]): MatrixReport {
  const series = trackedSeries(matrix);
  const known = new Set(matrix.zfs.releases.map((r) => r.tag));
  const missing = releases
    .filter((r) => !r.draft && !r.prerelease && ZFS_TAG.test(r.tag_name))
    .map((r) => r.tag_name)
    .filter((tag) => series.includes(seriesOfTag(tag)) && !known.has(tag))
    .filter((tag, i, all) => all.indexOf(tag) === i)
    .sort(compareZfsTags);
  const unpinned = matrix.zfs.releases.filter((r) => !r.sha256).map((r) => r.tag);
  return { series, missing, unpinned };
}
