// matrix.yaml: the one schema, loading with line numbers in every error, and the
// look-ups other modules need (a release by tag, the default target).
import { isNode, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { InputError } from "./errors.ts";
import { userPath } from "./paths.ts";
import {
  ARCHES,
  imageRefProblem,
  KERNEL_MAJOR_MINOR,
  SHA256,
  ZFS_SERIES,
  ZFS_TAG,
} from "./patterns.ts";

export const MATRIX_PATH = new URL("../matrix.yaml", import.meta.url).pathname;

const majorMinor = z.string().regex(
  KERNEL_MAJOR_MINOR,
  'is not a kernel major.minor such as "6.17"',
);
const imageRef = z.string().superRefine((value, context) => {
  const problem = imageRefProblem(value);
  if (problem) {
    context.addIssue({ code: "custom", message: `is not an image reference: ${problem}` });
  }
});

const releaseSchema = z.strictObject({
  tag: z.string().regex(ZFS_TAG, "is not a ZFS release tag such as zfs-2.4.2"),
  "max-kernel": majorMinor,
  "min-kernel": majorMinor.optional(),
  sha256: z.string().regex(SHA256, "is not 64 lower-case hex digits").optional(),
});

const targetSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "is not a lower-case name"),
  image: imageRef,
  stream: z.string().regex(/^[a-z0-9-]+$/, "is not a stream name such as stable"),
  arch: z.enum(ARCHES),
  series: z.string().regex(ZFS_SERIES, 'is not a ZFS series such as "2.4"').optional(),
  enabled: z.boolean(),
});

const matrixSchema = z.strictObject({
  zfs: z.strictObject({
    series: z.string().regex(ZFS_SERIES, 'is not a ZFS series such as "2.4"'),
    releases: z.array(releaseSchema).min(1),
  }),
  targets: z.array(targetSchema).min(1),
  publish: z.strictObject({ image: imageRef, cache: imageRef }),
});

export type Matrix = z.infer<typeof matrixSchema>;
export type Release = z.infer<typeof releaseSchema>;
export type Target = z.infer<typeof targetSchema>;

/** Parses and validates matrix.yaml text; every problem is reported with its line. */
export function parseMatrix(text: string, file = "matrix.yaml"): Matrix {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? "" : `:${lineCounter.linePos(offset).line}`;
  const problems: string[] = doc.errors.map((e) =>
    `${file}${lineOf(e.pos[0])}: ${e.message.split("\n")[0]}`
  );
  let data: unknown;
  if (problems.length === 0) {
    try {
      // maxAliasCount bounds what aliases expand to: a "billion laughs" file is a parse error.
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      problems.push(`${file}: ${error instanceof Error ? error.message : error}`);
    }
  }
  if (problems.length === 0) {
    const result = matrixSchema.safeParse(data);
    if (!result.success) {
      for (const issue of result.error.issues) {
        // Point at the deepest node that exists on the path.
        let path = issue.path as (string | number)[];
        let node = doc.getIn(path, true);
        while (!isNode(node) && path.length > 0) {
          path = path.slice(0, -1);
          node = path.length ? doc.getIn(path, true) : doc.contents;
        }
        const where = isNode(node) ? lineOf(node.range?.[0]) : "";
        const key = issue.path.map(String).join(".") || "(top level)";
        const missing = issue.code === "invalid_type" && /received undefined/.test(issue.message);
        problems.push(
          `${file}${where}: ${JSON.stringify(key)} ${missing ? "is missing" : issue.message}`,
        );
      }
    } else {
      const seen = new Map<string, number>();
      result.data.zfs.releases.forEach((release, index) => {
        const node = doc.getIn(["zfs", "releases", index], true);
        const where = isNode(node) ? lineOf(node.range?.[0]) : "";
        if (seen.has(release.tag)) {
          problems.push(
            `${file}${where}: duplicate release ${release.tag} (first at line ${
              seen.get(release.tag)
            })`,
          );
        } else {
          seen.set(release.tag, Number(where.slice(1)));
        }
      });
      const names = new Set<string>();
      for (const target of result.data.targets) {
        if (names.has(target.name)) problems.push(`${file}: duplicate target ${target.name}`);
        names.add(target.name);
      }
      if (!result.data.targets.some((t) => t.enabled)) {
        problems.push(`${file}: no target is enabled`);
      }
      if (problems.length === 0) return result.data;
    }
  }
  throw new InputError(`Cannot parse ${problems.join("; ")}`);
}

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
export async function openMatrixFile(path: string, write = false): Promise<Deno.FsFile> {
  try {
    // Never block on a FIFO or a device: stat first, open only a regular file.
    const info = await Deno.stat(path);
    if (!info.isFile) throw new InputError(`Cannot read ${path}: not a regular file`);
    return await Deno.open(path, { read: true, write });
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
}

/** Reads and validates matrix.yaml (MATRIX_PATH, or MATRIX_FILE for tests). */
export async function loadMatrix(path = matrixPath()): Promise<Matrix> {
  using file = await openMatrixFile(path);
  return parseMatrix(await readMatrixFile(file, path), path);
}

/** The release entry for a tag, if matrix.yaml knows it. */
export function findRelease(matrix: Matrix, tag: string): Release | undefined {
  return matrix.zfs.releases.find((r) => r.tag === tag);
}

/** The target used when no --image/--arch is given: the first enabled one. */
export function defaultTarget(matrix: Matrix): Target {
  return matrix.targets.find((t) => t.enabled)!;
}
