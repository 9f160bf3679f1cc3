// Where the kernel of an image is found, and the versions a build would use: the target
// image (resolved to a digest once) and the newest ZFS release are looked up in parallel.
import { checkCompatibility } from "./compat.ts";
import { commitmetaUrl, fetchCommitmeta } from "./coreos.ts";
import { CheckError } from "./errors.ts";
import type { Logger } from "./cli.ts";
import { defaultTarget, type Matrix, type Target } from "./matrix.ts";
import {
  type Arch,
  FEDORA_VERSION,
  imageTag,
  KERNEL_VERSION,
  kernelMajorMinor,
  zfsTag as checkZfsTag,
  zfsVersionOf,
} from "./patterns.ts";
import { fetchBlob, inspectImage, type Layer } from "./registry.ts";
import { tarEntries } from "./tar.ts";
import { newestZfsRelease } from "./zfs_releases.ts";

export type KernelSource = "ostree.linux label" | "coreos build metadata" | "modules directory";

export interface ImageVersions {
  image: string;
  arch: Arch;
  kernelVersion: string;
  kernelMajorMinor: string;
  fedoraVersion: string;
  imageDigest: string;
  /** name@sha256:… */
  pinnedImage: string;
  kernelSource: KernelSource;
}

export interface Versions extends ImageVersions {
  zfsTag: string;
  zfsVersion: string;
  maxKernel: string | null;
  compatible: boolean;
  imageTag: string;
}

const VERSION_LABEL = "org.opencontainers.image.version";
const STREAM_LABEL = "com.coreos.stream";

/** The image, arch and ZFS series to use: options first, then the matching matrix target. */
export function resolveTarget(
  matrix: Matrix,
  options: { image?: string; arch?: Arch; series?: string },
): { image: string; arch: Arch; series: string } {
  const fallback = defaultTarget(matrix);
  const image = options.image ?? fallback.image;
  const arch = options.arch ?? (options.image ? "x86_64" : fallback.arch);
  const target: Target | undefined = matrix.targets.find((t) =>
    t.image === image && t.arch === arch
  );
  return { image, arch, series: options.series ?? target?.series ?? matrix.zfs.series };
}

/** Fedora major: first field of org.opencontainers.image.version, else `.fcNN` of the kernel. */
export function fedoraVersionOf(
  labels: Record<string, string>,
  kernel: string,
): string | undefined {
  const first = labels[VERSION_LABEL]?.split(".")[0];
  if (first && FEDORA_VERSION.test(first)) return first;
  return /\.fc(\d{2,3})\./.exec(kernel)?.[1];
}

/** Names of the directories directly under usr/lib/modules/ in one layer's tar stream. */
export async function modulesDirectories(stream: ReadableStream<Uint8Array>): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const entry of tarEntries(stream)) {
    const match = /^(?:\.?\/)?usr\/lib\/modules\/([^/]+)/.exec(entry.name);
    if (match && !match[1]!.startsWith(".wh.")) found.add(match[1]!);
  }
  return found;
}

async function kernelFromLayers(
  ref: string,
  layers: Layer[],
): Promise<{ kernel?: string; saw: string }> {
  const found = new Set<string>();
  for (const layer of layers) {
    const gzip = /[.+]gzip$/.test(layer.mediaType);
    if (!gzip && !/\.tar$/.test(layer.mediaType)) {
      return { saw: `cannot read a layer of type ${layer.mediaType}` };
    }
    const response = await fetchBlob(ref, layer.digest);
    let body = response.body!;
    if (gzip) body = body.pipeThrough(new DecompressionStream("gzip"));
    for (const name of await modulesDirectories(body)) found.add(name);
  }
  const names = [...found].filter((n) => KERNEL_VERSION.test(n));
  if (names.length === 1) return { kernel: names[0], saw: names[0]! };
  return {
    saw: found.size === 0
      ? `no usr/lib/modules/ directory in ${layers.length} layer(s)`
      : `usr/lib/modules/ holds ${[...found].join(", ")} (expected one kernel version)`,
  };
}

/** The kernel of an image by the three strategies, in order; fails listing what each saw. */
export async function findKernel(
  ref: string,
  arch: Arch,
  inspection: { labels: Record<string, string>; layers: Layer[] },
  logger?: Logger,
): Promise<{ kernel: string; source: KernelSource }> {
  const { labels, layers } = inspection;
  const seen: string[] = [];

  const label = labels["ostree.linux"];
  if (label && KERNEL_VERSION.test(label)) return { kernel: label, source: "ostree.linux label" };
  seen.push(`ostree.linux label: ${label ? `not a kernel version (${label})` : "absent"}`);

  const version = labels[VERSION_LABEL];
  const stream = labels[STREAM_LABEL];
  const url = version && stream ? commitmetaUrl(stream, version, arch) : undefined;
  if (url) {
    const meta = await fetchCommitmeta(url);
    if (meta.kernel) return { kernel: meta.kernel, source: "coreos build metadata" };
    seen.push(
      `coreos build metadata: ${
        meta.status === 404 ? "no such build" : "no kernel in it"
      } (${url}, HTTP ${meta.status})`,
    );
  } else {
    seen.push(
      `coreos build metadata: no usable ${VERSION_LABEL} and ${STREAM_LABEL} labels (${
        JSON.stringify(version ?? null)
      }, ${JSON.stringify(stream ?? null)})`,
    );
  }

  logger?.info(`Reading the layers of ${ref} for usr/lib/modules/ (no label, no build metadata)`);
  const fromLayers = await kernelFromLayers(ref, layers);
  if (fromLayers.kernel) return { kernel: fromLayers.kernel, source: "modules directory" };
  seen.push(`modules directory: ${fromLayers.saw}`);
  throw new CheckError(`No kernel found in ${ref}: ${seen.join("; ")}`);
}

/** The kernel, Fedora version and digest of the target image (no ZFS look-up). */
export async function discoverImage(
  options: { matrix: Matrix; image?: string; arch?: Arch; logger?: Logger },
): Promise<ImageVersions> {
  const { image, arch } = resolveTarget(options.matrix, options);
  const inspection = await inspectImage(image, arch);
  // Everything after this point reads name@digest, so a moving tag cannot mix builds.
  const { kernel, source } = await findKernel(
    inspection.pinned,
    arch,
    inspection,
    options.logger,
  );
  const fedoraVersion = fedoraVersionOf(inspection.labels, kernel);
  if (!fedoraVersion) {
    throw new CheckError(
      `No Fedora version for ${image}: no ${VERSION_LABEL} label and no .fcNN in ${kernel}`,
    );
  }
  return {
    image,
    arch,
    kernelVersion: kernel,
    kernelMajorMinor: kernelMajorMinor(kernel),
    fedoraVersion,
    imageDigest: inspection.digest,
    pinnedImage: inspection.pinned,
    kernelSource: source,
  };
}

/** Everything a build needs to know; a given zfsTag skips the GitHub look-up. */
export async function discoverVersions(
  options: {
    matrix: Matrix;
    image?: string;
    arch?: Arch;
    series?: string;
    zfsTag?: string;
    logger?: Logger;
    /** Shares one GitHub look-up between several discoveries (--all-targets). */
    zfsLookup?: (series: string) => Promise<string>;
  },
): Promise<Versions> {
  const { series } = resolveTarget(options.matrix, options);
  const lookup = options.zfsLookup ?? ((s: string) => newestZfsRelease(s));
  const [tag, found] = await Promise.all([
    options.zfsTag ? Promise.resolve(checkZfsTag(options.zfsTag)) : lookup(series),
    discoverImage(options),
  ]);
  const compatibility = checkCompatibility(options.matrix, tag, found.kernelVersion);
  const zfsVersion = zfsVersionOf(tag);
  return {
    ...found,
    zfsTag: tag,
    zfsVersion,
    maxKernel: compatibility.maxKernel,
    compatible: compatibility.compatible,
    imageTag: imageTag(zfsVersion, found.kernelVersion),
  };
}

/**
 * Every enabled target of matrix.yaml, discovered in parallel (one GitHub look-up per series),
 * with the runner that builds it: the job matrix of the nightly workflow.
 */
export async function discoverAllTargets(
  matrix: Matrix,
  options: { zfsTag?: string; logger?: Logger } = {},
): Promise<Record<string, string | boolean>[]> {
  const lookups = new Map<string, Promise<string>>();
  const zfsLookup = (series: string) => {
    if (!lookups.has(series)) lookups.set(series, newestZfsRelease(series));
    return lookups.get(series)!;
  };
  const targets = matrix.targets.filter((t) => t.enabled);
  return await Promise.all(targets.map(async (target) => {
    const versions = await discoverVersions({
      matrix,
      image: target.image,
      arch: target.arch,
      series: target.series,
      zfsTag: options.zfsTag,
      zfsLookup,
      logger: options.logger,
    });
    return {
      name: target.name,
      image: target.image,
      stream: target.stream,
      arch: target.arch,
      runner: target.arch === "aarch64" ? "ubuntu-24.04-arm" : "ubuntu-24.04",
      ...versionsOutput(versions),
    };
  }));
}

/** The kebab-case keys shared by --json and $GITHUB_OUTPUT, in output order. */
export const VERSION_KEYS = [
  "zfs-tag",
  "zfs-version",
  "kernel-version",
  "kernel-major-minor",
  "fedora-version",
  "max-kernel",
  "compatible",
  "image-digest",
  "image-tag",
  "kernel-source",
] as const;

/** The values of VERSION_KEYS. */
export function versionsOutput(
  v: Versions,
): Record<typeof VERSION_KEYS[number], string | boolean> {
  return {
    "zfs-tag": v.zfsTag,
    "zfs-version": v.zfsVersion,
    "kernel-version": v.kernelVersion,
    "kernel-major-minor": v.kernelMajorMinor,
    "fedora-version": v.fedoraVersion,
    "max-kernel": v.maxKernel ?? "",
    compatible: v.compatible,
    "image-digest": v.imageDigest,
    "image-tag": v.imageTag,
    "kernel-source": v.kernelSource,
  };
}
