// Where a ZFS release is chosen. GitHub says what is published (non-draft, non-prerelease
// zfs-<series>.N tags; series are released in parallel, so /releases/latest is never
// trusted); matrix.yaml says what is pinned and which kernels each release supports. A build
// uses the newest published release of the series that is pinned and supports the kernel.
import { checkCompatibility, kernelText, supportsKernel } from "./compat.ts";
import { CheckError, RemoteError } from "../core/errors.ts";
import {
  githubApiUrl,
  type GithubClientOptions,
  githubPaginate,
  githubToken,
} from "../github/github.ts";
import { findRelease, type Matrix } from "./matrix.ts";
import { compareZfsTags, kernelMajorMinor, ZFS_TAG, zfsSeries, zfsTag } from "../core/patterns.ts";

export const ZFS_RELEASES_PATH = "/repos/openzfs/zfs/releases?per_page=100";

export interface GithubRelease {
  tag_name: string;
  draft: boolean;
  prerelease: boolean;
}

/** The published release tags of a series (no drafts, no prereleases), newest first. */
export function publishedOfSeries(releases: GithubRelease[], series: string): string[] {
  const prefix = `zfs-${series}.`;
  return releases
    .filter((r) => !r.draft && !r.prerelease && ZFS_TAG.test(r.tag_name))
    .map((r) => r.tag_name)
    .filter((tag) => tag.startsWith(prefix))
    .sort(compareZfsTags)
    .reverse();
}

/** The newest published release tag of a series, or undefined when the series has none. */
export function newestOfSeries(releases: GithubRelease[], series: string): string | undefined {
  return publishedOfSeries(releases, series)[0];
}

/** Checks every item of a releases answer: an object with a string tag_name and boolean flags. */
export function validateReleases(items: unknown[], url: string): GithubRelease[] {
  items.forEach((item, index) => {
    const release = item as Partial<GithubRelease> | null;
    if (
      typeof release !== "object" || release === null || typeof release.tag_name !== "string" ||
      typeof release.draft !== "boolean" || typeof release.prerelease !== "boolean"
    ) {
      throw new RemoteError(
        url,
        200,
        `Malformed release in the answer (item ${index} is ${
          JSON.stringify(item)?.slice(0, 60) ?? "undefined"
        })`,
      );
    }
  });
  return items as GithubRelease[];
}

/** Every release of openzfs/zfs, all pages read and checked, with the user's token when there is one. */
export async function listZfsReleases(options: GithubClientOptions = {}): Promise<GithubRelease[]> {
  const token = options.token ?? await githubToken();
  const { items } = await githubPaginate<unknown>(ZFS_RELEASES_PATH, { ...options, token });
  return validateReleases(items, `${options.baseUrl ?? githubApiUrl()}${ZFS_RELEASES_PATH}`);
}

/** The published release tags of a series, newest first; fails when the series has none. */
export async function publishedZfsReleases(
  series: string,
  options: GithubClientOptions = {},
): Promise<string[]> {
  zfsSeries(series);
  const items = await listZfsReleases(options);
  const tags = publishedOfSeries(items, series);
  if (tags.length === 0) {
    throw new CheckError(
      `No published zfs-${series}.N release among ${items.length} releases of openzfs/zfs`,
    );
  }
  return tags;
}

/** Reads every page of openzfs/zfs releases and returns the newest tag of the series. */
export async function newestZfsRelease(
  series: string,
  options: GithubClientOptions = {},
): Promise<string> {
  return (await publishedZfsReleases(series, options))[0]!;
}

/** The release a build uses for a kernel, and what a maintainer should know about it. */
export interface ReleaseChoice {
  /** What a build uses: the chosen (or forced) release. */
  zfsTag: string;
  /** The newest published release of the series (undefined when not looked up: --zfs). */
  zfsLatest?: string;
  /** Whether zfsLatest is pinned (has a sha256 in matrix.yaml). */
  zfsPinned: boolean;
  /** Whether zfsTag supports the kernel. */
  compatible: boolean;
  /** max-kernel of zfsTag, null when matrix.yaml does not know it. */
  maxKernel: string | null;
  /** Newer releases a build skipped because they are not pinned: worth a warning. */
  warnings: string[];
  /** One line: why this release, or why none fits and what would. */
  message: string;
}

function isPinned(matrix: Matrix, tag: string): boolean {
  return findRelease(matrix, tag)?.sha256 !== undefined;
}

/**
 * What would support a kernel no pinned release of the series supports: a published release
 * once pinned, one matrix.yaml does not know yet, or a pinned release of another series.
 */
function unsupportedHint(
  matrix: Matrix,
  published: string[],
  majorMinor: string,
  supports: (tag: string) => boolean,
): string {
  const wouldSupport = published.find((tag) => supports(tag));
  const unknown = published.filter((tag) => !findRelease(matrix, tag));
  if (wouldSupport) {
    return `${wouldSupport} would, once pinned: \`deno task matrix add ${wouldSupport}\``;
  }
  if (unknown.length > 0) {
    return `${unknown[0]} is not in matrix.yaml yet (its max kernel is unknown): ` +
      `\`deno task matrix add ${unknown[0]}\``;
  }
  const other = matrix.zfs.releases
    .filter((r) => r.sha256 !== undefined && supportsKernel(r, majorMinor))
    .map((r) => r.tag)
    .sort(compareZfsTags)
    .at(-1);
  return other
    ? `${other} of another series does (--series ${other.slice(4).replace(/\.\d+$/, "")})`
    : `no OpenZFS release in matrix.yaml supports ${majorMinor} yet`;
}

/**
 * Chooses the ZFS release for a kernel: the newest of `published` (the series' published tags)
 * that is pinned and supports the kernel. `forced` (--zfs) is judged by checkCompatibility: the
 * same verdict as check-compatibility and build. Pure: the same
 * choice for versions, build and every target of --all-targets.
 */
export function chooseZfsRelease(
  matrix: Matrix,
  options: { series: string; published?: string[]; kernel: string; forced?: string },
): ReleaseChoice {
  const majorMinor = kernelMajorMinor(options.kernel);
  const kernelShown = kernelText(options.kernel, majorMinor);
  const published = [...(options.published ?? [])].sort(compareZfsTags).reverse();
  const zfsLatest = published[0];
  const zfsPinned = zfsLatest !== undefined && isPinned(matrix, zfsLatest);
  const maxOf = (tag: string) => findRelease(matrix, tag)?.["max-kernel"] ?? null;
  const supports = (tag: string) => {
    const release = findRelease(matrix, tag);
    return release !== undefined && supportsKernel(release, majorMinor);
  };

  if (options.forced !== undefined) {
    // The same verdict as check-compatibility --zfs and build: unknown or unpinned is refused.
    const result = checkCompatibility(matrix, zfsTag(options.forced), options.kernel);
    return {
      zfsTag: result.zfsTag,
      zfsLatest,
      zfsPinned,
      compatible: result.compatible,
      maxKernel: result.maxKernel,
      warnings: [],
      message: result.message,
    };
  }
  if (zfsLatest === undefined) {
    throw new CheckError(`No published zfs-${options.series}.N release to choose from`);
  }

  const chosen = published.find((tag) => isPinned(matrix, tag) && supports(tag));
  const unpinned = (tags: string[]) =>
    tags.filter((tag) => !isPinned(matrix, tag)).map((tag) =>
      `${tag} (${findRelease(matrix, tag) ? "no sha256" : "not in matrix.yaml"})`
    );
  if (chosen) {
    const skipped = unpinned(published.filter((tag) => compareZfsTags(tag, chosen) > 0));
    const warnings = skipped.length === 0 ? [] : [
      `Newer zfs-${options.series} release${skipped.length > 1 ? "s are" : " is"} published ` +
      `but not pinned: ${skipped.join(", ")}; using ${chosen}: pin with ` +
      `\`deno task matrix add ${zfsLatest}\``,
    ];
    return {
      zfsTag: chosen,
      zfsLatest,
      zfsPinned,
      compatible: true,
      maxKernel: maxOf(chosen),
      warnings,
      message: `${chosen} supports ${options.kernel} (${majorMinor} ≤ ${maxOf(chosen)})`,
    };
  }

  // Nothing pinned fits: report against the newest pinned release (what a build would have
  // used) and name what would support the kernel.
  const reported = published.find((tag) => isPinned(matrix, tag)) ?? zfsLatest;
  const hint = unsupportedHint(matrix, published, majorMinor, supports);
  return {
    zfsTag: reported,
    zfsLatest,
    zfsPinned,
    compatible: false,
    maxKernel: maxOf(reported),
    warnings: [],
    message: `No pinned zfs-${options.series} release supports ${kernelShown} ` +
      `(${reported}: ${majorMinor} > ${maxOf(reported) ?? "an unknown max kernel"}): ${hint}`,
  };
}
