// The body of the tasks that discover the target image and print one value of it
// (kernel-version, kernel-major-minor, fedora-version). Discovery is imported after the
// arguments are parsed: --help and a bad flag start without the registry client.
import { archOption, imageOption, jsonOption, stderrLogger, taskCommand } from "../cli/cli.ts";
import type { ImageVersions } from "./discover.ts";
import { loadMatrix } from "../matrix/matrix.ts";
import { render, type TaskResult } from "../cli/render.ts";

/** The result of a one-value task: the value alone on stdout, `{"<key>": value}` as JSON. */
export function imageValueResult(key: string, value: string): TaskResult {
  return { values: { [key]: value }, lines: [value] };
}

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
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();
    const { discoverImage } = await import("./discover.ts");
    const found = await discoverImage({ matrix, ...options, logger: stderrLogger });
    const value = pick(found);
    render(imageValueResult(key, value), options);
    return 0;
  };
}
