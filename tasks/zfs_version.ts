// Prints the ZFS release a build would use for the target image (versions' zfs-tag: the newest
// pinned release of the series that supports the image's kernel); --latest the newest published.
// deno task zfs-version [--image REF] [--arch A] [--series 2.4] [--latest] [--json]
import {
  archOption,
  imageOption,
  jsonOption,
  main,
  seriesOption,
  stderrLogger,
  taskCommand,
} from "../lib/cli/cli.ts";
import { loadMatrix, resolveTarget } from "../lib/matrix/matrix.ts";
import { zfsVersionOf } from "../lib/core/patterns.ts";
import { render } from "../lib/cli/render.ts";

export const DESCRIPTION =
  "Print the ZFS release a build would use for the target image (--latest: the newest published)";

if (import.meta.main) {
  main(async () => {
    const options = taskCommand("zfs-version", DESCRIPTION)
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(seriesOption())
      .option("--latest", "the newest published release of the series instead (no image read)")
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();
    const { series } = resolveTarget(matrix, options);
    // Imported after parsing, so --help and a bad flag start without the GitHub client.
    const releases = await import("../lib/matrix/zfs_releases.ts");
    if (options.latest) {
      const tag = await releases.newestZfsRelease(series);
      render(
        { values: { "zfs-tag": tag, "zfs-version": zfsVersionOf(tag) }, lines: [tag] },
        options,
      );
      return 0;
    }
    // The same choice as versions, check-compatibility and build.
    // GitHub first, then the image: a failure is reported the same way every time.
    const published = await releases.publishedZfsReleases(series);
    const { discoverImage } = await import("../lib/coreos/discover.ts");
    const { kernelVersion: kernel } = await discoverImage({
      matrix,
      ...options,
      logger: stderrLogger,
    });
    const choice = releases.chooseZfsRelease(matrix, { series, published, kernel });
    render({
      values: { "zfs-tag": choice.zfsTag, "zfs-version": zfsVersionOf(choice.zfsTag) },
      lines: [choice.zfsTag],
      warnings: [
        ...choice.warnings.map((message) => ({ message, title: "ZFS release not pinned" })),
        ...(choice.compatible ? [] : [{ message: choice.message, title: "Kernel not supported" }]),
      ],
    }, options);
    return 0;
  });
}
