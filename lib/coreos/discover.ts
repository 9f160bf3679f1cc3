// Where the kernel of an image is found, and the versions a build would use: the target
// image (resolved to a digest once) and the published ZFS releases are looked up in parallel,
// then one pure function (chooseZfsRelease) picks the release for versions, build and
// --all-targets alike.
import {
  commitmetaUrl,
  FCOS_VERSION,
  type FcosRelease,
  fetchCommitmeta,
  fetchReleaseIndex,
} from "./coreos.ts";
import { CheckError, RemoteError } from "../core/errors.ts";
import type { Logger } from "../cli/cli.ts";
import { type Fallback, lastCompatibleRelease } from "./fallback.ts";
import { type Matrix, resolveTarget } from "../matrix/matrix.ts";
import {
  type Arch,
  FEDORA_VERSION,
  imageTag,
  KERNEL_VERSION,
  kernelMajorMinor,
  zfsTag as checkZfsTag,
  zfsVersionOf,
} from "../core/patterns.ts";
import {
  fetchBlob,
  type Layer,
  type PlatformResolution,
  readImageConfig,
  resolvePlatform,
} from "../registry/registry.ts";
import { releaseTagOf } from "./release_tag.ts";
import { tarEntries } from "../core/tar.ts";
import { chooseZfsRelease, publishedZfsReleases } from "../matrix/zfs_releases.ts";
import type { FALLBACK_KEYS, VERSION_KEYS } from "./version_keys.ts";

// resolveTarget moved to lib/matrix/matrix.ts (pure, and light enough for start-up); re-exported here.
export { resolveTarget };

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
  /** The Fedora CoreOS stream of the image's labels (or its matrix target), if any. */
  stream?: string;
  /** The Fedora CoreOS release the labels name (a derived image names its base). */
  fcosRelease?: string;
  /**
   * The Fedora CoreOS release the image IS: its per-arch digest is that release's in the
   * stream's index (undefined for a derived or non-FCOS image, or when the index cannot say).
   */
  release?: string;
}

export interface Versions extends ImageVersions {
  /** The release a build uses. */
  zfsTag: string;
  zfsVersion: string;
  /** The newest published release of the series (undefined when --zfs skipped the look-up). */
  zfsLatest?: string;
  /** Whether zfsLatest is pinned in matrix.yaml. */
  zfsPinned: boolean;
  maxKernel: string | null;
  compatible: boolean;
  imageTag: string;
  /** Why this release, or why none fits and what would (one line). */
  message: string;
  /** Newer releases skipped because they are not pinned. */
  warnings: string[];
  /** When no pinned release supports the kernel: the stream's last release one does. */
  fallback?: Fallback;
  /** How the fallback walk went (absent when there was none). */
  fallbackWalk?: { walked: number; capped: boolean };
}

const VERSION_LABEL = "org.opencontainers.image.version";
/** The stream label since Nov 2025, and the one before it. */
const STREAM_LABELS = ["com.coreos.stream", "fedora-coreos.stream"] as const;

/** The stream an image's labels name: com.coreos.stream, else the legacy fedora-coreos.stream. */
export function streamOf(labels: Record<string, string>): string | undefined {
  for (const label of STREAM_LABELS) if (labels[label]) return labels[label];
  return undefined;
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

/** What one layer does to usr/lib/modules/: directories it adds, whiteouts, an opaque marker. */
export interface ModulesChange {
  added: Set<string>;
  removed: Set<string>;
  /** The layer hides everything earlier layers had under usr/lib/modules/. */
  opaque: boolean;
}

const MODULES_ENTRY = /^(?:\.?\/)?usr\/lib\/modules\/([^/]+)/;
// A whiteout or opaque marker of usr/lib/modules itself or an ancestor hides all of it.
const HIDES_ALL =
  /^(?:\.?\/)?(?:\.wh\.usr|usr\/\.wh\.lib|usr\/lib\/\.wh\.modules|(?:usr\/(?:lib\/(?:modules\/)?)?)?\.wh\.\.wh\.\.opq)$/;

/** Reads one layer's tar stream for its changes to usr/lib/modules/ (OCI whiteouts included). */
export async function modulesChanges(stream: ReadableStream<Uint8Array>): Promise<ModulesChange> {
  const change: ModulesChange = { added: new Set(), removed: new Set(), opaque: false };
  for await (const entry of tarEntries(stream)) {
    if (HIDES_ALL.test(entry.name)) {
      change.opaque = true;
      continue;
    }
    const name = MODULES_ENTRY.exec(entry.name)?.[1];
    if (!name) continue;
    if (name.startsWith(".wh.")) {
      if (name !== ".wh..wh..opq") change.removed.add(name.slice(4));
    } else change.added.add(name);
  }
  return change;
}

/**
 * The kernel directories under usr/lib/modules/ of the merged image: layers apply in order,
 * a whiteout hides its name in earlier layers, an opaque marker hides all of them.
 */
export function mergeModulesChanges(changes: ModulesChange[]): Set<string> {
  let present = new Set<string>();
  for (const change of changes) {
    if (change.opaque) present = new Set();
    for (const name of change.removed) present.delete(name);
    for (const name of change.added) present.add(name);
  }
  return present;
}

async function kernelFromLayers(
  ref: string,
  layers: Layer[],
): Promise<{ kernel?: string; saw: string }> {
  const changes: ModulesChange[] = [];
  for (const layer of layers) {
    const gzip = /[.+]gzip$/.test(layer.mediaType);
    if (!gzip && !/\.tar$/.test(layer.mediaType)) {
      return { saw: `cannot read a layer of type ${layer.mediaType}` };
    }
    const response = await fetchBlob(ref, layer.digest);
    let body = response.body!;
    if (gzip) body = body.pipeThrough(new DecompressionStream("gzip"));
    changes.push(await modulesChanges(body));
  }
  const found = mergeModulesChanges(changes);
  const names = [...found].filter((n) => KERNEL_VERSION.test(n));
  if (names.length === 1) return { kernel: names[0], saw: names[0]! };
  return {
    saw: found.size === 0
      ? `no usr/lib/modules/ directory in ${layers.length} layer(s)`
      : `usr/lib/modules/ holds ${
        [...found].slice(0, 5).map((n) => JSON.stringify(n)).join(", ")
      } (expected one kernel version)`,
  };
}

/** A 403 or 404 of the builds server means "no answer here"; anything else is a failure. */
function noAnswer(error: unknown): undefined {
  if (error instanceof RemoteError && (error.status === 403 || error.status === 404)) {
    return undefined;
  }
  throw error;
}

/**
 * A stream's release index read ahead (in parallel with the first registry request), settled:
 * its releases, or the error reading it gave, rethrown only if the index is needed after all.
 */
export interface PrefetchedIndex {
  stream: string;
  releases?: FcosRelease[];
  error?: unknown;
}

/** What the fast path already learned, so the fallback reads nothing twice. */
export interface Prefetched {
  index?: PrefetchedIndex;
  /**
   * A commitmeta.json already read that did not answer: no kernel, 403/404, or the error
   * reading it gave (rethrown only if build metadata is needed after all).
   */
  commitmeta?: { url: string; meta?: { kernel?: string; status: number }; error?: unknown };
}

/** Reads a release index and settles it: never rejects, so it may run ahead unawaited. */
async function prefetchIndex(stream: string, base?: string): Promise<PrefetchedIndex> {
  try {
    return { stream, releases: await fetchReleaseIndex(stream, { base }) };
  } catch (error) {
    return { stream, error };
  }
}

/** The releases of a prefetched index; its error as fetching it now would give (403/404: none). */
function releasesOf(index: PrefetchedIndex): FcosRelease[] | undefined {
  return index.error === undefined ? index.releases : noAnswer(index.error);
}

/** The release of the index whose image for `arch` is exactly the manifest `digest`. */
export function releaseWithDigest(
  releases: FcosRelease[],
  arch: Arch,
  digest: string,
): FcosRelease | undefined {
  return releases.findLast((r) => r.images.some((i) => i.arch === arch && i.digest === digest));
}

type KernelAnswer = { kernel: string; source: KernelSource; releases?: FcosRelease[] };

/**
 * findKernel for an image whose labels name a Fedora CoreOS release: the label or the build
 * metadata answers unless the release index shows the image is not the release. Without an
 * answer, what was seen is in `seen` and the index's releases are returned for the caller.
 */
async function kernelOfNamedRelease(
  ref: string,
  arch: Arch,
  inspection: { manifestDigest?: string },
  named: { version: string; stream: string; url: string; labelKernel?: string; labelSaw: string },
  seen: string[],
  logger?: Logger,
  options: { base?: string; prefetched?: Prefetched } = {},
): Promise<{ answer?: KernelAnswer; releases?: FcosRelease[] }> {
  const { version, stream, url, labelKernel, labelSaw } = named;
  let releases: FcosRelease[] | undefined;
  const prefetched = options.prefetched;
  const known = prefetched?.commitmeta?.url === url ? prefetched.commitmeta : undefined;
  const ahead = prefetched?.index;
  const index = ahead && ahead.stream === stream ? ahead : undefined;
  // Without the index in hand, both in parallel: the index adds a request but no round trip.
  // With it, commitmeta.json is read only when the image is the release.
  const meta = known || index || labelKernel ? undefined : fetchCommitmeta(url);
  meta?.catch(() => {}); // awaited below when needed; a derived image does not depend on it
  const settled = index ?? await prefetchIndex(stream, options.base);
  // When the index cannot say the image is not the release, the label still answers, loudly.
  const trustLabel = (why: string) => {
    logger?.warn(
      `Cannot check ${ref} against the ${stream} release index (${why}): ` +
        "trusting its ostree.linux label",
    );
    const found = { kernel: labelKernel!, source: "ostree.linux label" as const };
    return { answer: releases ? { ...found, releases } : found };
  };
  try {
    releases = releasesOf(settled);
  } catch (error) {
    if (!labelKernel || !(error instanceof RemoteError)) throw error;
    return trustLabel(error.message);
  }
  const expected = releases?.find((r) => r.version === version)?.images.find((i) => i.arch === arch)
    ?.digest;
  if (!expected && labelKernel) {
    return trustLabel(
      releases
        ? `release ${version} (${arch}) is not in it`
        : settled.error instanceof Error
        ? settled.error.message
        : "no index",
    );
  }
  if (expected && expected !== inspection.manifestDigest) {
    seen.push(
      `ostree.linux label and coreos build metadata: the image is not release ${version} ` +
        `itself (its ${arch} digest is ${
          inspection.manifestDigest ?? "unknown"
        }, the release's ${expected}): a derived image`,
    );
  } else if (labelKernel) {
    return { answer: { kernel: labelKernel, source: "ostree.linux label", releases } };
  } else if (!expected) {
    seen.push(
      labelSaw,
      `coreos build metadata: ${
        releases ? `release ${version} (${arch}) is not in` : "no"
      } the ${stream} release index, so the image cannot be checked against it`,
    );
  } else {
    seen.push(labelSaw);
    if (known?.error !== undefined) throw known.error;
    const answer = known?.meta ?? await (meta ?? fetchCommitmeta(url));
    if (answer.kernel) {
      return { answer: { kernel: answer.kernel, source: "coreos build metadata", releases } };
    }
    seen.push(
      `coreos build metadata: ${
        answer.status === 403 || answer.status === 404 ? "no such build" : "no kernel in it"
      } (${url}, HTTP ${answer.status})`,
    );
  }
  return { releases };
}

/**
 * The kernel of an image; fails listing what each strategy saw. An image whose labels name a
 * Fedora CoreOS release and stream is first checked against the stream's release index: when
 * the index shows it is NOT that release (a derived image inherits its base's labels, the
 * ostree.linux label included), neither the label nor the build metadata is trusted and the
 * layers answer. Otherwise: ostree.linux label, then build metadata (only for the release
 * itself), then the modules directory. `prefetched` holds what discoverImage already read for
 * the target's stream (reused when the labels name the same stream, never fetched twice).
 */
export async function findKernel(
  ref: string,
  arch: Arch,
  inspection: { labels: Record<string, string>; layers: Layer[]; manifestDigest?: string },
  logger?: Logger,
  options: { base?: string; prefetched?: Prefetched } = {},
): Promise<{ kernel: string; source: KernelSource; releases?: FcosRelease[] }> {
  const { labels, layers } = inspection;
  const seen: string[] = [];

  const label = labels["ostree.linux"];
  const labelKernel = label && KERNEL_VERSION.test(label) ? label : undefined;
  // Labels are the image author's text: quoted, so control characters cannot reach a terminal.
  const labelSaw = `ostree.linux label: ${
    label ? `not a kernel version (${JSON.stringify(label)})` : "absent"
  }`;

  const version = labels[VERSION_LABEL];
  const stream = streamOf(labels);
  const url = version && stream ? commitmetaUrl(stream, version, arch, options.base) : undefined;
  let releases: FcosRelease[] | undefined;
  if (!url) {
    // No Fedora CoreOS release named: nothing to check the label against.
    if (labelKernel) return { kernel: labelKernel, source: "ostree.linux label" };
    seen.push(
      labelSaw,
      `coreos build metadata: no usable ${VERSION_LABEL} and ${STREAM_LABELS[0]} labels (${
        JSON.stringify(version ?? null)
      }, ${JSON.stringify(stream ?? null)})`,
    );
  } else {
    const named = { version: version!, stream: stream!, url, labelKernel, labelSaw };
    const found = await kernelOfNamedRelease(ref, arch, inspection, named, seen, logger, options);
    if (found.answer) return found.answer;
    releases = found.releases;
  }

  logger?.info(`Reading the layers of ${ref} for usr/lib/modules/ (${seen.at(-1)})`);
  const fromLayers = await kernelFromLayers(ref, layers);
  if (fromLayers.kernel) {
    return { kernel: fromLayers.kernel, source: "modules directory", releases };
  }
  seen.push(`modules directory: ${fromLayers.saw}`);
  throw new CheckError(`No kernel found in ${ref}: ${seen.join("; ")}`);
}

/**
 * The fast path of a target whose stream is known: when the image's per-arch manifest digest
 * is a release's image in the stream's index, the image IS that release, and its
 * commitmeta.json gives the kernel without reading the manifest or config. Undefined (with
 * what it read) when it does not answer.
 */
async function kernelOfRelease(
  platform: PlatformResolution,
  arch: Arch,
  index: PrefetchedIndex,
  base: string | undefined,
): Promise<{ kernel: string; release: FcosRelease } | { commitmeta?: Prefetched["commitmeta"] }> {
  if (!index.releases) return {};
  const release = releaseWithDigest(index.releases, arch, platform.manifestDigest);
  if (!release) return {};
  const url = commitmetaUrl(index.stream, release.version, arch, base);
  if (!url) return {};
  try {
    const meta = await fetchCommitmeta(url);
    return meta.kernel ? { kernel: meta.kernel, release } : { commitmeta: { url, meta } };
  } catch (error) {
    // An ostree.linux label may still answer: the error counts only if nothing else does.
    return { commitmeta: { url, error } };
  }
}

/** `…/fedora/fedora-coreos:<stream>` (a tag that names a stream, not a release). */
const FCOS_STREAM_IMAGE = /(?:^|\/)fedora\/fedora-coreos:([a-z][a-z0-9-]{0,63})$/;

/**
 * The stream an image is known to follow before it is read: a matrix target's (same image,
 * any arch), else the tag of an image named `…/fedora/fedora-coreos:<stream>`.
 */
export function streamOfImage(matrix: Matrix, image: string): string | undefined {
  return matrix.targets.find((t) => t.image === image && t.stream)?.stream ??
    FCOS_STREAM_IMAGE.exec(image)?.[1];
}

/**
 * The kernel, Fedora version and digest of the target image (no ZFS look-up). When the stream
 * is known before the image is read (a matrix target, or an image named
 * `…/fedora/fedora-coreos:<stream>`) the stream's release index is read in parallel with the
 * tag: an official image is then answered by index + releases.json + commitmeta.json alone.
 */
export async function discoverImage(
  options: { matrix: Matrix; image?: string; arch?: Arch; logger?: Logger; fcosBase?: string },
): Promise<ImageVersions & { releases?: FcosRelease[] }> {
  const resolved = resolveTarget(options.matrix, options);
  const { image, arch } = resolved;
  const targetStream = resolved.stream ?? streamOfImage(options.matrix, image);
  const base = options.fcosBase;
  const indexAhead = targetStream ? prefetchIndex(targetStream, base) : undefined;
  const platform = await resolvePlatform(image, arch);
  const index = await indexAhead;
  const prefetched: Prefetched = { index };
  if (index) {
    const fast = await kernelOfRelease(platform, arch, index, base);
    if ("release" in fast) {
      const { version } = fast.release;
      return {
        image,
        arch,
        kernelVersion: fast.kernel,
        kernelMajorMinor: kernelMajorMinor(fast.kernel),
        fedoraVersion: version.split(".")[0]!,
        imageDigest: platform.digest,
        pinnedImage: platform.pinned,
        kernelSource: "coreos build metadata",
        stream: index.stream,
        fcosRelease: version,
        release: version,
        releases: index.releases,
      };
    }
    prefetched.commitmeta = fast.commitmeta;
  }
  const inspection = await readImageConfig(platform);
  // Everything after this point reads name@digest, so a moving tag cannot mix builds.
  const { kernel, source, releases } = await findKernel(
    inspection.pinned,
    arch,
    inspection,
    options.logger,
    { base, prefetched },
  );
  const fedoraVersion = fedoraVersionOf(inspection.labels, kernel);
  if (!fedoraVersion) {
    throw new CheckError(
      `No Fedora version for ${image}: no ${VERSION_LABEL} label and no .fcNN in ${kernel}`,
    );
  }
  const labelRelease = inspection.labels[VERSION_LABEL];
  const stream = streamOf(inspection.labels) ?? targetStream;
  // The index read ahead serves the fallback walk too, when it is the same stream's.
  const known = releases ?? (index?.stream === stream ? index?.releases : undefined);
  const release = known && releaseWithDigest(known, arch, inspection.manifestDigest)?.version;
  return {
    image,
    arch,
    kernelVersion: kernel,
    kernelMajorMinor: kernelMajorMinor(kernel),
    fedoraVersion,
    imageDigest: inspection.digest,
    pinnedImage: inspection.pinned,
    kernelSource: source,
    stream,
    fcosRelease: labelRelease && FCOS_VERSION.test(labelRelease) ? labelRelease : undefined,
    release: release && FCOS_VERSION.test(release) ? release : undefined,
    releases: known,
  };
}

/**
 * Everything a build needs to know: the image's kernel and the ZFS release chosen for it
 * (chooseZfsRelease); a given zfsTag skips the GitHub look-up. When no pinned release supports
 * the kernel, the stream's last compatible release is looked up as a fallback.
 */
export async function discoverVersions(
  options: {
    matrix: Matrix;
    image?: string;
    arch?: Arch;
    series?: string;
    zfsTag?: string;
    logger?: Logger;
    /** Shares one GitHub look-up between several discoveries (--all-targets). */
    zfsLookup?: (series: string) => Promise<string[]>;
    /** FCOS build metadata base (default FCOS_BUILDS_URL). */
    fcosBase?: string;
  },
): Promise<Versions> {
  const { series } = resolveTarget(options.matrix, options);
  const forced = options.zfsTag === undefined ? undefined : checkZfsTag(options.zfsTag);
  const lookup = options.zfsLookup ?? ((s: string) => publishedZfsReleases(s));
  const [published, found] = await Promise.all([
    forced ? Promise.resolve(undefined) : lookup(series),
    discoverImage(options),
  ]);
  const { releases, ...image } = found;
  const choice = chooseZfsRelease(options.matrix, {
    series,
    published,
    kernel: image.kernelVersion,
    forced,
  });
  // Titled: under GitHub Actions the logger makes each a `::warning::` annotation.
  for (const warning of choice.warnings) options.logger?.warn(warning, "ZFS release not pinned");
  const zfsVersion = zfsVersionOf(choice.zfsTag);
  const versions: Versions = {
    ...image,
    zfsTag: choice.zfsTag,
    zfsVersion,
    zfsLatest: choice.zfsLatest,
    zfsPinned: choice.zfsPinned,
    maxKernel: choice.maxKernel,
    compatible: choice.compatible,
    imageTag: imageTag(zfsVersion, image.kernelVersion),
    message: choice.message,
    warnings: choice.warnings,
  };
  if (!choice.compatible && !forced && image.stream) {
    try {
      const walk = await lastCompatibleRelease({
        matrix: options.matrix,
        stream: image.stream,
        arch: image.arch,
        series,
        base: options.fcosBase,
        releases,
        published,
        before: image.fcosRelease,
      });
      versions.fallback = walk.fallback;
      versions.fallbackWalk = { walked: walk.walked, capped: walk.capped };
    } catch (error) {
      // The fallback is advice on top of the answer: without it the answer still stands.
      if (!(error instanceof RemoteError)) throw error;
      options.logger?.warn(`Cannot look for the last compatible release: ${error.message}`);
    }
  }
  return versions;
}

/** One line about the fallback walk: what to pin, or why there is nothing to pin. */
export function fallbackMessage(v: Versions): string | undefined {
  if (!v.fallbackWalk) return undefined;
  if (v.fallback) {
    // Every release is also a tag of the image: a readable pin, same content as the digest.
    const repository = v.fallback.image.slice(0, v.fallback.image.indexOf("@"));
    return `Last ${v.stream} release with a supported kernel: ${v.fallback.release} ` +
      `(${v.fallback.kernelVersion}); pin FROM ${repository}:${v.fallback.release} ` +
      `with kmods tag ${v.fallback.imageTag}`;
  }
  return `No ${v.stream} release among the ${v.fallbackWalk.walked} newest has a kernel a pinned ` +
    `release supports` + (v.fallbackWalk.capped ? " (the walk stops there)" : "");
}

/**
 * Every enabled target of matrix.yaml, discovered in parallel (one GitHub look-up per series),
 * with the runner that builds it: the job matrix of the nightly workflow.
 */
export async function discoverAllTargets(
  matrix: Matrix,
  options: { zfsTag?: string; logger?: Logger; fcosBase?: string } = {},
): Promise<Record<string, string | boolean>[]> {
  const lookups = new Map<string, Promise<string[]>>();
  const zfsLookup = (series: string) => {
    if (!lookups.has(series)) lookups.set(series, publishedZfsReleases(series));
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
      fcosBase: options.fcosBase,
    });
    return {
      name: target.name,
      image: target.image,
      stream: target.stream,
      arch: target.arch,
      runner: target.runner, // matrix.yaml: the target's, its arch's, or the default
      ...versionsOutput(versions),
    };
  }));
}

/** The values of VERSION_KEYS, then FALLBACK_KEYS when there is a fallback. */
export function versionsOutput(
  v: Versions,
):
  & Record<typeof VERSION_KEYS[number], string | boolean>
  & Partial<Record<typeof FALLBACK_KEYS[number], string>> {
  return {
    "zfs-tag": v.zfsTag,
    "zfs-version": v.zfsVersion,
    "zfs-latest": v.zfsLatest ?? "",
    "zfs-pinned": v.zfsPinned,
    "kernel-version": v.kernelVersion,
    "kernel-major-minor": v.kernelMajorMinor,
    "fedora-version": v.fedoraVersion,
    "max-kernel": v.maxKernel ?? "",
    compatible: v.compatible,
    "image-digest": v.imageDigest,
    "image-tag": v.imageTag,
    "kernel-source": v.kernelSource,
    // The release the built image is for: the fallback's when the plan falls back.
    release: v.fallback?.release ?? v.release ?? "",
    "release-tag": releaseTagOf(v.fallback?.release ?? v.release),
    ...(v.fallback
      ? {
        "fallback-release": v.fallback.release,
        "fallback-image": v.fallback.image,
        "fallback-kernel-version": v.fallback.kernelVersion,
        "fallback-zfs-tag": v.fallback.zfsTag,
        "fallback-image-tag": v.fallback.imageTag,
      }
      : {}),
  };
}
