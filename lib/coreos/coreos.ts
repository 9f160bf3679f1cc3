// Domain lib/coreos/ — the target image: the Fedora CoreOS release index and commitmeta, kernel
// discovery (discover.ts), fallback and forecast, release tags, the one-value tasks' shape.
// May import: lib/core/, lib/cli/, lib/matrix/, lib/registry/. See docs/architecture.md.
//
// Fedora CoreOS build metadata (FCOS_BUILDS_URL): the release index of a stream and the
// kernel of a build, read from its commitmeta.json, for images that no longer carry the
// ostree.linux label (Fedora 43+). The builds server is S3 without list permission: a
// missing file answers 403 AccessDenied, so 403 and 404 both mean "no answer here".
import { RemoteError } from "../core/errors.ts";
import {
  DEFAULT_MAX_JSON_BYTES,
  fetchWithRetry,
  getJson,
  parseJsonBytes,
  readBytes,
  remoteErrorOf,
  type RetryOptions,
} from "../core/http.ts";
import { type Arch, KERNEL_VERSION } from "../core/patterns.ts";
import { envUrl } from "../core/settings.ts";

/** The build metadata base URL: FCOS_BUILDS_URL or the Fedora CoreOS production streams. */
export function fcosBuildsUrl(): string {
  return envUrl("FCOS_BUILDS_URL", "https://builds.coreos.fedoraproject.org/prod/streams");
}

/** A Fedora CoreOS build version such as 43.20251110.3.1. */
export const FCOS_VERSION = /^\d{2,3}\.\d{8}\.\d{1,3}\.\d{1,3}$/;
/** A stream name such as stable, testing, next. */
export const FCOS_STREAM = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** An architecture as the builds server names it: x86_64, aarch64, ppc64le, s390x. */
export const FCOS_ARCH = /^[a-z0-9_]{1,16}$/;
/** A per-release image of the index: `<name>@sha256:<64 hex>`. */
const DIGEST_REF = /^[a-z0-9]+(?:[._\/:-][a-z0-9]+)*@sha256:[0-9a-f]{64}$/;

/** One release of a stream's release index, with its per-arch image digests. */
export interface FcosRelease {
  version: string;
  images: { arch: string; image: string; digestRef: string; digest: string }[];
}

/** `<base>/<stream>/builds/<version>/<arch>/commitmeta.json`, or undefined when a part is malformed. */
export function commitmetaUrl(
  stream: string,
  version: string,
  arch: Arch | string,
  base = fcosBuildsUrl(),
): string | undefined {
  if (!FCOS_STREAM.test(stream) || !FCOS_VERSION.test(version) || !FCOS_ARCH.test(arch)) {
    return undefined;
  }
  return `${base}/${stream}/builds/${version}/${arch}/commitmeta.json`;
}

/** `<base>/<stream>/releases.json`, or undefined when the stream name is malformed. */
export function releaseIndexUrl(stream: string, base = fcosBuildsUrl()): string | undefined {
  return FCOS_STREAM.test(stream) ? `${base}/${stream}/releases.json` : undefined;
}

/**
 * The content snapshot date of a version: its 8-digit second field (43.20251110.3.1 →
 * 2025-11-10), not the day it was released (REFERENCE.md "Build truth").
 */
export function snapshotDateOf(version: string): Date | undefined {
  if (!FCOS_VERSION.test(version)) return undefined;
  const field = version.split(".")[1]!;
  const [year, month, day] = [field.slice(0, 4), field.slice(4, 6), field.slice(6)].map(Number);
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  // Date.UTC rolls 20251341 over into another month: such a field is not a date.
  if (date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day) return undefined;
  return date;
}

/** Orders versions by release date, then by their other fields numerically. */
export function compareFcosVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split(".").map(Number)) as [number[], number[]];
  return pa[1]! - pb[1]! || pa[0]! - pb[0]! || pa[2]! - pb[2]! || pa[3]! - pb[3]!;
}

/**
 * Validates a releases.json document (coreos/stream-metadata-go `release.Index`) and
 * returns its releases oldest first; throws a one-line reason for anything malformed.
 */
export function parseReleaseIndex(body: unknown): FcosRelease[] {
  const releases = (body as { releases?: unknown } | null)?.releases;
  if (typeof body !== "object" || body === null || !Array.isArray(releases)) {
    throw new Error("no releases array");
  }
  const seen = new Set<string>();
  const result: FcosRelease[] = [];
  releases.forEach((item: unknown, index) => {
    const release = item as { version?: unknown; "oci-images"?: unknown } | null;
    const version = release?.version;
    // The first releases of 2019-2020 used a three-field scheme (30.20191014.1): they are
    // skipped, not an error, as nothing here can be built on them anyway.
    if (typeof version === "string" && /^\d{2,3}\.\d{8}\.\d{1,3}$/.test(version)) return;
    if (typeof version !== "string" || !FCOS_VERSION.test(version)) {
      throw new Error(`release ${index} has no valid version (${JSON.stringify(version ?? null)})`);
    }
    if (seen.has(version)) throw new Error(`release ${version} is listed twice`);
    seen.add(version);
    // Releases before 2024 list only ostree commits: no image, nothing to check against.
    const images = release!["oci-images"] ?? [];
    if (!Array.isArray(images)) throw new Error(`oci-images of ${version} is not a list`);
    result.push({
      version,
      images: images.map((entry: unknown) => {
        const image = entry as Record<string, unknown> | null;
        const arch = image?.architecture;
        const name = image?.image;
        const digestRef = image?.["digest-ref"];
        if (
          typeof arch !== "string" || !FCOS_ARCH.test(arch) || typeof name !== "string" ||
          typeof digestRef !== "string" || !DIGEST_REF.test(digestRef)
        ) {
          throw new Error(`an oci-images entry of ${version} is malformed`);
        }
        // DIGEST_REF ends in @sha256:<64 hex> and its name holds no "@": that is the digest.
        const digest = digestRef.slice(digestRef.indexOf("@") + 1);
        return { arch, image: name, digestRef, digest };
      }),
    });
  });
  return result.sort((a, b) => compareFcosVersions(a.version, b.version));
}

/** Reads and validates `<base>/<stream>/releases.json`: the stream's releases, oldest first. */
export async function fetchReleaseIndex(
  stream: string,
  options: { base?: string; retry?: RetryOptions } = {},
): Promise<FcosRelease[]> {
  const url = releaseIndexUrl(stream, options.base ?? fcosBuildsUrl());
  if (!url) throw new RemoteError(`${stream}/releases.json`, undefined, "Invalid stream name");
  const { body, response } = await getJson(
    url,
    { headers: { Accept: "application/json" } },
    options.retry ?? {},
  );
  try {
    return parseReleaseIndex(body);
  } catch (error) {
    throw new RemoteError(
      url,
      response.status,
      `Malformed release index (${error instanceof Error ? error.message : error})`,
    );
  }
}

/**
 * The kernel of a commitmeta.json: its `ostree.linux`, else the `kernel` entry of
 * `rpmostree.rpmdb.pkglist` ([name, epoch, version, release, arch]) as version-release.arch.
 */
export function kernelFromCommitmeta(meta: unknown): string | undefined {
  if (typeof meta !== "object" || meta === null) return undefined;
  const record = meta as Record<string, unknown>;
  const label = record["ostree.linux"];
  if (typeof label === "string" && KERNEL_VERSION.test(label)) return label;
  const pkglist = record["rpmostree.rpmdb.pkglist"];
  if (!Array.isArray(pkglist)) return undefined;
  for (const entry of pkglist) {
    if (!Array.isArray(entry) || entry[0] !== "kernel" || entry.length < 5) continue;
    const [, , version, release, arch] = entry;
    const kernel = `${version}-${release}.${arch}`;
    if (KERNEL_VERSION.test(kernel)) return kernel;
  }
  return undefined;
}

/** Reads a build's commitmeta.json; 403 (S3's answer for a missing file) or 404 is "no such build". */
export async function fetchCommitmeta(
  url: string,
  retry: RetryOptions = {},
): Promise<{ kernel?: string; status: number }> {
  const response = await fetchWithRetry(url, { headers: { Accept: "application/json" } }, retry);
  if (response.status === 404 || response.status === 403) {
    await response.body?.cancel();
    return { status: response.status };
  }
  if (!response.ok) throw await remoteErrorOf(url, response);
  // A real commitmeta.json is about 100 KiB: the JSON cap bounds what a hostile server sends.
  const body = parseJsonBytes(
    await readBytes(response, url, DEFAULT_MAX_JSON_BYTES),
    url,
    response.status,
  );
  return { kernel: kernelFromCommitmeta(body), status: response.status };
}

/** The kernel of one build from its commitmeta.json; undefined when the server has none (403/404). */
export async function fetchBuildKernel(
  stream: string,
  version: string,
  arch: string,
  options: { base?: string; retry?: RetryOptions } = {},
): Promise<string | undefined> {
  const url = commitmetaUrl(stream, version, arch, options.base ?? fcosBuildsUrl());
  if (!url) return undefined;
  return (await fetchCommitmeta(url, options.retry ?? {})).kernel;
}
