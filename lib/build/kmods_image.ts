// Which kmods image a task works on: the one given, else the one `build` would produce for the
// target (or name with --tag). Discovery and podman are imported where they are used: a task's
// --help starts without them.
import { resolveImageName } from "./build.ts";
import {
  archOption,
  imageOption,
  kmodsImageArgument,
  type Logger,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../cli/cli.ts";
import { UsageError } from "../core/errors.ts";
import { loadMatrix } from "../matrix/matrix.ts";
import { type Arch } from "../core/patterns.ts";

/** The kmods image this build produces (or names with --tag), for list-rpms and friends. */
export async function kmodsImageOf(
  options: { target?: string; arch?: Arch; zfs?: string; tag?: string },
  logger: Logger,
): Promise<{ image: string; imageTag: string }> {
  const matrix = await loadMatrix();
  if (options.tag !== undefined) return resolveImageName(matrix.publish.image, "", options.tag);
  const { discoverVersions } = await import("../coreos/discover.ts");
  const versions = await discoverVersions({
    matrix,
    image: options.target,
    arch: options.arch,
    zfsTag: options.zfs,
    logger,
  });
  return resolveImageName(matrix.publish.image, versions.imageTag);
}

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
    .addOption(
      imageOption(
        "target image whose kmods image to use (default: the first enabled target in matrix.yaml)",
      ),
    )
    .addOption(archOption())
    .addOption(
      zfsOption("ZFS release, e.g. zfs-2.4.2 or 2.4.2 (default: the one `build` would use)"),
    );
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
  logger: Logger = stderrLogger,
): Promise<string> {
  checkKmodsImageChoice(kmodsImage, options);
  const image = kmodsImage ??
    (await kmodsImageOf(
      { target: options.image, arch: options.arch, zfs: options.zfs },
      logger,
    ))
      .image;
  // Imported after parsing: --help and a bad argument start without podman's module.
  const { ensureImage } = await import("./podman.ts");
  await ensureImage(image);
  return image;
}
