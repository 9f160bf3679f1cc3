// Publishing the `fcos-<release>` index of one release: the kmods image of each arch resolved
// to its digest through the registry client (it must be there, one image of that arch), an
// index already listing exactly those left alone, else a new one made and pushed with
// `podman manifest` (podman's own login reaches the registry), then read back: the outcome
// names only a digest the registry confirms.
import type { Logger } from "../cli/cli.ts";
import { CheckError, RemoteError } from "../core/errors.ts";
import { type Arch, ociArch } from "../core/patterns.ts";
import { mustRun, registryTimeoutMs, tlsFlags } from "./podman.ts";
import { readConfigBlob, readManifest } from "../registry/registry.ts";
import { indexListsExactly, type ReleaseGroup } from "../coreos/release_tag.ts";

/** What became of one release's index. */
export interface ReleaseOutcome {
  tag: string;
  /** pushed; unchanged (already listed exactly these); skipped (an image is missing); planned. */
  status: "pushed" | "unchanged" | "skipped" | "planned";
  /** The index digest in the registry (pushed or unchanged). */
  digest?: string;
  images: { arch: Arch; imageTag: string; digest?: string }[];
  /** Why it was skipped. */
  reason?: string;
}

/** The digest of `<publishImage>:<imageTag>`, checked to be one linux image of `arch`. */
async function resolveImage(
  publishImage: string,
  image: { arch: Arch; imageTag: string },
): Promise<string | undefined> {
  const ref = `${publishImage}:${image.imageTag}`;
  const read = await manifestUnder(publishImage, image.imageTag);
  if (!read) return undefined;
  const { manifest, digest } = read;
  if (manifest.manifests || !manifest.config) {
    throw new CheckError(`${ref} is not a single-arch image (an index or no config)`);
  }
  const config = await readConfigBlob(ref, manifest.config.digest) as {
    os?: unknown;
    architecture?: unknown;
  } | null;
  const platform = `${config?.os}/${config?.architecture}`;
  if (platform !== `linux/${ociArch(image.arch)}`) {
    throw new CheckError(
      `${ref} is a ${JSON.stringify(platform).slice(0, 60)} image, not linux/${
        ociArch(image.arch)
      } (${image.arch})`,
    );
  }
  return digest;
}

/** Runs podman with an argument array (within PODMAN_TIMEOUT_MS); fails with its last line. */
function podman(args: string[], what: string): Promise<string> {
  return mustRun("podman", args, what, { timeoutMs: registryTimeoutMs() });
}

/** Makes the index with podman manifest and pushes it; returns the digest podman reports. */
async function pushIndex(
  publishImage: string,
  tag: string,
  images: { arch: Arch; digest: string }[],
): Promise<string> {
  const tls = tlsFlags(publishImage);
  const list = `localhost/zfs-kmods-${tag}-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "tag-release-" });
  try {
    await podman(["manifest", "create", list], `Creating ${tag}`);
    for (const image of images) {
      await podman(
        [
          "manifest",
          "add",
          ...tls,
          "--os",
          "linux",
          "--arch",
          ociArch(image.arch),
          list,
          `docker://${publishImage}@${image.digest}`,
        ],
        `Adding ${publishImage}@${image.digest} to ${tag}`,
      );
    }
    await podman(
      [
        "manifest",
        "push",
        "--all",
        "--quiet",
        ...tls,
        "--digestfile",
        `${dir}/digest`,
        list,
        `docker://${publishImage}:${tag}`,
      ],
      `Pushing ${publishImage}:${tag}`,
    );
    return (await Deno.readTextFile(`${dir}/digest`)).trim();
  } finally {
    await podman(["manifest", "rm", list], `Removing ${list}`).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

/** The manifest (an image's or an index) now under `tag`, if it exists. */
async function manifestUnder(publishImage: string, tag: string) {
  try {
    return await readManifest(publishImage, tag);
  } catch (error) {
    if (error instanceof RemoteError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Publishes one release's index (or, with dryRun, says what it would push). A missing image
 * skips the release with a warning; anything else that fails throws.
 */
export async function publishRelease(
  publishImage: string,
  group: ReleaseGroup,
  options: { dryRun?: boolean; logger?: Logger } = {},
): Promise<ReleaseOutcome> {
  const digests = await Promise.all(group.images.map((i) => resolveImage(publishImage, i)));
  const images = group.images.map((image, i) => ({ ...image, digest: digests[i] }));
  const missing = images.filter((i) => i.digest === undefined);
  if (missing.length > 0) {
    const reason = `${missing.map((i) => `${publishImage}:${i.imageTag}`).join(", ")} not found`;
    options.logger?.warn(`Skipping ${group.tag}: ${reason}`, "Release index not tagged");
    return { tag: group.tag, status: "skipped", images, reason };
  }
  const listed = images as { arch: Arch; imageTag: string; digest: string }[];
  const existing = await manifestUnder(publishImage, group.tag);
  if (existing && indexListsExactly(existing.manifest, listed)) {
    return { tag: group.tag, status: "unchanged", digest: existing.digest, images };
  }
  if (options.dryRun) return { tag: group.tag, status: "planned", images };
  const pushed = await pushIndex(publishImage, group.tag, listed);
  // The registry must serve what was pushed: the same digest, listing exactly these images.
  const confirmed = await manifestUnder(publishImage, group.tag);
  if (!confirmed || confirmed.digest !== pushed || !indexListsExactly(confirmed.manifest, listed)) {
    throw new CheckError(
      `The registry does not confirm ${publishImage}:${group.tag} (pushed ${pushed}, ` +
        `it serves ${confirmed?.digest ?? "nothing"})`,
    );
  }
  options.logger?.info(`Pushed ${publishImage}:${group.tag} (${pushed})`);
  return { tag: group.tag, status: "pushed", digest: pushed, images };
}
