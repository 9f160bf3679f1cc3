// Copies the RPMs out of a kmods image (local, else pulled) into a folder; no container runs.
// deno task extract-rpms [KMODS-IMAGE | --image TARGET --arch A --zfs TAG] [--dest ./rpms] [--json]
import { jsonOption, main, taskCommand, userPath } from "../lib/cli/cli.ts";
import { UsageError } from "../lib/core/errors.ts";
import {
  checkKmodsImageChoice,
  kmodsImageArguments,
  resolveKmodsImage,
} from "../lib/build/kmods_image.ts";
import { render } from "../lib/cli/render.ts";
import { groupRpms, rpmsResult } from "../lib/build/rpms.ts";

/** Creates the --dest folder (before any pull, so a bad path fails at once) and returns it. */
async function prepareDest(raw: string): Promise<string> {
  if (raw.trim() === "") throw new UsageError("Invalid --dest: empty (expected a folder path)");
  // Relative to where `deno task` was started, not the project folder.
  const dest = userPath(raw);
  const existing = await Deno.stat(dest).catch(() => undefined);
  if (existing && !existing.isDirectory) throw new UsageError(`--dest is not a folder: ${dest}`);
  try {
    await Deno.mkdir(dest, { recursive: true });
    const info = await Deno.stat(dest);
    if (!info.isDirectory) throw new Error("not a folder");
    // A folder we can list and write, on a real file system (not /proc or /sys).
    const probe = `${dest}/.extract-rpms-${crypto.randomUUID()}`;
    await Deno.writeFile(probe, new Uint8Array(), { createNew: true });
    await Deno.remove(probe);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`Invalid --dest: cannot write the folder ${dest} (${reason})`);
  }
  return dest;
}

if (import.meta.main) {
  main(async () => {
    const command = kmodsImageArguments(
      taskCommand("extract-rpms", "Copy the RPMs out of a kmods image into a folder"),
    )
      .option(
        "--dest <dir>",
        "folder to copy into, relative to where deno task was started (created if missing)",
        "./rpms",
      )
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" });
    const options = command.opts();
    checkKmodsImageChoice(command.processedArgs[0], options);
    const dest = await prepareDest(options.dest);
    const image = await resolveKmodsImage(command.processedArgs[0], options);
    const { copyRegularFiles, withContainer } = await import("../lib/build/podman.ts");
    // Only regular files: a symlink named like an RPM in the image is neither copied nor listed.
    const copied = await withContainer(
      image,
      (id) => copyRegularFiles(id, dest, (path) => path.endsWith(".rpm")),
    );
    const result = rpmsResult(image, groupRpms(copied));
    result.values.dest = dest;
    result.notes = [`Copied the RPMs of ${image} into ${dest}`];
    render(result, { json: options.json });
    return 0;
  });
}
