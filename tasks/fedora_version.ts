// Prints the Fedora version of the target image (first field of org.opencontainers.image.version).
// deno task fedora-version [--image REF] [--arch x86_64|aarch64] [--json]
import { main } from "../lib/cli/cli.ts";
import { imageValueTask } from "../lib/coreos/image_value_task.ts";

if (import.meta.main) {
  main(imageValueTask(
    "fedora-version",
    "Print the Fedora version of the target image",
    "fedora-version",
    (v) => v.fedoraVersion,
  ));
}
