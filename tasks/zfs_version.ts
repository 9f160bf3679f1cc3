// Prints the newest published ZFS release tag of the tracked series (e.g. zfs-2.4.4).
// deno task zfs-version [--series 2.4] [--json]
import { main, parseWith, printJson, taskCommand } from "../lib/cli.ts";
import { InputError } from "../lib/errors.ts";
import { resolveTarget } from "../lib/discover.ts";
import { loadMatrix } from "../lib/matrix.ts";
import { ZFS_SERIES } from "../lib/patterns.ts";
import { newestZfsRelease } from "../lib/zfs_releases.ts";

/** Validates a ZFS series such as 2.4. */
export function zfsSeries(value: string): string {
  if (!ZFS_SERIES.test(value)) {
    throw new InputError(`Invalid ZFS series: ${JSON.stringify(value)} (expected e.g. 2.4)`);
  }
  return value;
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand("zfs-version", "Print the newest ZFS release tag of the series")
      .option(
        "--series <series>",
        "ZFS series, e.g. 2.4 (default: matrix.yaml)",
        parseWith(zfsSeries),
      )
      .option("--json", 'print {"zfs-tag": …, "zfs-version": …} as JSON')
      .parse(Deno.args, { from: "user" }).opts();
    const { series } = resolveTarget(await loadMatrix(), options);
    const tag = await newestZfsRelease(series);
    if (options.json) printJson({ "zfs-tag": tag, "zfs-version": tag.slice("zfs-".length) });
    else console.log(tag);
  });
}
