// Copies the RPMs out of a kmods image (local, else pulled) into a folder; no container runs.
// deno task extract-rpms [--image REF] [--dest ./rpms]
import { main, stderrLogger, taskCommand } from "../lib/cli.ts";
import { CheckError, InputError } from "../lib/errors.ts";
import { copyOut, withContainer } from "../lib/podman.ts";
import { groupRpms } from "../lib/rpms.ts";
import { formatGroups, imageOptions, resolveKmodsImage } from "./list_rpms.ts";

async function rpmPaths(dir: string, prefix = ""): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    if (entry.isDirectory) paths.push(...await rpmPaths(dir, `${prefix}${entry.name}/`));
    else if (entry.name.endsWith(".rpm")) paths.push(`${prefix}${entry.name}`);
  }
  return paths;
}

if (import.meta.main) {
  main(async () => {
    const options = imageOptions(
      taskCommand("extract-rpms", "Copy the RPMs out of a kmods image into a folder"),
    )
      .option("--dest <dir>", "folder to copy into (created if missing)", "./rpms")
      .parse(Deno.args, { from: "user" }).opts();
    const info = await Deno.stat(options.dest).catch(() => undefined);
    if (info && !info.isDirectory) throw new InputError(`--dest is not a folder: ${options.dest}`);
    const image = await resolveKmodsImage(options);
    await Deno.mkdir(options.dest, { recursive: true });
    await withContainer(image, (id) => copyOut(id, options.dest));
    const groups = groupRpms(await rpmPaths(options.dest));
    if (groups.length === 0) throw new CheckError(`No RPMs in ${image}`);
    stderrLogger.info(`Copied the RPMs of ${image} into ${options.dest}:`);
    console.log(formatGroups(groups));
    return 0;
  });
}
