// Runs a podman build through runBuild() with terminal progress on stderr, for the Ctrl-C test
// in tests/progress_test.ts: deno run -A tests/helpers/interruptible_build.ts <context> <log>
import { BuildProgress } from "../../lib/progress.ts";
import { runBuild } from "../../lib/podman.ts";

const [context, logFile] = Deno.args;
const encoder = new TextEncoder();
const progress = new BuildProgress("tty", (t) => Deno.stderr.writeSync(encoder.encode(t)));
const result = await runBuild(
  ["build", "--isolation", "chroot", "--layers=false", context!],
  logFile!,
  progress,
);
console.log(JSON.stringify({ interrupted: result.interrupted, success: result.success }));
