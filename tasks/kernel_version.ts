// Prints the kernel version of the target image (label, Fedora CoreOS build metadata, or modules).
// deno task kernel-version [--image REF] [--arch x86_64|aarch64] [--json]
import { main } from "../lib/cli/cli.ts";
import { imageValueTask } from "../lib/coreos/image_value_task.ts";

if (import.meta.main) {
  main(imageValueTask(
    "kernel-version",
    "Print the kernel version of the target image",
    "kernel-version",
    (v) => v.kernelVersion,
  ));
}
