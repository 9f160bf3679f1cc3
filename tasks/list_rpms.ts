// Lists the RPMs inside a kmods image (local, else pulled), grouped by folder; no container runs.
// deno task list-rpms [--image REF] [--json]
import { type Arch } from "../lib/patterns.ts";
import { main, parseWith, printJson, stderrLogger, taskCommand } from "../lib/cli.ts";
import { CheckError } from "../lib/errors.ts";
import { arch, imageRef, toZfsTag } from "../lib/patterns.ts";
import { containerFiles, ensureImage, withContainer } from "../lib/podman.ts";
import { groupRpms, type RpmGroup } from "../lib/rpms.ts";
import { kmodsImageOf } from "./build.ts";

/** The options list-rpms and extract-rpms share to name the kmods image. */
export function imageOptions<T extends ReturnType<typeof taskCommand>>(command: T) {
  return command
    .option(
      "--image <ref>",
      "kmods image (default: the tag `build` would produce)",
      parseWith(imageRef),
    )
    .option(
      "--target <ref>",
      "target image for the default tag (default: matrix.yaml)",
      parseWith(imageRef),
    )
    .option("--arch <arch>", "x86_64 or aarch64, for the default tag", parseWith(arch))
    .option("--zfs <tag>", "ZFS release for the default tag, e.g. zfs-2.4.2", parseWith(toZfsTag));
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
