// Tags each Fedora CoreOS release of the nightly plan: pushes `fcos-<release>`, an image index
// listing the kmods image of each arch built for that release (one arch: an index of one).
// deno task tag-release --plan <file> [--dry-run] [--github-output] [--json]
//
// The build workflow runs it after the arch builds, with the plan job's all-targets:
//   echo "$ALL_TARGETS" > plan.json && deno task tag-release --plan plan.json --github-output
import {
  assertOutputsWritable,
  jsonOption,
  main,
  stderrLogger,
  taskCommand,
} from "../lib/cli/cli.ts";
import { readUserFile } from "../lib/core/paths.ts";
import { loadMatrix } from "../lib/matrix/matrix.ts";
import { render, type TaskResult } from "../lib/cli/render.ts";
import { groupByRelease, parsePlan } from "../lib/coreos/release_tag.ts";
import type { ReleaseOutcome } from "../lib/build/release_push.ts";

export const OUTPUTS = ["tags", "digests"] as const;

export const DESCRIPTION =
  "Push the fcos-<release> image index of each Fedora CoreOS release in a plan (one kmods image per arch)";

/** A plan file is a few KiB; more is not a plan. */
const MAX_PLAN_BYTES = 1024 * 1024;

/** The result: one row a release; the indexes now in the registry as tags and digests. */
export function tagReleaseResult(publishImage: string, outcomes: ReleaseOutcome[]): TaskResult {
  const present = outcomes.filter((o) => o.digest !== undefined);
  return {
    values: {
      tags: present.map((o) => o.tag),
      digests: present.map((o) => o.digest!),
      image: publishImage,
      releases: outcomes.map((o) => ({
        tag: o.tag,
        status: o.status,
        digest: o.digest ?? null,
        images: o.images.map((i) => ({
          arch: i.arch,
          "image-tag": i.imageTag,
          digest: i.digest ?? null,
        })),
      })),
    },
    outputs: OUTPUTS,
    lines: outcomes.length === 0 ? ["no Fedora CoreOS release in the plan: nothing to tag"] : [],
    table: {
      header: ["tag", "status", "digest", "images"],
      rows: outcomes.map((o) => [
        o.tag,
        o.status,
        o.digest ?? "",
        o.images.map((i) => `${i.arch} ${i.imageTag}`).join(", "),
      ]),
    },
  };
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand("tag-release", DESCRIPTION)
      .requiredOption(
        "--plan <file>",
        "JSON array of targets (versions --all-targets: all-targets)",
      )
      .option("--dry-run", "resolve the images and say what would be pushed, push nothing")
      .addOption(jsonOption())
      .option("--github-output", "write tags and digests to $GITHUB_OUTPUT, and a step summary")
      .parse(Deno.args, { from: "user" }).opts();
    if (options.githubOutput) assertOutputsWritable();
    // A hostile plan stops here, before the registry is asked anything.
    const groups = groupByRelease(
      parsePlan(await readUserFile(options.plan, "the plan", MAX_PLAN_BYTES)),
    );
    const matrix = await loadMatrix();
    // Imported after parsing: --help and a bad plan start without the registry client.
    const { publishRelease } = await import("../lib/build/release_push.ts");
    const outcomes: ReleaseOutcome[] = [];
    for (const group of groups) {
      outcomes.push(
        await publishRelease(matrix.publish.image, group, {
          dryRun: options.dryRun,
          logger: stderrLogger,
        }),
      );
    }
    render(tagReleaseResult(matrix.publish.image, outcomes), options);
    return 0;
  });
}
