// Domain lib/matrix/ — which ZFS release supports which kernel: matrix.yaml (schema, load,
// cache, edit), compatibility verdicts, the published ZFS releases and their tarballs.
// May import: lib/core/, lib/cli/, lib/github/. See docs/architecture.md.
//
// matrix.yaml: where it is, reading it safely, loading it (validated once, then cached) and the
// look-ups other modules need (a release by tag, the default target, the target in use). The
// schema and the yaml/zod parser live in lib/matrix/matrix_schema.ts, imported only on a cache miss:
// together they are about half of a task's start-up time.
import type { Matrix, Release, Target } from "./matrix_schema.ts";
import { fileURLToPath } from "node:url";
import { InputError } from "../core/errors.ts";
import { userPath } from "../core/paths.ts";
import {
  type Arch,
  ARCHES,
  compareZfsTags,
  imageRefProblem,
  KERNEL_MAJOR_MINOR,
  RUNNER_LABEL,
  seriesOfTag,
  SHA256,
  STREAM_NAME,
  TARGET_NAME,
  ZFS_SERIES,
  ZFS_TAG,
} from "../core/patterns.ts";

export type { Matrix, Release, Target };

export const MATRIX_PATH = fileURLToPath(new URL("../../matrix.yaml", import.meta.url));

/** matrix.yaml is a few KiB; anything above this is not a matrix file (documented in docs/environment.md). */
export const MAX_MATRIX_BYTES = 1024 * 1024;

/** The matrix.yaml in use: $MATRIX_FILE (relative to $INIT_CWD) when set, else the repository's. */
export function matrixPath(): string {
  const file = Deno.env.get("MATRIX_FILE");
  return file ? userPath(file) : MATRIX_PATH;
}

/**
 * Reads matrix.yaml text from an open file: only a regular file (not /dev/zero, a FIFO or a
 * folder) of at most MAX_MATRIX_BYTES, so a bad MATRIX_FILE fails at once.
 */
export async function readMatrixFile(file: Deno.FsFile, path: string): Promise<string> {
  const info = await file.stat();
  if (!info.isFile) throw new InputError(`Cannot read ${path}: not a regular file`);
  if (info.size > MAX_MATRIX_BYTES) {
    throw new InputError(
      `Cannot read ${path}: ${info.size} bytes, more than the ${MAX_MATRIX_BYTES} a matrix file may have`,
    );
  }
  // Read at most one byte beyond the cap, in case the file grows after the stat.
  const buffer = new Uint8Array(MAX_MATRIX_BYTES + 1);
  let length = 0;
  while (length < buffer.length) {
    const read = await file.read(buffer.subarray(length));
    if (read === null) break;
    length += read;
  }
  if (length > MAX_MATRIX_BYTES) {
    throw new InputError(`Cannot read ${path}: more than ${MAX_MATRIX_BYTES} bytes`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
  } catch {
    throw new InputError(`Cannot read ${path}: not UTF-8 text`);
  }
}

/** Opens a path for reading; a missing or unreadable file is an InputError naming it. */
export async function openMatrixFile(path: string): Promise<Deno.FsFile> {
  try {
    // Never block on a FIFO or a device: stat first, open only a regular file.
    const info = await Deno.stat(path);
    if (!info.isFile) throw new InputError(`Cannot read ${path}: not a regular file`);
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * Where validated matrix files are cached: the project's own `.cache/` (gitignored), which the
 * tasks may write with `--allow-write=.cache` and nothing else (docs/startup.md).
 */
export const MATRIX_CACHE_DIR = fileURLToPath(new URL("../../.cache/", import.meta.url));

/**
 * Bump when validation changes outside the files below (none today); the lock file covers the
 * yaml and zod versions.
 */
export const MATRIX_CACHE_VERSION = 2;

/** Everything a parse depends on: the static import graph of matrix_schema.ts and the lock. */
export const MATRIX_CACHE_SOURCES: readonly URL[] = [
  "./matrix_schema.ts",
  "../core/patterns.ts",
  "../core/errors.ts",
  "../../deno.lock",
].map((path) => new URL(path, import.meta.url));
const CACHE_FILE = "matrix.json";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The cache key of a matrix text: sha256 of MATRIX_CACHE_VERSION, every source a parse depends
 * on and the text, so a change to any (a new rule, an edited file) is a miss. Undefined when a
 * source cannot be read.
 */
export async function matrixCacheKey(
  text: string,
  sources: readonly URL[] = MATRIX_CACHE_SOURCES,
): Promise<string | undefined> {
  try {
    const parts = await Promise.all(sources.map((source) => Deno.readTextFile(source)));
    return await sha256Hex([`v${MATRIX_CACHE_VERSION}`, ...parts, text].join("\0"));
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The problem with an object's keys (required ones missing, unknown ones), or undefined. */
function keysProblem(
  value: Record<string, unknown>,
  where: string,
  required: string[],
  optional: string[] = [],
): string | undefined {
  const missing = required.find((key) => !(key in value));
  if (missing) return `${where}.${missing} is missing`;
  const extra = Object.keys(value).find((key) =>
    !required.includes(key) && !optional.includes(key)
  );
  return extra === undefined ? undefined : `${where}.${extra} is not a known key`;
}

function matches(value: unknown, pattern: RegExp): boolean {
  return typeof value === "string" && pattern.test(value);
}

function releaseProblem(value: unknown, where: string): string | undefined {
  if (!isRecord(value)) return `${where} is not an object`;
  const keys = keysProblem(value, where, ["tag", "max-kernel"], ["min-kernel", "sha256"]);
  if (keys) return keys;
  if (!matches(value.tag, ZFS_TAG)) return `${where}.tag`;
  if (!matches(value["max-kernel"], KERNEL_MAJOR_MINOR)) return `${where}.max-kernel`;
  if ("min-kernel" in value && !matches(value["min-kernel"], KERNEL_MAJOR_MINOR)) {
    return `${where}.min-kernel`;
  }
  if ("sha256" in value && !matches(value.sha256, SHA256)) return `${where}.sha256`;
}

function targetProblem(value: unknown, where: string): string | undefined {
  if (!isRecord(value)) return `${where} is not an object`;
  const required = ["name", "image", "stream", "arch", "enabled"];
  const keys = keysProblem(value, where, [...required, "runner"], ["series"]);
  if (keys) return keys;
  if (!matches(value.name, TARGET_NAME)) return `${where}.name`;
  if (typeof value.image !== "string" || imageRefProblem(value.image)) return `${where}.image`;
  if (!matches(value.stream, STREAM_NAME)) return `${where}.stream`;
  if (!(ARCHES as readonly unknown[]).includes(value.arch)) return `${where}.arch`;
  if ("series" in value && !matches(value.series, ZFS_SERIES)) return `${where}.series`;
  if (typeof value.enabled !== "boolean") return `${where}.enabled`;
  if (!matches(value.runner, RUNNER_LABEL)) return `${where}.runner`;
}

function runnersProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "runners is not an object";
  const keys = keysProblem(value, "runners", [], [...ARCHES]);
  if (keys) return keys;
  const bad = Object.keys(value).find((arch) => !matches(value[arch], RUNNER_LABEL));
  if (bad) return `runners.${bad}`;
}

/**
 * What is wrong with a cached matrix, or undefined when it has the shape parseMatrix()
 * returns, by the same rules (keys, patterns, image references, no duplicate tag or target
 * name, a target enabled). Cheap: no yaml, no zod. A cache entry that fails it is dropped,
 * so an edited cache can neither crash a task nor hand it values matrix.yaml may not hold.
 */
export function matrixShapeProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "not an object";
  const top = keysProblem(value, "(top level)", ["zfs", "targets", "publish"], ["runners"]);
  if (top) return top;
  const runners = "runners" in value ? runnersProblem(value.runners) : undefined;
  if (runners) return runners;
  const { zfs, targets, publish } = value;
  if (!isRecord(zfs)) return "zfs is not an object";
  const zfsKeys = keysProblem(zfs, "zfs", ["series", "releases"]);
  if (zfsKeys) return zfsKeys;
  if (!matches(zfs.series, ZFS_SERIES)) return "zfs.series";
  if (!Array.isArray(zfs.releases) || zfs.releases.length === 0) return "zfs.releases";
  const tags = new Set<unknown>();
  for (const [i, release] of zfs.releases.entries()) {
    const problem = releaseProblem(release, `zfs.releases.${i}`);
    if (problem) return problem;
    if (tags.has(release.tag)) return `zfs.releases.${i}: duplicate tag`;
    tags.add(release.tag);
  }
  if (!Array.isArray(targets) || targets.length === 0) return "targets";
  const names = new Set<unknown>();
  for (const [i, target] of targets.entries()) {
    const problem = targetProblem(target, `targets.${i}`);
    if (problem) return problem;
    if (names.has(target.name)) return `targets.${i}: duplicate name`;
    names.add(target.name);
  }
  if (!targets.some((target) => target.enabled === true)) return "no target is enabled";
  if (!isRecord(publish)) return "publish is not an object";
  const publishKeys = keysProblem(publish, "publish", ["image", "cache"]);
  if (publishKeys) return publishKeys;
  for (const key of ["image", "cache"] as const) {
    const ref = publish[key];
    if (typeof ref !== "string" || imageRefProblem(ref)) return `publish.${key}`;
  }
}

/**
 * The cached matrix for a key, or undefined on any doubt: no file, not a regular file, too big,
 * another key, a body whose checksum does not match (torn or edited), JSON that does not parse,
 * a body that is not a valid matrix (matrixShapeProblem: edited with its checksum redone).
 */
async function readCache(dir: string, key: string): Promise<Matrix | undefined> {
  try {
    const path = `${dir}/${CACHE_FILE}`;
    // lstat, then read: never follow a link or block on a FIFO someone left there.
    const info = await Deno.lstat(path);
    if (!info.isFile || info.size > 4 * MAX_MATRIX_BYTES) return undefined;
    const text = await Deno.readTextFile(path);
    const [fileKey, checksum] = text.split("\n", 2);
    const body = text.slice((fileKey?.length ?? 0) + (checksum?.length ?? 0) + 2);
    if (fileKey !== key || checksum !== await sha256Hex(body)) return undefined;
    const matrix: unknown = JSON.parse(body);
    return matrixShapeProblem(matrix) === undefined ? matrix as Matrix : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the cache through a temporary file and a rename, so a reader never sees half a file. */
async function writeCache(dir: string, key: string, matrix: Matrix): Promise<void> {
  const body = JSON.stringify(matrix);
  const temporary = `${dir}/${CACHE_FILE}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(temporary, `${key}\n${await sha256Hex(body)}\n${body}`);
    await Deno.rename(temporary, `${dir}/${CACHE_FILE}`);
  } catch {
    // A cache that cannot be written (read-only checkout, no --allow-write) only costs time.
    await Deno.remove(temporary).catch(() => {});
  }
}

/**
 * Reads and validates matrix.yaml (MATRIX_PATH, or MATRIX_FILE): the file is always read with
 * every check (regular file, size cap, UTF-8); the parse is skipped only when `cacheDir` holds
 * the result for byte-identical text validated by the same schema. `null`: no cache.
 */
export async function loadMatrix(
  path = matrixPath(),
  cacheDir: string | null = MATRIX_CACHE_DIR,
): Promise<Matrix> {
  let text: string;
  {
    using file = await openMatrixFile(path);
    text = await readMatrixFile(file, path);
  }
  const key = cacheDir === null ? undefined : await matrixCacheKey(text);
  if (key !== undefined) {
    const cached = await readCache(cacheDir!, key);
    if (cached) return cached;
  }
  const { parseMatrix } = await import("./matrix_schema.ts");
  const matrix = parseMatrix(text, path);
  if (key !== undefined) await writeCache(cacheDir!, key, matrix);
  return matrix;
}

/** The release entry for a tag, if matrix.yaml knows it. */
export function findRelease(matrix: Matrix, tag: string): Release | undefined {
  return matrix.zfs.releases.find((r) => r.tag === tag);
}

/** The target used when no --image/--arch is given: the first enabled one. */
export function defaultTarget(matrix: Matrix): Target {
  return matrix.targets.find((t) => t.enabled)!;
}

/** The image, arch and ZFS series to use: options first, then the matching matrix target. */
export function resolveTarget(
  matrix: Matrix,
  options: { image?: string; arch?: Arch; series?: string },
): { image: string; arch: Arch; series: string; stream?: string } {
  const fallback = defaultTarget(matrix);
  const image = options.image ?? fallback.image;
  const arch = options.arch ?? (options.image ? "x86_64" : fallback.arch);
  const target: Target | undefined = matrix.targets.find((t) =>
    t.image === image && t.arch === arch
  );
  return {
    image,
    arch,
    series: options.series ?? target?.series ?? matrix.zfs.series,
    stream: target?.stream,
  };
}

/** One release of matrix.yaml as `matrix show` lists it (kebab-case keys, as in --json). */
export interface ReleaseRow {
  "zfs-tag": string;
  series: string;
  "min-kernel": string | null;
  "max-kernel": string;
  pinned: boolean;
  /** Whether its series is tracked (zfs.series, or the series of an enabled target). */
  tracked: boolean;
}

/** The series matrix.yaml tracks: zfs.series, then any series an enabled target overrides. */
export function trackedSeries(matrix: Matrix): string[] {
  return [
    ...new Set([
      matrix.zfs.series,
      ...matrix.targets.filter((t) => t.enabled).flatMap((t) => t.series ?? []),
    ]),
  ];
}

/** The tracked series and every release, oldest first. */
export function releaseOverview(matrix: Matrix): { series: string[]; releases: ReleaseRow[] } {
  const series = trackedSeries(matrix);
  const releases = [...matrix.zfs.releases]
    .sort((a, b) => compareZfsTags(a.tag, b.tag))
    .map((release) => {
      const releaseSeries = seriesOfTag(release.tag);
      return {
        "zfs-tag": release.tag,
        series: releaseSeries,
        "min-kernel": release["min-kernel"] ?? null,
        "max-kernel": release["max-kernel"],
        pinned: release.sha256 !== undefined,
        tracked: series.includes(releaseSeries),
      };
    });
  return { series, releases };
}
