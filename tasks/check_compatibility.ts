// Checks that a ZFS release supports a kernel: exit 0 compatible, 1 not (or unknown release).
// deno task check-compatibility [--zfs zfs-2.4.2] [--kernel 6.18] [--image REF --arch A --series 2.4] [--json]
import {
  archOption,
  imageOption,
  main,
  parseWith,
  printJson,
  seriesOption,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli.ts";
import { checkCompatibility } from "../lib/compat.ts";
import { discoverImage, resolveTarget } from "../lib/discover.ts";
import { loadMatrix } from "../lib/matrix.ts";
import { kernelMajorMinor } from "../lib/patterns.ts";
import { newestZfsRelease } from "../lib/zfs_releases.ts";

/** Accepts a full kernel version or a major.minor, unchanged. */
function kernelArg(value: string): string {
  kernelMajorMinor(value);
  return value;
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "check-compatibility",
      "Check that a ZFS release supports a kernel (discovered, or given with --zfs/--kernel)",
    )
      .addOption(zfsOption())
      .option(
        "--kernel <version>",
        "kernel, e.g. 6.18 or 6.17.7-300.fc43.x86_64 (default: the image's)",
        parseWith(kernelArg),
      )
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(seriesOption())
      .option("--json", "print the verdict as JSON")
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();
    const { series } = resolveTarget(matrix, options);
    // Only what was not given is looked up, in parallel.
    const [zfsTag, kernel] = await Promise.all([
      options.zfs ?? newestZfsRelease(series),
      options.kernel ??
        discoverImage({ matrix, ...options, logger: stderrLogger }).then((v) => v.kernelVersion),
    ]);
    const result = checkCompatibility(matrix, zfsTag, kernel);
    if (options.json) {
      printJson({
        "zfs-tag": result.zfsTag,
        "kernel-major-minor": result.kernelMajorMinor,
        "max-kernel": result.maxKernel ?? "",
        known: result.known,
        compatible: result.compatible,
        "newest-supporting": result.newestSupporting ?? "",
        message: result.message,
      });
    } else if (result.compatible) {
      console.log(result.message);
    } else {
      console.error(`error: ${result.message}`);
    }
    return result.compatible ? 0 : 1;
  });
}
