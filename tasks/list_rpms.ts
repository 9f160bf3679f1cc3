// Lists the RPMs inside a kmods image (local, else pulled), grouped by folder; no container runs.
// deno task list-rpms [--image REF] [--json]
import { type Arch } from "../lib/patterns.ts";
import {
  archOption,
  imageOption,
  main,
  parseWith,
  printJson,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli.ts";
import { CheckError } from "../lib/errors.ts";
import { imageRef } from "../lib/patterns.ts";
import { containerFiles, ensureImage, withContainer } from "../lib/podman.ts";
import { groupRpms, type RpmGroup } from "../lib/rpms.ts";
import { kmodsImageOf } from "./build.ts";

/** The options list-rpms and extract-rpms share to name the kmods image. */
export function imageOptions<T extends ReturnType<typeof taskCommand>>(command: T) {
  return command
    .addOption(imageOption("kmods image (default: the tag `build` would produce)"))
    .option(
      "--target <ref>",
      "target image for the default tag (default: matrix.yaml)",
      parseWith(imageRef),
    )
    .addOption(archOption("x86_64 or aarch64, for the default tag"))
    .addOption(zfsOption("ZFS release for the default tag, e.g. zfs-2.4.2"));
}

/** The kmods image named by --image, else the one this build would produce; made local. */
export async function resolveKmodsImage(
  options: { image?: string; target?: string; arch?: Arch; zfs?: string },
): Promise<string> {
  const image = options.image ?? (await kmodsImageOf(options, stderrLogger)).image;
  await ensureImage(image);
  return image;
}

/** Prints groups as `folder/` headings with indented file names. */
export function formatGroups(groups: RpmGroup[]): string {
  return groups.map((g) =>
    [g.folder === "/" ? "/" : `${g.folder}/`, ...g.rpms.map((r) => `  ${r}`)].join("\n")
  )
    .join("\n");
}

if (import.meta.main) {
  main(async () => {
    const options = imageOptions(
      taskCommand("list-rpms", "List the RPMs inside a kmods image, grouped by folder"),
    )
      .option("--json", "print the groups as JSON")
      .parse(Deno.args, { from: "user" }).opts();
    const image = await resolveKmodsImage(options);
    const groups = groupRpms(await withContainer(image, containerFiles));
    if (groups.length === 0) throw new CheckError(`No RPMs in ${image}`);
    if (options.json) printJson({ image, groups });
    else console.log(formatGroups(groups));
    return 0;
  });
}
