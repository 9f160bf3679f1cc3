// Builds the ZFS RPM image for the target image's kernel with podman: discover, check, build.
// deno task build [--image REF] [--arch A] [--zfs TAG] [--tag TAG] [--dry-run] [--push] [--github-output]
import {
  buildCommand,
  buildResult,
  executeBuild,
  planLines,
  planValues,
  prepareBuild,
} from "../lib/build/build_run.ts";
import {
  assertOutputsWritable,
  jsonOption,
  main,
  printJson,
  stderrLogger,
} from "../lib/cli/cli.ts";
import { render } from "../lib/cli/render.ts";
// Discovery (registry, CoreOS, GitHub), podman, progress and the tarball module are imported
// where they are used, after the arguments are parsed: --help starts without them.

export { BUILD_OUTPUTS as OUTPUTS } from "../lib/build/build_run.ts";

if (import.meta.main) {
  main(async () => {
    const command = buildCommand(
      "build",
      "Build the ZFS RPM image for the target kernel with podman",
    )
      .option("--push", "push the image (to matrix.yaml publish.image, or the --tag's repository)")
      .addOption(jsonOption())
      .option(
        "--github-output",
        "write the values to $GITHUB_OUTPUT and a step summary to $GITHUB_STEP_SUMMARY",
      );
    const options = command.parse(Deno.args, { from: "user" }).opts();
    if (options.githubOutput) assertOutputsWritable();
    const { versions, plan } = await prepareBuild(options, stderrLogger);
    if (options.dryRun) {
      if (options.json) printJson(planValues(versions, plan));
      else for (const line of planLines(versions, plan)) console.log(line);
      return 0;
    }
    await executeBuild(plan, stderrLogger, { stepSummary: options.githubOutput });
    let digest = "";
    if (options.push) {
      const { pushImage } = await import("../lib/build/podman.ts");
      // the digest is an output only once the registry confirms it for the tag
      digest = await pushImage(plan.image, {
        onRetry: (line) => stderrLogger.warn(line, "push retry"),
      });
      stderrLogger.info(`Pushed ${plan.image}@${digest} (confirmed by the registry)`);
    }
    render(buildResult(plan, digest), {
      json: options.json,
      githubOutput: options.githubOutput,
    });
    return 0;
  });
}
