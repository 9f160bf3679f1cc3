// OCI distribution API client over plain fetch: manifests (OCI index, Docker manifest list,
// platform selection), image config labels, blobs, and the anonymous Bearer-token flow.
// No container engine and no pull: a tag is resolved to a digest once, then name@digest.
import { CheckError, InputError, RemoteError } from "./errors.ts";
import { fetchWithRetry, remoteErrorOf, type RetryOptions } from "./http.ts";
import { type Arch, imageRef, ociArch } from "./patterns.ts";

export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  /** registry/repository */
  name: string;
}

export interface Layer {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ImageInspection {
  /** The index-or-manifest digest the reference resolved to. */
  digest: string;
  /** name@digest */
  pinned: string;
  labels: Record<string, string>;
  layers: Layer[];
}

const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(", ");

/** Splits and validates `[host[:port]/]path[:tag][@sha256:…]`; a tag or digest is required. */
export function parseImageRef(ref: string): ImageRef {
  imageRef(ref);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) [rest, digest] = [rest.slice(0, at), rest.slice(at + 1)];
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) [rest, tag] = [rest.slice(0, colon), rest.slice(colon + 1)];
  if (!tag && !digest) {
    throw new InputError(
      `Image reference ${JSON.stringify(ref)} has no tag or digest (expected e.g. ${rest}:stable)`,
    );
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
  const registry = hasHost ? first : "docker.io";
  let repository = hasHost ? rest.slice(slash + 1) : rest;
  if (registry === "docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, tag, digest, name: `${registry}/${repository}` };
}

/** http:// for a loopback registry (127.0.0.1:PORT, localhost:PORT), https:// otherwise. */
export function registryBaseUrl(ref: ImageRef): string {
  if (/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(ref.registry)) return `http://${ref.registry}`;
  const host = ref.registry === "docker.io" ? "registry-1.docker.io" : ref.registry;
  return `https://${host}`;
}

/** The URL of `path` (`manifests/<ref>`, `blobs/<digest>`) in the repository of `ref`. */
function registryUrl(ref: ImageRef, path: string): string {
  return `${registryBaseUrl(ref)}/v2/${ref.repository}/${path}`;
}

/** The parameters of a `WWW-Authenticate: Bearer realm=…,service=…` challenge. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const match of header.slice(7).matchAll(/(\w+)="([^"]*)"|(\w+)=([^\s,]+)/g)) {
    params[(match[1] ?? match[3])!.toLowerCase()] = match[2] ?? match[4]!;
  }
  return params.realm ? params : undefined;
}

// Tokens per repository, shared by every request of this process.
const tokens = new Map<string, Promise<string>>();

async function fetchToken(ref: ImageRef, challenge: Record<string, string>, retry: RetryOptions) {
  const url = new URL(challenge.realm!);
  if (challenge.service) url.searchParams.set("service", challenge.service);
  url.searchParams.set("scope", `repository:${ref.repository}:pull`);
  const response = await fetchWithRetry(url, {}, retry);
  if (!response.ok) throw await remoteErrorOf(url.href, response);
  const body = await response.json().catch(() => ({})) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new RemoteError(url.href, response.status, "No token in the answer");
  return token;
}

/** One GET/HEAD, following redirects by hand so Authorization never leaves the registry host. */
async function send(
  url: string,
  init: RequestInit,
  token: string | undefined,
  retry: RetryOptions,
): Promise<Response> {
  const origin = new URL(url).origin;
  let current = url;
  for (let hop = 0; hop < 6; hop++) {
    const headers = new Headers(init.headers);
    if (token && new URL(current).origin === origin) {
      headers.set("Authorization", `Bearer ${token}`);
    }
    const response = await fetchWithRetry(current, { ...init, headers, redirect: "manual" }, retry);
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    current = new URL(location, current).href;
  }
  throw new RemoteError(url, undefined, "Too many redirects");
}

/** A request to the registry; after a 401 Bearer challenge, fetches a token and retries once. */
async function registryRequest(
  ref: ImageRef,
  path: string,
  init: RequestInit = {},
  retry: RetryOptions = {},
): Promise<Response> {
  const url = registryUrl(ref, path);
  const key = ref.name;
  const cached = tokens.get(key);
  const response = await send(url, init, cached ? await cached : undefined, retry);
  const challenge = response.status === 401
    ? parseBearerChallenge(response.headers.get("www-authenticate"))
    : undefined;
  if (!challenge) return response;
  await response.body?.cancel();
  const pending = fetchToken(ref, challenge, retry);
  tokens.set(key, pending);
  pending.catch(() => tokens.delete(key));
  return await send(url, init, await pending, retry);
}

async function sha256Of(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

interface Manifest {
  mediaType?: string;
  manifests?: {
    digest: string;
    mediaType?: string;
    platform?: { os?: string; architecture?: string };
  }[];
  config?: { digest: string };
  layers?: Layer[];
}

/** GETs a manifest by tag or digest; its digest is Docker-Content-Digest or the bytes' sha256. */
async function getManifest(ref: ImageRef, reference: string) {
  const path = `manifests/${reference}`;
  const response = await registryRequest(ref, path, { headers: { Accept: ACCEPT } });
  const url = registryUrl(ref, path);
  if (!response.ok) throw await remoteErrorOf(url, response);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const computed = await sha256Of(bytes);
  if (reference.startsWith("sha256:") && computed !== reference) {
    throw new RemoteError(url, response.status, `Manifest content does not match ${reference}`);
  }
  const digest = response.headers.get("docker-content-digest") ?? computed;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new RemoteError(url, response.status, "Malformed manifest JSON");
  }
  const mediaType = manifest.mediaType ?? response.headers.get("content-type") ?? "";
  return { manifest, mediaType, digest, url };
}

/** The index entry for linux/<arch>, skipping attestation entries (unknown/unknown). */
export function pickPlatform(manifest: Manifest, arch: Arch): string | undefined {
  const wanted = ociArch(arch);
  return manifest.manifests?.find((m) =>
    m.platform?.os === "linux" && m.platform.architecture === wanted
  )?.digest;
}

/** Resolves a reference for one arch and reads its config labels and layer list. */
export async function inspectImage(ref: string, arch: Arch): Promise<ImageInspection> {
  const image = parseImageRef(ref);
  const top = await getManifest(image, image.digest ?? image.tag!);
  let manifest = top.manifest;
  if (manifest.manifests || INDEX_TYPES.includes(top.mediaType)) {
    const child = pickPlatform(manifest, arch);
    if (!child) {
      const seen = (manifest.manifests ?? []).map((m) =>
        `${m.platform?.os ?? "?"}/${m.platform?.architecture ?? "?"}`
      );
      throw new CheckError(
        `${ref} has no linux/${ociArch(arch)} image (platforms: ${seen.join(", ") || "none"})`,
      );
    }
    manifest = (await getManifest(image, child)).manifest;
  }
  if (!manifest.config?.digest) {
    throw new RemoteError(top.url, 200, "The manifest has no config");
  }
  const configResponse = await fetchBlob(ref, manifest.config.digest);
  let labels: Record<string, string>;
  try {
    const config = await configResponse.json() as { config?: { Labels?: Record<string, string> } };
    labels = config.config?.Labels ?? {};
  } catch {
    throw new RemoteError(
      registryUrl(image, `blobs/${manifest.config.digest}`),
      configResponse.status,
      "Malformed image config JSON",
    );
  }
  return {
    digest: top.digest,
    pinned: `${image.name}@${top.digest}`,
    labels,
    layers: manifest.layers ?? [],
  };
}

/** GETs a blob; redirects (to a CDN) are followed without the Authorization header. */
export async function fetchBlob(ref: string, digest: string): Promise<Response> {
  const image = parseImageRef(ref);
  const path = `blobs/${digest}`;
  // Layers can be large: allow time to stream the body, not only for the headers.
  const response = await registryRequest(image, path, {}, { timeoutMs: 600_000 });
  if (!response.ok) {
    throw await remoteErrorOf(registryUrl(image, path), response);
  }
  return response;
}

/** HEAD of a manifest: does the tag (or digest) exist, and its digest when the registry says. */
export async function manifestExists(ref: string): Promise<{ exists: boolean; digest?: string }> {
  const image = parseImageRef(ref);
  const path = `manifests/${image.digest ?? image.tag!}`;
  const response = await registryRequest(image, path, {
    method: "HEAD",
    headers: { Accept: ACCEPT },
  });
  await response.body?.cancel();
  if (response.status === 404) return { exists: false };
  if (!response.ok) {
    throw await remoteErrorOf(registryUrl(image, path), response);
  }
  return { exists: true, digest: response.headers.get("docker-content-digest") ?? image.digest };
}
