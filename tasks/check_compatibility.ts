// Checks that a ZFS release supports a kernel: exit 0 compatible, 1 not (or unknown release).
// deno task check-compatibility [--zfs zfs-2.4.2] [--kernel 6.18] [--image REF --arch A --series 2.4] [--json]
// Without --zfs the release is the one `versions` and `build` choose (chooseZfsRelease).
import {
  archOption,
  imageOption,
  jsonOption,
  main,
  parseWith,
  seriesOption,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli/cli.ts";
import { checkCompatibility, type Compatibility } from "../lib/matrix/compat.ts";
import { loadMatrix, resolveTarget } from "../lib/matrix/matrix.ts";
import { kernelMajorMinor } from "../lib/core/patterns.ts";
import { render, type TaskResult } from "../lib/cli/render.ts";
// lib/coreos/discover.ts and lib/matrix/zfs_releases.ts are imported only when --kernel or --zfs
// is missing: `--help` and a local check start without them (docs/startup.md).

/** Accepts a full kernel version or a major.minor, unchanged. */
function kernelArg(value: string): string {
  kernelMajorMinor(value);
  return value;
}

/** The verdict: the message on stdout when compatible, else as the error (exit 1). */
export function compatibilityResult(result: Compatibility): TaskResult {
  return {
    values: {
      "zfs-tag": result.zfsTag,
      "kernel-major-minor": result.kernelMajorMinor,
      "max-kernel": result.maxKernel ?? "",
      known: result.known,
      compatible: result.compatible,
      "newest-supporting": result.newestSupporting ?? "",
      verdict: result.verdict,
      message: result.message,
    },
    // The verdict leads stdout either way; when it is ✗ the reason is the error on stderr.
    lines: [result.verdict],
    errors: result.compatible ? [] : [{ message: result.message, title: "Kernel not supported" }],
  };
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "check-compatibility",
      "Check that a ZFS release supports a kernel (discovered, or given with --zfs/--kernel)",
    )
      .addOption(
        zfsOption("ZFS release, e.g. zfs-2.4.2 or 2.4.2 (default: the one `build` would use)"),
      )
      .option(
        "--kernel <version>",
        "kernel, e.g. 6.18 or 6.17.7-300.fc43.x86_64 (default: the target image's)",
        parseWith(kernelArg),
      )
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(seriesOption())
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();
    const { series } = resolveTarget(matrix, options);
    // Only what was not given is looked up, in parallel.
    const releases = options.zfs ? undefined : await import("../lib/matrix/zfs_releases.ts");
    const [published, kernel] = await Promise.all([
      releases?.publishedZfsReleases(series),
      options.kernel ??
        import("../lib/coreos/discover.ts").then(({ discoverImage }) =>
          discoverImage({ matrix, ...options, logger: stderrLogger })
        ).then((v) => v.kernelVersion),
    ]);
    // The same choice as versions and build: the newest pinned release that supports the kernel.
    const choice = releases?.chooseZfsRelease(matrix, { series, published, kernel });
    const result = checkCompatibility(matrix, options.zfs ?? choice!.zfsTag, kernel);
    const verdict = compatibilityResult(result);
    verdict.warnings = choice?.warnings.map((message) => ({
      message,
      title: "ZFS release not pinned",
    }));
    render(verdict, { json: options.json });
    return result.compatible ? 0 : 1;
  });
}
