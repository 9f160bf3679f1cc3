// Prints the kernel version of the target image (label, Fedora CoreOS build metadata, or modules).
// deno task kernel-version [--image REF] [--arch x86_64|aarch64] [--json]
import { archOption, imageOption, main, stderrLogger, taskCommand } from "../lib/cli.ts";
import type { ImageVersions } from "../lib/discover.ts";
import { loadMatrix } from "../lib/matrix.ts";
import { render } from "../lib/render.ts";

/** A task that discovers the target image and prints one value of it (shared by three tasks). */
export function imageValueTask(
  name: string,
  description: string,
  key: string,
  pick: (v: ImageVersions) => string,
): () => Promise<number> {
  return async () => {
    const options = taskCommand(name, description)
      .addOption(imageOption())
      .addOption(archOption())
      .option("--json", `print {"${key}": …, "kernel-source": …} as JSON`)
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();
    // Imported after parsing: --help and a bad flag start without the registry client.
    const { discoverImage } = await import("../lib/discover.ts");
    const found = await discoverImage({ matrix, ...options, logger: stderrLogger });
    const value = pick(found);
    render(
      { values: { [key]: value, "kernel-source": found.kernelSource }, lines: [value] },
      options,
    );
    return 0;
  };
}

if (import.meta.main) {
  main(imageValueTask(
    "kernel-version",
    "Print the kernel version of the target image",
    "kernel-version",
    (v) => v.kernelVersion,
  ));
}
