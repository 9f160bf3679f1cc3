// matrix.yaml's one schema and its parser: every problem reported with its line. Loaded only
// when lib/matrix/matrix.ts has no cached result for the file (yaml and zod cost ~50 ms of start-up).
import { isNode, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { InputError } from "../core/errors.ts";
import {
  ARCHES,
  imageRefProblem,
  KERNEL_MAJOR_MINOR,
  RUNNER_LABEL,
  SHA256,
  STREAM_NAME,
  TARGET_NAME,
  ZFS_SERIES,
  ZFS_TAG,
} from "../core/patterns.ts";

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

/** The GitHub-hosted runner per arch when matrix.yaml names none (`runners`, a target's `runner`). */
export const DEFAULT_RUNNERS: Readonly<Record<typeof ARCHES[number], string>> = {
  x86_64: "ubuntu-24.04",
  aarch64: "ubuntu-24.04-arm",
};

// A runner label as GitHub spells them (ubuntu-24.04-arm, a larger runner's or a self-hosted
// label): it reaches `runs-on` through the plan, so nothing else gets through.
const runnerLabel = z.string().regex(
  RUNNER_LABEL,
  "is not a runner label such as ubuntu-24.04",
);

const targetSchema = z.strictObject({
  name: z.string().regex(TARGET_NAME, "is not a lower-case name"),
  image: imageRef,
  stream: z.string().regex(STREAM_NAME, "is not a stream name such as stable"),
  arch: z.enum(ARCHES),
  series: z.string().regex(ZFS_SERIES, 'is not a ZFS series such as "2.4"').optional(),
  runner: runnerLabel.optional(),
  enabled: z.boolean(),
});

const matrixSchema = z.strictObject({
  zfs: z.strictObject({
    series: z.string().regex(ZFS_SERIES, 'is not a ZFS series such as "2.4"'),
    releases: z.array(releaseSchema).min(1),
  }),
  runners: z.strictObject({ x86_64: runnerLabel.optional(), aarch64: runnerLabel.optional() })
    .optional(),
  targets: z.array(targetSchema).min(1),
  publish: z.strictObject({ image: imageRef, cache: imageRef }),
}).transform((matrix) => ({
  ...matrix,
  // Every target leaves the parse with its runner: its own, else its arch's, else the default.
  targets: matrix.targets.map((target) => ({
    ...target,
    runner: target.runner ?? matrix.runners?.[target.arch] ?? DEFAULT_RUNNERS[target.arch],
  })),
}));

export type Matrix = z.infer<typeof matrixSchema>;
export type Release = z.infer<typeof releaseSchema>;
export type Target = Matrix["targets"][number];

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
