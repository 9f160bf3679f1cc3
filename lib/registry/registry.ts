// Domain lib/registry/ — the OCI registry client: manifests, labels, blobs, pushes
// (registry_push.ts), Bearer tokens. May import: lib/core/, lib/github/ (the token) and, lazily,
// lib/matrix/ (the publish registry); nothing of builds, CoreOS or signing.
// See docs/architecture.md.
//
// OCI distribution API client over plain fetch: manifests (OCI index, Docker manifest list,
// platform selection), image config labels, blobs, and the Bearer-token flow (anonymous, or
// with GitHub credentials for GitHub's own registry). No container engine and no pull: a tag
// is resolved to a digest once, then name@digest. Nothing a registry says is trusted: every
// digest is checked before it reaches a URL, every manifest and blob fetched by digest is
// hashed, a tag's digest is the hash of the bytes served, and answers are size-capped.
import { createHash } from "node:crypto";
import { CheckError, InputError, RemoteError } from "../core/errors.ts";
import { githubToken } from "../github/github.ts";
import {
  answerDeadlineMs,
  fetchWithRetry,
  httpUrl,
  isLoopbackRegistry,
  parseJsonBytes,
  readBytes,
  remoteErrorOf,
  type RetryOptions,
} from "../core/http.ts";
import { type Arch, DIGEST, imageRef, ociArch } from "../core/patterns.ts";
import { isLoopbackHost } from "../core/settings.ts";

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

/** An OCI image index / manifest or a Docker manifest list / v2 manifest, as read. */
export interface Manifest {
  mediaType?: string;
  manifests?: {
    digest: string;
    mediaType?: string;
    platform?: { os?: string; architecture?: string; variant?: string };
    annotations?: Record<string, string>;
  }[];
  config?: { digest: string; mediaType?: string; size?: number };
  layers?: Layer[];
  subject?: { digest: string; mediaType?: string };
}

export interface ImageInspection {
  /** The index-or-manifest digest the reference resolved to. */
  digest: string;
  /** The per-arch image manifest digest (equals `digest` when the reference is not an index). */
  manifestDigest: string;
  /** name@digest */
  pinned: string;
  labels: Record<string, string>;
  layers: Layer[];
}

export interface RegistryOptions {
  retry?: RetryOptions;
}

/** Largest manifest read: 4 MiB, the limit the distribution spec asks registries to accept. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config blob read: 8 MiB. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Largest token endpoint answer read: 1 MiB. */
export const MAX_TOKEN_BYTES = 1024 * 1024;

const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(", ");
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Splits and validates `[host[:port]/]path[:tag][@sha256:…]`; a tag or digest is required
 * unless `requireTag` is false (a bare repository name).
 */
export function parseImageRef(ref: string, requireTag = true): ImageRef {
  imageRef(ref);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) [rest, digest] = [rest.slice(0, at), rest.slice(at + 1)];
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) [rest, tag] = [rest.slice(0, colon), rest.slice(colon + 1)];
  if (requireTag && !tag && !digest) {
    throw new InputError(
      `Image reference ${JSON.stringify(ref)} has no tag or digest (expected e.g. ${rest}:stable)`,
    );
  }
  if (digest !== undefined) checkDigest(digest, ref);
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
  const registry = hasHost ? first : "docker.io";
  const port = /:(\d+)$/.exec(registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new InputError(
      `Invalid image reference: ${JSON.stringify(ref)} (port ${port} is not from 1 to 65535)`,
    );
  }
  let repository = hasHost ? rest.slice(slash + 1) : rest;
  if (registry === "docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, tag, digest, name: `${registry}/${repository}` };
}

/** A digest from a reference or a server: only `sha256:<64 hex>` is ever put into a URL. */
function checkDigest(digest: string, where: string): string {
  if (!DIGEST.test(digest)) {
    throw new RemoteError(
      where.slice(0, 200),
      undefined,
      `Malformed digest ${JSON.stringify(digest.slice(0, 80))} (expected sha256:<64 hex digits>)`,
    );
  }
  return digest;
}

/** http:// for a loopback registry (127.0.0.1, localhost, [::1], with a port), https:// otherwise. */
export function registryBaseUrl(ref: ImageRef): string {
  // a bare registry is tested as the first component of a reference
  if (isLoopbackRegistry(`${ref.registry}/`)) return `http://${ref.registry}`;
  const host = ref.registry === "docker.io" ? "registry-1.docker.io" : ref.registry;
  return `https://${host}`;
}

/** The URL of `path` (`manifests/<ref>`, `blobs/<digest>`) in the repository of `ref`. */
function registryUrl(ref: ImageRef, path: string): string {
  return `${registryBaseUrl(ref)}/v2/${ref.repository}/${path}`;
}

/** The parameters of a `WWW-Authenticate: Bearer realm=…,service=…` challenge. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || header.length > 4096 || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const match of header.slice(7).matchAll(/(\w+)="([^"]*)"|(\w+)=([^\s,]+)/g)) {
    params[(match[1] ?? match[3])!.toLowerCase()] = match[2] ?? match[4]!;
  }
  return params.realm ? params : undefined;
}

/** A URL a server named (redirect, token realm): http(s) only, plain http only to loopback. */
export function serverUrl(location: string, base: string): URL {
  const url = httpUrl(location, base);
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new RemoteError(base, undefined, `Refusing plain http to ${url.host.slice(0, 100)}`);
  }
  return url;
}

/**
 * The registries GitHub credentials may go to: GitHub's own (ghcr.io), and the registry of
 * matrix.yaml publish.image only when it is a loopback stand-in (a fork publishing to
 * quay.io must not send its GitHub token there).
 */
export function githubCredentialRegistries(publishRegistry?: string): Set<string> {
  const own = new Set(["ghcr.io"]);
  if (publishRegistry && isLoopbackRegistry(`${publishRegistry}/`)) {
    own.add(publishRegistry);
  }
  return own;
}

// The registry of matrix.yaml publish.image, read once and only when credentials may be sent.
const publishRegistries = new Map<string, Promise<string | undefined>>();

async function ownRegistries(): Promise<Set<string>> {
  const file = Deno.env.get("MATRIX_FILE") ?? "";
  let publish = publishRegistries.get(file);
  if (!publish) {
    publish = import("../matrix/matrix.ts")
      .then(({ loadMatrix }) => loadMatrix())
      .then((matrix) => parseImageRef(matrix.publish.image, false).registry)
      .catch(() => undefined); // no readable matrix.yaml: GitHub's registry only
    publishRegistries.set(file, publish);
  }
  return githubCredentialRegistries(await publish);
}

/** Basic credentials for a token endpoint, only for GitHub's registry and only on its own host. */
export async function credentialsFor(ref: ImageRef, realm: URL): Promise<string | undefined> {
  if (realm.host !== ref.registry || !(await ownRegistries()).has(ref.registry)) return undefined;
  const token = await githubToken();
  if (!token) return undefined;
  const user = Deno.env.get("GITHUB_ACTOR") || "token";
  let binary = "";
  for (const byte of new TextEncoder().encode(`${user}:${token.trim()}`)) {
    binary += String.fromCharCode(byte);
  }
  return `Basic ${btoa(binary)}`;
}

/** The message of a 401/403 that remains: the registry would not let us read. */
function cannotRead(url: string, status: number): RemoteError {
  return new RemoteError(
    url,
    status,
    "Cannot read the registry (a private package needs GH_TOKEN or GITHUB_TOKEN with read:packages)",
  );
}

/** A RemoteError for a failed registry answer; 401/403 say the registry could not be read. */
async function registryError(url: string, response: Response): Promise<RemoteError> {
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => {});
    return cannotRead(url, response.status);
  }
  return await remoteErrorOf(url, response);
}

// Tokens per repository, shared by every request of this process.
const tokens = new Map<string, Promise<string>>();

async function askToken(url: URL, authorization: string | undefined, retry: RetryOptions) {
  const headers: HeadersInit = authorization ? { Authorization: authorization } : {};
  return await fetchWithRetry(url, { headers, redirect: "manual" }, retry);
}

async function fetchToken(ref: ImageRef, challenge: Record<string, string>, retry: RetryOptions) {
  const url = serverUrl(challenge.realm!, registryBaseUrl(ref));
  if (challenge.service) url.searchParams.set("service", challenge.service);
  url.searchParams.set("scope", `repository:${ref.repository}:pull`);
  const credentials = await credentialsFor(ref, url);
  let response = await askToken(url, credentials, retry);
  // Credentials the registry refuses (no read:packages) may still read a public package.
  if (credentials && (response.status === 401 || response.status === 403)) {
    await response.body?.cancel().catch(() => {});
    response = await askToken(url, undefined, retry);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => {});
    throw cannotRead(url.href, response.status);
  }
  if (!response.ok) throw await remoteErrorOf(url.href, response);
  return await tokenOf(response, url.href, retry);
}

/** The token of a token endpoint's 200 answer (bounded in size and time), or a RemoteError. */
export async function tokenOf(response: Response, url: string, retry: RetryOptions) {
  const body = parseJsonBytes(
    await readBytes(response, url, MAX_TOKEN_BYTES, answerDeadlineMs(retry)),
    url,
    response.status,
  ) as { token?: unknown; access_token?: unknown } | null;
  const token = body?.token ?? body?.access_token;
  // The token goes into a header: printable ASCII only.
  if (typeof token !== "string" || !/^[\x21-\x7e]{1,65536}$/.test(token)) {
    throw new RemoteError(url, response.status, "No usable token in the answer");
  }
  return token;
}

/** One GET/HEAD, following redirects by hand so Authorization never leaves the registry origin. */
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
    await response.body?.cancel().catch(() => {});
    current = serverUrl(location, current).href;
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
  await response.body?.cancel().catch(() => {});
  const pending = fetchToken(ref, challenge, retry);
  tokens.set(key, pending);
  pending.catch(() => tokens.delete(key));
  return await send(url, init, await pending, retry);
}

async function sha256Of(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks the shape of a parsed manifest: every digest sha256, lists are lists. */
function validateManifest(value: unknown, url: string): Manifest {
  const bad = (what: string) => new RemoteError(url, 200, `Malformed manifest (${what})`);
  if (!isObject(value)) throw bad("not a JSON object");
  const optionalString = (v: unknown, what: string) => {
    if (v !== undefined && typeof v !== "string") throw bad(`${what} is not a string`);
  };
  const descriptor = (v: unknown, what: string) => {
    if (!isObject(v)) throw bad(`${what} is not an object`);
    if (typeof v.digest !== "string" || !DIGEST.test(v.digest)) {
      throw bad(`${what}.digest is not a sha256 digest`);
    }
    optionalString(v.mediaType, `${what}.mediaType`);
    if (v.size !== undefined && !(Number.isSafeInteger(v.size) && (v.size as number) >= 0)) {
      throw bad(`${what}.size is not a size`);
    }
  };
  optionalString(value.mediaType, "mediaType");
  if (value.manifests !== undefined) {
    if (!Array.isArray(value.manifests)) throw bad("manifests is not a list");
    value.manifests.forEach((m, i) => {
      descriptor(m, `manifests[${i}]`);
      const platform = (m as Record<string, unknown>).platform;
      if (platform !== undefined && !isObject(platform)) {
        throw bad(`manifests[${i}].platform is not an object`);
      }
    });
  }
  if (value.config !== undefined) descriptor(value.config, "config");
  if (value.subject !== undefined) descriptor(value.subject, "subject");
  if (value.layers !== undefined) {
    if (!Array.isArray(value.layers)) throw bad("layers is not a list");
    value.layers.forEach((layer, i) => {
      descriptor(layer, `layers[${i}]`);
      if (typeof (layer as Record<string, unknown>).mediaType !== "string") {
        throw bad(`layers[${i}].mediaType is not a string`);
      }
    });
  }
  return value as Manifest;
}

/** A tag or a digest, checked before it becomes part of a URL. */
function checkReference(reference: string, ref: string): string {
  if (reference.startsWith("sha256:") || reference.includes(":")) {
    return checkDigest(reference, ref);
  }
  if (!TAG.test(reference)) {
    throw new InputError(
      `Invalid tag ${
        JSON.stringify(reference.slice(0, 140))
      } for ${ref} (expected letters, digits, _ . -)`,
    );
  }
  return reference;
}

/**
 * GETs a manifest by tag or digest, verified: by digest its bytes must hash to it; by tag
 * its digest is the bytes' sha256 and a Docker-Content-Digest header must agree. A missing
 * manifest throws RemoteError with status 404.
 */
async function getManifest(ref: ImageRef, reference: string, retry: RetryOptions = {}) {
  checkReference(reference, ref.name);
  const path = `manifests/${reference}`;
  const url = registryUrl(ref, path);
  const response = await registryRequest(ref, path, { headers: { Accept: ACCEPT } }, retry);
  if (!response.ok) throw await registryError(url, response);
  const bytes = await readBytes(response, url, MAX_MANIFEST_BYTES, answerDeadlineMs(retry));
  const digest = await sha256Of(bytes);
  if (reference.startsWith("sha256:") && digest !== reference) {
    throw new RemoteError(url, response.status, `Manifest content does not match ${reference}`);
  }
  const header = response.headers.get("docker-content-digest");
  if (header !== null && header !== digest) {
    const said = DIGEST.test(header) ? header : "a malformed digest";
    throw new RemoteError(
      url,
      response.status,
      `Docker-Content-Digest (${said}) does not match the manifest content (${digest})`,
    );
  }
  const manifest = validateManifest(parseJsonBytes(bytes, url, response.status), url);
  const contentType = response.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
  const mediaType = manifest.mediaType ?? contentType;
  return { manifest, mediaType, digest, url };
}

/**
 * Reads one manifest of the repository of `ref` by tag or digest (`reference`), verified
 * against its digest; a tag's digest is computed from the bytes.
 */
export async function readManifest(
  ref: string,
  reference: string,
  options: RegistryOptions = {},
): Promise<{ digest: string; mediaType: string; manifest: Manifest }> {
  const { manifest, mediaType, digest } = await getManifest(
    parseImageRef(ref, false),
    reference,
    options.retry,
  );
  return { digest, mediaType, manifest };
}

/** The index entry for linux/<arch>, skipping attestation entries (unknown/unknown). */
export function pickPlatform(manifest: Manifest, arch: Arch): string | undefined {
  const wanted = ociArch(arch);
  return manifest.manifests?.find((m) =>
    m.platform?.os === "linux" && m.platform.architecture === wanted
  )?.digest;
}

/** A reference resolved for one arch: what the tag (or digest) and the index say, no config yet. */
export interface PlatformResolution {
  /** The index-or-manifest digest the reference resolved to. */
  digest: string;
  /** The per-arch image manifest digest (equals `digest` when the reference is not an index). */
  manifestDigest: string;
  /** name@digest */
  pinned: string;
  /** The per-arch manifest when resolving already read it (the reference was not an index). */
  manifest?: Manifest;
  /** Where `manifest` was read from (for messages). */
  manifestUrl?: string;
}

/**
 * Resolves a reference for one arch with one manifest read: the tag (or digest) gives the
 * index or manifest, verified against its digest; an index names the per-arch manifest
 * digest, which is not read here (readImageConfig reads it, verified, when needed).
 */
export async function resolvePlatform(
  ref: string,
  arch: Arch,
  options: RegistryOptions = {},
): Promise<PlatformResolution> {
  const image = parseImageRef(ref);
  const top = await getManifest(image, image.digest ?? image.tag!, options.retry);
  const pinned = `${image.name}@${top.digest}`;
  if (top.manifest.manifests || INDEX_TYPES.includes(top.mediaType)) {
    const child = pickPlatform(top.manifest, arch);
    if (!child) {
      const seen = (top.manifest.manifests ?? []).map((m) =>
        `${m.platform?.os ?? "?"}/${m.platform?.architecture ?? "?"}`
      );
      throw new CheckError(
        `${ref} has no linux/${ociArch(arch)} image (platforms: ${
          seen.slice(0, 20).join(", ") || "none"
        })`,
      );
    }
    // pickPlatform returns a digest validateManifest checked: safe to put into a URL later.
    return { digest: top.digest, manifestDigest: child, pinned };
  }
  return {
    digest: top.digest,
    manifestDigest: top.digest,
    pinned,
    manifest: top.manifest,
    manifestUrl: top.url,
  };
}

/** An image's config blob as JSON: verified against its digest, capped and bounded in time. */
export async function readConfigBlob(
  ref: string,
  configDigest: string,
  options: RegistryOptions = {},
): Promise<unknown> {
  const configUrl = registryUrl(parseImageRef(ref), `blobs/${configDigest}`);
  const response = await fetchBlob(ref, configDigest, options);
  // Small and capped; the verifying body errors on a mismatch at its end.
  const bytes = await readBytes(
    response,
    configUrl,
    MAX_CONFIG_BYTES,
    answerDeadlineMs(options.retry),
  );
  return parseJsonBytes(bytes, configUrl, response.status);
}

/**
 * The config labels and layer list of a resolved image: reads the per-arch manifest by its
 * digest (unless resolving already read it), then the config blob, both verified and capped.
 */
export async function readImageConfig(
  platform: PlatformResolution,
  options: RegistryOptions = {},
): Promise<ImageInspection> {
  const ref = platform.pinned;
  const image = parseImageRef(ref);
  let manifest = platform.manifest;
  let url = platform.manifestUrl ?? registryUrl(image, `manifests/${platform.manifestDigest}`);
  if (!manifest) {
    const read = await getManifest(image, platform.manifestDigest, options.retry);
    manifest = read.manifest;
    url = read.url;
  }
  if (!manifest.config?.digest) {
    throw new RemoteError(url, 200, "The manifest has no config");
  }
  const config = await readConfigBlob(ref, manifest.config.digest, options) as {
    config?: { Labels?: unknown };
  } | null;
  const rawLabels = isObject(config) && isObject(config.config) ? config.config.Labels : undefined;
  const labels: Record<string, string> = {};
  if (isObject(rawLabels)) {
    for (const [key, value] of Object.entries(rawLabels)) {
      if (typeof value === "string") labels[key] = value;
    }
  }
  return {
    digest: platform.digest,
    manifestDigest: platform.manifestDigest,
    pinned: platform.pinned,
    labels,
    layers: manifest.layers ?? [],
  };
}

/** Resolves a reference for one arch and reads its config labels and layer list. */
export async function inspectImage(
  ref: string,
  arch: Arch,
  options: RegistryOptions = {},
): Promise<ImageInspection> {
  return await readImageConfig(await resolvePlatform(ref, arch, options), options);
}

/**
 * A stream that passes bytes through while hashing them, and errors at its end when they
 * do not hash to `digest` (layers are too big to hold in memory before checking).
 */
function verifying(
  digest: string,
  url: string,
  status: number,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash("sha256");
  return new TransformStream({
    transform(chunk, controller) {
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush(controller) {
      const actual = `sha256:${hash.digest("hex")}`;
      if (actual !== digest) {
        controller.error(
          new RemoteError(url, status, `Blob content does not match ${digest} (got ${actual})`),
        );
      }
    },
  });
}

/**
 * GETs a blob by digest; redirects (to a CDN) are followed without the Authorization header.
 * The body is verified while it is read: reading it to the end errors when the bytes do not
 * hash to `digest`. Each read waits at most the configured timeout (HTTP_TIMEOUT_MS).
 */
export async function fetchBlob(
  ref: string,
  digest: string,
  options: RegistryOptions = {},
): Promise<Response> {
  const image = parseImageRef(ref);
  checkDigest(digest, ref);
  const path = `blobs/${digest}`;
  const url = registryUrl(image, path);
  const response = await registryRequest(image, path, {}, options.retry);
  if (!response.ok) throw await registryError(url, response);
  if (!response.body) throw new RemoteError(url, response.status, "Empty blob answer");
  return new Response(response.body.pipeThrough(verifying(digest, url, response.status)), {
    status: response.status,
    headers: response.headers,
  });
}

/**
 * Does the tag (or digest) exist, and its digest: the manifest is read and hashed (a HEAD's
 * Docker-Content-Digest alone is not trusted). 401/403 throw "Cannot read the registry".
 */
export async function manifestExists(
  ref: string,
  options: RegistryOptions = {},
): Promise<{ exists: true; digest: string } | { exists: false; digest?: undefined }> {
  const image = parseImageRef(ref);
  try {
    const { digest } = await getManifest(image, image.digest ?? image.tag!, options.retry);
    return { exists: true, digest };
  } catch (error) {
    if (error instanceof RemoteError && error.status === 404) return { exists: false };
    throw error;
  }
}
