// The last compatible release: when no pinned ZFS release supports a stream's current kernel,
// the newest earlier release of that stream whose kernel is supported, so users can pin
// `FROM quay.io/fedora/fedora-coreos:<release>` instead of being stuck.
import {
  compareFcosVersions,
  type FcosRelease,
  fetchBuildKernel,
  fetchReleaseIndex,
} from "./coreos.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { type Arch, imageTag, zfsVersionOf } from "../core/patterns.ts";
import { chooseZfsRelease } from "../matrix/zfs_releases.ts";

/** A release of the stream that a pinned ZFS release supports. */
export interface Fallback {
  /** The Fedora CoreOS release, e.g. 43.20251110.3.1 (also a tag of the image). */
  release: string;
  /** The release's per-arch image: quay.io/fedora/fedora-coreos@sha256:… */
  image: string;
  kernelVersion: string;
  zfsTag: string;
  /** The kmods tag that matches it: zfs-<version>_kernel-<kernel>. */
  imageTag: string;
}

/** The tags of `series` pinned in matrix.yaml (with a sha256): what a build may choose from. */
export function pinnedTags(matrix: Matrix, series: string): string[] {
  return matrix.zfs.releases
    .filter((r) => r.sha256 !== undefined && r.tag.startsWith(`zfs-${series}.`))
    .map((r) => r.tag);
}

/** How many releases the walk reads at most, newest first. */
export const FALLBACK_MAX_WALK = 30;
/** Build metadata read at once: a few in flight, so the walk stays bounded and polite. */
const CONCURRENCY = 4;

/**
 * Walks a stream's releases newest to oldest (at most `maxWalk`) and returns the first whose
 * kernel a pinned release of the series supports. Builds without metadata (403/404) are
 * skipped. `capped` says the walk stopped at the cap without an answer.
 */
export async function lastCompatibleRelease(
  options: {
    matrix: Matrix;
    stream: string;
    arch: Arch;
    series: string;
    maxWalk?: number;
    base?: string;
    /** The stream's release index when the caller already read it. */
    releases?: FcosRelease[];
    /** Published tags of the series (default: the series' pinned releases of matrix.yaml). */
    published?: string[];
    /** Only releases older than this version (the one the target already is). */
    before?: string;
  },
): Promise<{ fallback?: Fallback; walked: number; capped: boolean }> {
  const maxWalk = options.maxWalk ?? FALLBACK_MAX_WALK;
  const published = options.published ?? pinnedTags(options.matrix, options.series);
  // Nothing a build may choose from: no release can be supported, so nothing is read.
  if (published.length === 0) return { walked: 0, capped: false };
  const releases = options.releases ??
    await fetchReleaseIndex(options.stream, { base: options.base });
  const candidates = releases
    .filter((r) =>
      options.before === undefined || compareFcosVersions(r.version, options.before) < 0
    )
    .map((r) => ({ release: r, image: r.images.find((i) => i.arch === options.arch) }))
    .filter((c) => c.image !== undefined)
    .reverse();
  const limit = Math.min(maxWalk, candidates.length);
  let walked = 0;
  for (let start = 0; start < limit; start += CONCURRENCY) {
    const batch = candidates.slice(start, Math.min(start + CONCURRENCY, limit));
    const kernels = await Promise.all(
      batch.map((c) =>
        fetchBuildKernel(options.stream, c.release.version, options.arch, { base: options.base })
      ),
    );
    for (const [index, candidate] of batch.entries()) {
      walked++;
      const kernel = kernels[index];
      if (!kernel) continue;
      const choice = chooseZfsRelease(options.matrix, {
        series: options.series,
        published,
        kernel,
      });
      if (!choice.compatible) continue;
      return {
        fallback: {
          release: candidate.release.version,
          image: candidate.image!.digestRef,
          kernelVersion: kernel,
          zfsTag: choice.zfsTag,
          imageTag: imageTag(zfsVersionOf(choice.zfsTag), kernel),
        },
        walked,
        capped: false,
      };
    }
  }
  return { walked, capped: walked >= maxWalk && candidates.length > maxWalk };
}
