// Prints the kernel major.minor of the target image (e.g. 6.17).
// deno task kernel-major-minor [--image REF] [--arch x86_64|aarch64] [--json]
import { main } from "../lib/cli/cli.ts";
import { imageValueTask } from "../lib/coreos/image_value_task.ts";

if (import.meta.main) {
  main(imageValueTask(
    "kernel-major-minor",
    "Print the kernel major.minor of the target image",
    "kernel-major-minor",
    (v) => v.kernelMajorMinor,
  ));
}
