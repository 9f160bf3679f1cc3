// Where a ZFS release is chosen: the newest non-draft, non-prerelease zfs-<series>.N tag on
// GitHub. Series are released in parallel, so /releases/latest is never trusted.
import { CheckError } from "./errors.ts";
import { type GithubClientOptions, githubPaginate, githubToken } from "./github.ts";
import { compareZfsTags, ZFS_TAG, zfsSeries } from "./patterns.ts";

export const ZFS_RELEASES_PATH = "/repos/openzfs/zfs/releases?per_page=100";

export interface GithubRelease {
  tag_name: string;
  draft: boolean;
  prerelease: boolean;
}

/** The newest published release tag of a series, or undefined when the series has none. */
export function newestOfSeries(releases: GithubRelease[], series: string): string | undefined {
  const prefix = `zfs-${series}.`;
  return releases
    .filter((r) => !r.draft && !r.prerelease && ZFS_TAG.test(r.tag_name))
    .map((r) => r.tag_name)
    .filter((tag) => tag.startsWith(prefix))
    .sort(compareZfsTags)
    .at(-1);
}

/** Every release of openzfs/zfs, all pages read, with the user's token when there is one. */
export async function listZfsReleases(options: GithubClientOptions = {}): Promise<GithubRelease[]> {
  const token = options.token ?? await githubToken();
  return (await githubPaginate<GithubRelease>(ZFS_RELEASES_PATH, { ...options, token })).items;
}

/** Reads every page of openzfs/zfs releases and returns the newest tag of the series. */
export async function newestZfsRelease(
  series: string,
  options: GithubClientOptions = {},
): Promise<string> {
  zfsSeries(series);
  const items = await listZfsReleases(options);
  const tag = newestOfSeries(items, series);
  if (!tag) {
    throw new CheckError(
      `No published zfs-${series}.N release among ${items.length} releases of openzfs/zfs`,
    );
  }
  return tag;
}
