// The write side of the OCI distribution API, for small documents held in memory (signature
// payloads, configs, manifests): blob upload (POST /blobs/uploads/, then PUT <location>?digest=)
// and manifest PUT, with tokens asked for `pull,push` scope after the registry's 401 challenge.
// GitHub credentials go only where lib/registry/registry.ts sends them (GitHub's registry, or a loopback
// stand-in); an upload location on another origin is refused, never sent the token; the
// digest a registry answers must be the one computed here.
import { createHash } from "node:crypto";
import { RemoteError } from "../core/errors.ts";
import { fetchWithRetry, remoteErrorOf } from "../core/http.ts";
import {
  credentialsFor,
  type ImageRef,
  parseBearerChallenge,
  registryBaseUrl,
  serverUrl,
  tokenOf,
} from "./registry.ts";

function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

// Push-scoped tokens per repository, shared by every request of this process.
const pushTokens = new Map<string, Promise<string>>();

function cannotWrite(url: string, status: number): RemoteError {
  return new RemoteError(
    url,
    status,
    "Cannot write to the registry (GitHub's registry needs GH_TOKEN or GITHUB_TOKEN with " +
      "write:packages, and the workflow job packages: write)",
  );
}

async function pushToken(ref: ImageRef, challenge: Record<string, string>): Promise<string> {
  const url = serverUrl(challenge.realm!, registryBaseUrl(ref));
  if (challenge.service) url.searchParams.set("service", challenge.service);
  url.searchParams.set("scope", `repository:${ref.repository}:pull,push`);
  const credentials = await credentialsFor(ref, url);
  const headers: HeadersInit = credentials ? { Authorization: credentials } : {};
  const response = await fetchWithRetry(url, { headers, redirect: "manual" });
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => {});
    throw cannotWrite(url.href, response.status);
  }
  if (!response.ok) throw await remoteErrorOf(url.href, response);
  return await tokenOf(response, url.href, {});
}

async function sendOnce(
  url: string,
  init: RequestInit,
  token: string | undefined,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return await fetchWithRetry(url, { ...init, headers, redirect: "manual" });
}

/**
 * One request to the registry of `ref` at `url` (which must be on the registry's origin); a
 * 401 Bearer challenge gets a push-scoped token and one retry. 401/403 after that: RemoteError (a CheckError).
 */
async function pushRequest(ref: ImageRef, url: string, init: RequestInit): Promise<Response> {
  const base = registryBaseUrl(ref);
  if (new URL(url).origin !== new URL(base).origin) {
    throw new RemoteError(
      url.slice(0, 200),
      undefined,
      `Refusing an upload location outside ${new URL(base).host}`,
    );
  }
  const cached = pushTokens.get(ref.name);
  let response = await sendOnce(url, init, cached ? await cached : undefined);
  const challenge = response.status === 401
    ? parseBearerChallenge(response.headers.get("www-authenticate"))
    : undefined;
  if (challenge) {
    await response.body?.cancel().catch(() => {});
    const pending = pushToken(ref, challenge);
    pushTokens.set(ref.name, pending);
    pending.catch(() => pushTokens.delete(ref.name));
    response = await sendOnce(url, init, await pending);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => {});
    throw cannotWrite(url, response.status);
  }
  return response;
}

function repositoryUrl(ref: ImageRef, path: string): string {
  return `${registryBaseUrl(ref)}/v2/${ref.repository}/${path}`;
}

/** A digest a registry answered must be the one computed here (when it says one). */
function checkAnsweredDigest(response: Response, url: string, digest: string): void {
  const answered = response.headers.get("docker-content-digest");
  if (answered !== null && answered !== digest) {
    throw new RemoteError(
      url,
      response.status,
      `The registry stored ${answered.slice(0, 80)}, not ${digest}`,
    );
  }
}

/** Uploads a blob held in memory unless the repository has it; returns its digest. */
export async function pushBlob(ref: ImageRef, bytes: Uint8Array): Promise<string> {
  const digest = sha256Digest(bytes);
  const blobUrl = repositoryUrl(ref, `blobs/${digest}`);
  const head = await pushRequest(ref, blobUrl, { method: "HEAD" });
  await head.body?.cancel().catch(() => {});
  if (head.ok) return digest;
  const startUrl = repositoryUrl(ref, "blobs/uploads/");
  const start = await pushRequest(ref, startUrl, { method: "POST" });
  if (start.status !== 202) throw await remoteErrorOf(startUrl, start);
  await start.body?.cancel().catch(() => {});
  const location = start.headers.get("location");
  if (!location) throw new RemoteError(startUrl, start.status, "No upload location in the answer");
  const upload = serverUrl(location, startUrl);
  upload.searchParams.set("digest", digest);
  const put = await pushRequest(ref, upload.href, {
    method: "PUT",
    headers: { "Content-Type": "application/octet-stream" },
    body: bytes as BodyInit,
  });
  if (put.status !== 201) throw await remoteErrorOf(startUrl, put);
  await put.body?.cancel().catch(() => {});
  checkAnsweredDigest(put, startUrl, digest);
  return digest;
}

/** PUTs a manifest under `tag`; returns its digest (the sha256 of the bytes sent). */
export async function pushManifest(
  ref: ImageRef,
  tag: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<string> {
  const digest = sha256Digest(bytes);
  const url = repositoryUrl(ref, `manifests/${tag}`);
  const response = await pushRequest(ref, url, {
    method: "PUT",
    headers: { "Content-Type": mediaType },
    body: bytes as BodyInit,
  });
  if (response.status !== 201 && response.status !== 200) {
    throw await remoteErrorOf(url, response);
  }
  await response.body?.cancel().catch(() => {});
  checkAnsweredDigest(response, url, digest);
  return digest;
}
