// Fedora CoreOS build metadata (FCOS_BUILDS_URL): the kernel of a build, read from its
// commitmeta.json, for images that no longer carry the ostree.linux label (Fedora 43+).
import { RemoteError } from "./errors.ts";
import { fetchWithRetry, remoteErrorOf, type RetryOptions } from "./http.ts";
import { type Arch, KERNEL_VERSION } from "./patterns.ts";

/** The build metadata base URL: FCOS_BUILDS_URL or the Fedora CoreOS production streams. */
export function fcosBuildsUrl(): string {
  return (Deno.env.get("FCOS_BUILDS_URL") ?? "https://builds.coreos.fedoraproject.org/prod/streams")
    .replace(/\/+$/, "");
}

/** A Fedora CoreOS build version such as 43.20251110.3.1. */
export const FCOS_VERSION = /^\d{2,3}\.\d{8}\.\d{1,3}\.\d{1,3}$/;
/** A stream name such as stable, testing, next. */
export const FCOS_STREAM = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** `<base>/<stream>/builds/<version>/<arch>/commitmeta.json`, or undefined when a part is malformed. */
export function commitmetaUrl(
  stream: string,
  version: string,
  arch: Arch,
  base = fcosBuildsUrl(),
): string | undefined {
  if (!FCOS_STREAM.test(stream) || !FCOS_VERSION.test(version)) return undefined;
  return `${base}/${stream}/builds/${version}/${arch}/commitmeta.json`;
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

/** Reads a build's commitmeta.json; a 404 is "no such build" (undefined), not a failure. */
export async function fetchCommitmeta(
  url: string,
  retry: RetryOptions = {},
): Promise<{ kernel?: string; status: number }> {
  const response = await fetchWithRetry(url, { headers: { Accept: "application/json" } }, retry);
  if (response.status === 404) {
    await response.body?.cancel();
    return { status: 404 };
  }
  if (!response.ok) throw await remoteErrorOf(url, response);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new RemoteError(url, response.status, "Malformed JSON in the answer");
  }
  return { kernel: kernelFromCommitmeta(body), status: response.status };
}
