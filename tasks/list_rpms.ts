// Lists the RPMs inside a kmods image (local, else pulled), grouped by folder; no container runs.
// deno task list-rpms [KMODS-IMAGE | --image TARGET --arch A --zfs TAG] [--json]
import {
  archOption,
  imageOption,
  kmodsImageArgument,
  main,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli.ts";
import { CheckError, UsageError } from "../lib/errors.ts";
import { type Arch } from "../lib/patterns.ts";
import { render, type TaskResult } from "../lib/render.ts";
import { groupRpms, type RpmGroup } from "../lib/rpms.ts";
import { kmodsImageOf } from "./build.ts";

/**
 * The arguments list-rpms and extract-rpms share: the kmods image as a positional argument,
 * or the target (`--image`, as in every task) whose kmods image `build` would produce.
 */
export function kmodsImageArguments<T extends ReturnType<typeof taskCommand>>(command: T) {
  return command
    .argument(
      "[kmods-image]",
      "kmods image, tagged zfs-…_kernel-… (default: the one `build` would produce for the target)",
      kmodsImageArgument,
    )
    .addOption(imageOption("target image whose kmods image to use (default: matrix.yaml)"))
    .addOption(archOption("x86_64 or aarch64, for the default kmods image"))
    .addOption(zfsOption("ZFS release for the default kmods image, e.g. zfs-2.4.2"));
}

/** A kmods image and target options at once is a UsageError: they would be silently ignored. */
export function checkKmodsImageChoice(
  kmodsImage: string | undefined,
  options: { image?: string; arch?: Arch; zfs?: string },
): void {
  if (kmodsImage !== undefined && [options.image, options.arch, options.zfs].some(Boolean)) {
    throw new UsageError("Give the kmods image or --image/--arch/--zfs, not both");
  }
}

/** The kmods image given, else the one a build for the target would produce; made local. */
export async function resolveKmodsImage(
  kmodsImage: string | undefined,
  options: { image?: string; arch?: Arch; zfs?: string },
): Promise<string> {
  checkKmodsImageChoice(kmodsImage, options);
  const image = kmodsImage ??
    (await kmodsImageOf(
      { target: options.image, arch: options.arch, zfs: options.zfs },
      stderrLogger,
    ))
      .image;
  // Imported after parsing: --help and a bad argument start without podman's module.
  const { ensureImage } = await import("../lib/podman.ts");
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

/** The RPMs of an image, grouped by folder; an image without RPMs is a failed check. */
export function rpmsResult(image: string, groups: RpmGroup[]): TaskResult {
  if (groups.length === 0) throw new CheckError(`No RPMs in ${image}`);
  return { values: { image, groups }, lines: [formatGroups(groups)] };
}

if (import.meta.main) {
  main(async () => {
    const command = kmodsImageArguments(
      taskCommand("list-rpms", "List the RPMs inside a kmods image, grouped by folder"),
    )
      .option("--json", "print the groups as JSON")
      .parse(Deno.args, { from: "user" });
    const options = command.opts();
    const image = await resolveKmodsImage(command.processedArgs[0], options);
    const { containerFiles, withContainer } = await import("../lib/podman.ts");
    const groups = groupRpms(await withContainer(image, containerFiles));
    render(rpmsResult(image, groups), { json: options.json });
    return 0;
  });
}
