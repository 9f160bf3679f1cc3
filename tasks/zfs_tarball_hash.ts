// Downloads the source tarball of a ZFS release (the one the build verifies), prints its sha256
// and compares it with the sha256 matrix.yaml pins for the release (exit 1 when they differ).
// deno task zfs-tarball-hash zfs-2.4.4 [--json]     (ZFS_SOURCE_URL overrides the base URL)
import { jsonOption, main, parseWith, stderrLogger, taskCommand } from "../lib/cli/cli.ts";
import { findRelease, loadMatrix } from "../lib/matrix/matrix.ts";
import { toZfsTag } from "../lib/core/patterns.ts";
import { render } from "../lib/cli/render.ts";

export const DESCRIPTION =
  "Download a ZFS source tarball, print its sha256 and compare it with the one matrix.yaml pins";

if (import.meta.main) {
  main(async () => {
    const command = taskCommand("zfs-tarball-hash", DESCRIPTION)
      .argument("<tag>", "ZFS release, e.g. zfs-2.4.4 or 2.4.4", parseWith(toZfsTag))
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" });
    const [tag] = command.processedArgs;
    const matrix = await loadMatrix();
    // Imported after parsing: --help and a bad tag start without the download code.
    const { comparePin, hashTarball } = await import("../lib/matrix/tarball.ts");
    const result = await hashTarball(tag, { logger: stderrLogger });
    const pin = comparePin(tag, result.sha256, findRelease(matrix, tag));
    const differs = pin.pin === "differs";
    render({
      values: {
        "zfs-tag": tag,
        url: result.url,
        sha256: result.sha256,
        bytes: result.bytes,
        "max-kernel": result.meta?.linuxMaximum ?? null,
        "min-kernel": result.meta?.linuxMinimum ?? null,
        pin: pin.pin,
        "pinned-sha256": pin.pinned ?? null,
      },
      // stdout is the sha256 alone (for scripts); the comparison goes to stderr
      lines: [result.sha256],
      notes: differs ? [] : [pin.line],
      errors: differs ? [{ message: pin.line.slice(2), title: "sha256 differs" }] : [],
    }, command.opts());
    return differs ? 1 : 0;
  });
}
