// Prints the newest published ZFS release tag of the tracked series (e.g. zfs-2.4.4).
// deno task zfs-version [--series 2.4] [--json]
import { main, seriesOption, taskCommand } from "../lib/cli.ts";
import { loadMatrix, resolveTarget } from "../lib/matrix.ts";
import { zfsVersionOf } from "../lib/patterns.ts";
import { render } from "../lib/render.ts";

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "zfs-version",
      "Print the newest ZFS release tag of the tracked series (e.g. zfs-2.4.4)",
    )
      .addOption(seriesOption())
      .option("--json", 'print {"zfs-tag": …, "zfs-version": …} as JSON')
      .parse(Deno.args, { from: "user" }).opts();
    const { series } = resolveTarget(await loadMatrix(), options);
    // Imported after parsing, so --help and a bad flag start without the GitHub client.
    const { newestZfsRelease } = await import("../lib/zfs_releases.ts");
    const tag = await newestZfsRelease(series);
    render({ values: { "zfs-tag": tag, "zfs-version": zfsVersionOf(tag) }, lines: [tag] }, options);
  });
}
