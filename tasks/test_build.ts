// Builds the ZFS RPM image exactly like `build`, then removes it: proves the build still works.
// deno task test-build [--image REF] [--arch A] [--zfs TAG] [--dry-run]
import { buildCommand, executeBuild, planLines, prepareBuild } from "../lib/build/build_run.ts";
import { main, stderrLogger } from "../lib/cli/cli.ts";

if (import.meta.main) {
  main(async () => {
    const options = buildCommand("test-build", "Build the ZFS RPM image, then remove it")
      .parse(Deno.args, { from: "user" }).opts();
    const { versions, plan } = await prepareBuild(options, stderrLogger);
    if (options.dryRun) {
      for (const line of planLines(versions, plan)) console.log(line);
      return 0;
    }
    await executeBuild(plan, stderrLogger);
    const { removeImage } = await import("../lib/build/podman.ts");
    await removeImage(plan.image);
    stderrLogger.info(`Removed ${plan.image}`);
    return 0;
  });
}
