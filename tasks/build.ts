// Builds the ZFS RPM image for the target image's kernel with podman: discover, check, build.
// deno task build [--image REF] [--arch A] [--zfs TAG] [--tag TAG] [--dry-run] [--push] [--github-output]
import { buildCommand, executeBuild, planLines, prepareBuild } from "../lib/build_run.ts";
import {
  assertOutputsWritable,
  main,
  markdownTable,
  stderrLogger,
  writeGithubOutput,
  writeStepSummary,
} from "../lib/cli.ts";
// Discovery (registry, CoreOS, GitHub), podman, progress and the tarball module are imported
// where they are used, after the arguments are parsed: --help starts without them.

export const OUTPUTS = ["image-tag", "image", "digest"] as const;

if (import.meta.main) {
  main(async () => {
    const command = buildCommand(
      "build",
      "Build the ZFS RPM image for the target kernel with podman",
    )
      .option("--push", "push the image (to matrix.yaml publish.image, or the --tag's repository)")
      .option("--github-output", "write image-tag, image and digest to $GITHUB_OUTPUT");
    const options = command.parse(Deno.args, { from: "user" }).opts();
    if (options.githubOutput) assertOutputsWritable();
    const { versions, plan } = await prepareBuild(options, stderrLogger);
    if (options.dryRun) {
      for (const line of planLines(versions, plan)) console.log(line);
      return 0;
    }
    await executeBuild(plan, stderrLogger, { stepSummary: options.githubOutput });
    let digest = "";
    if (options.push) {
      const { pushImage } = await import("../lib/podman.ts");
      digest = await pushImage(plan.image);
      stderrLogger.info(`Pushed ${plan.image}@${digest}`);
    }
    console.log(plan.image);
    if (options.githubOutput) {
      writeGithubOutput({ "image-tag": plan.imageTag, image: plan.image, digest });
      writeStepSummary(
        markdownTable(["image", "digest"], [[plan.image, digest || "(not pushed)"]]),
      );
    }
    return 0;
  });
}
