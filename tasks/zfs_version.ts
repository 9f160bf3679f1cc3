// Prints the newest published ZFS release tag of the tracked series (e.g. zfs-2.4.4).
// deno task zfs-version [--series 2.4] [--json]
import { main, printJson, seriesOption, taskCommand } from "../lib/cli.ts";
import { resolveTarget } from "../lib/discover.ts";
import { loadMatrix } from "../lib/matrix.ts";
import { zfsVersionOf } from "../lib/patterns.ts";
import { newestZfsRelease } from "../lib/zfs_releases.ts";

if (import.meta.main) {
  main(async () => {
    const options = taskCommand("zfs-version", "Print the newest ZFS release tag of the series")
      .addOption(seriesOption())
      .option("--json", 'print {"zfs-tag": …, "zfs-version": …} as JSON')
      .parse(Deno.args, { from: "user" }).opts();
    const { series } = resolveTarget(await loadMatrix(), options);
    const tag = await newestZfsRelease(series);
    if (options.json) printJson({ "zfs-tag": tag, "zfs-version": zfsVersionOf(tag) });
    else console.log(tag);
  });
}
