// Downloads the source tarball of a ZFS release (the one the build verifies) and prints its sha256.
// deno task zfs-tarball-hash zfs-2.4.4 [--json]     (ZFS_SOURCE_URL overrides the base URL)
import { main, parseWith, stderrLogger, taskCommand } from "../lib/cli.ts";
import { toZfsTag } from "../lib/patterns.ts";
import { render } from "../lib/render.ts";

if (import.meta.main) {
  main(async () => {
    const command = taskCommand(
      "zfs-tarball-hash",
      "Download a ZFS source tarball and print its sha256",
    )
      .argument("<tag>", "ZFS release, e.g. zfs-2.4.4 or 2.4.4", parseWith(toZfsTag))
      .option("--json", "print tag, url, sha256, bytes and the META kernel range as JSON")
      .parse(Deno.args, { from: "user" });
    const [tag] = command.processedArgs;
    // Imported after parsing: --help and a bad tag start without the download code.
    const { hashTarball } = await import("../lib/tarball.ts");
    const result = await hashTarball(tag, { logger: stderrLogger });
    render({
      values: {
        "zfs-tag": tag,
        url: result.url,
        sha256: result.sha256,
        bytes: result.bytes,
        "max-kernel": result.meta?.linuxMaximum ?? null,
        "min-kernel": result.meta?.linuxMinimum ?? null,
      },
      lines: [result.sha256],
    }, command.opts());
  });
}
