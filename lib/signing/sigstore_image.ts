// Signing and verifying an image in its registry, cosign's way (lib/signing/sigstore.ts has the format):
// the signature manifest lives in the image's own repository under `sha256-<hex>.sig`; signing
// adds one layer to it (keeping the others), verifying reads every layer and accepts the image
// when one of them is signed by the given key and names this repository and digest.
import { InputError, RemoteError } from "../core/errors.ts";
import { readBytes } from "../core/http.ts";
import { fetchBlob, type ImageRef, parseImageRef, readManifest } from "../registry/registry.ts";
import { pushBlob, pushManifest } from "../registry/registry_push.ts";
import {
  type Expected,
  type LayerVerdict,
  mergeLayers,
  OCI_MANIFEST_TYPE,
  type SignatureLayer,
  signatureManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  verifyLayer,
} from "./sigstore.ts";

/** Largest payload blob read: a simple-signing payload is a few hundred bytes. */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Most signature layers looked at. */
export const MAX_SIGNATURES = 100;

export interface SignResult {
  /** registry/repository */
  name: string;
  digest: string;
  "signature-tag": string;
  "signature-digest": string;
  /** Signatures in the manifest now (this one and those kept). */
  signatures: number;
}

export interface SignatureCheck {
  /** The payload blob digest of the layer. */
  digest: string;
  verified: boolean;
  reason?: string;
  detail?: string;
}

export interface VerifyResult {
  name: string;
  digest: string;
  "signature-tag": string;
  verified: boolean;
  /** unsigned, or the reason of the only signature; "refused" when several disagree. */
  reason?: string;
  /** One line: why the image is refused (absent when verified). */
  detail?: string;
  signatures: SignatureCheck[];
}

/** The layers of a signature manifest read from a registry, each checked for shape. */
function signatureLayers(layers: unknown[] | undefined): SignatureLayer[] {
  return (layers ?? []).map((raw) => {
    const layer = raw as SignatureLayer;
    const annotations: Record<string, string> = {};
    if (typeof layer.annotations === "object" && layer.annotations !== null) {
      for (const [key, value] of Object.entries(layer.annotations)) {
        if (typeof value === "string") annotations[key] = value;
      }
    }
    return { mediaType: layer.mediaType, size: layer.size, digest: layer.digest, annotations };
  });
}

/** The signature manifest's layers, or undefined when the tag does not exist. */
async function existingSignatures(
  image: ImageRef,
  tag: string,
): Promise<SignatureLayer[] | undefined> {
  try {
    const { manifest } = await readManifest(image.name, tag);
    return signatureLayers(manifest.layers);
  } catch (error) {
    if (error instanceof RemoteError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Signs `ref` (which must name a digest, which must exist) with `privateKey`: pushes the
 * payload, a new config and the signature manifest with this signature added.
 */
export async function signImage(ref: string, privateKey: CryptoKey): Promise<SignResult> {
  const image = parseImageRef(ref);
  if (!image.digest) {
    throw new InputError(
      `Sign a digest, not a tag: ${ref} (e.g. ${image.name}@sha256:…, what the push printed)`,
    );
  }
  // The image must be there: a signature of nothing would name a digest nobody can pull.
  await readManifest(image.name, image.digest);
  const tag = signatureTag(image.digest);
  const signed = await signPayload(privateKey, simpleSigningPayload(image.name, image.digest));
  const layers = mergeLayers((await existingSignatures(image, tag)) ?? [], signed.layer);
  const { config, manifest } = await signatureManifest(layers);
  await pushBlob(image, signed.blob);
  await pushBlob(image, config);
  const signatureDigest = await pushManifest(image, tag, manifest, OCI_MANIFEST_TYPE);
  return {
    name: image.name,
    digest: image.digest,
    "signature-tag": tag,
    "signature-digest": signatureDigest,
    signatures: layers.length,
  };
}

async function checkLayer(
  image: ImageRef,
  layer: SignatureLayer,
  publicKey: CryptoKey,
  expected: Expected,
): Promise<LayerVerdict> {
  if (!(Number.isSafeInteger(layer.size) && layer.size >= 0 && layer.size <= MAX_PAYLOAD_BYTES)) {
    return { verified: false, reason: "malformed-payload", detail: "the payload is too large" };
  }
  let payload: Uint8Array;
  try {
    const url = `${image.name}@${layer.digest}`;
    // fetchBlob's body errors at its end when the bytes do not hash to the layer digest.
    payload = await readBytes(await fetchBlob(url, layer.digest), url, MAX_PAYLOAD_BYTES);
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    return { verified: false, reason: "malformed-payload", detail: error.message };
  }
  return await verifyLayer(layer, payload, publicKey, expected);
}

/** Why nothing verified, in one line: each distinct reason once, with its count. */
function refusal(
  checks: SignatureCheck[],
  total: number,
): { reason: string; detail: string } {
  const reasons = new Set(checks.map((c) => c.reason));
  const counts = new Map<string, number>();
  for (const check of checks) counts.set(check.detail!, (counts.get(check.detail!) ?? 0) + 1);
  const shown = [...counts].slice(0, 3).map(([detail, n]) => n > 1 ? `${detail} (${n}×)` : detail);
  if (counts.size > 3) shown.push(`${counts.size - 3} other reasons`);
  const checked = total > checks.length ? ` (the first ${checks.length} of ${total} checked)` : "";
  return {
    reason: reasons.size === 1 ? [...reasons][0]! : "refused",
    detail: `no signature verifies${checked}: ${shown.join("; ")}`,
  };
}

/**
 * Verifies the image `ref` (a tag is resolved to its digest once) against `publicKey`: verified
 * when one layer of its `sha256-<hex>.sig` manifest verifies (lib/signing/sigstore.ts verifyLayer).
 */
export async function verifyImage(ref: string, publicKey: CryptoKey): Promise<VerifyResult> {
  const image = parseImageRef(ref);
  const { digest } = await readManifest(image.name, image.digest ?? image.tag!);
  const tag = signatureTag(digest);
  const base = { name: image.name, digest, "signature-tag": tag };
  const layers = await existingSignatures(image, tag);
  if (!layers || layers.length === 0) {
    return {
      ...base,
      verified: false,
      reason: "unsigned",
      detail: layers
        ? `unsigned: the signature manifest ${tag} has no signatures`
        : `unsigned: no signature (${tag}) in ${image.name}`,
      signatures: [],
    };
  }
  const checks: SignatureCheck[] = [];
  for (const layer of layers.slice(0, MAX_SIGNATURES)) {
    const verdict = await checkLayer(image, layer, publicKey, { name: image.name, digest });
    checks.push(
      verdict.verified
        ? { digest: layer.digest, verified: true }
        : { digest: layer.digest, verified: false, reason: verdict.reason, detail: verdict.detail },
    );
    if (verdict.verified) return { ...base, verified: true, signatures: checks };
  }
  return { ...base, verified: false, ...refusal(checks, layers.length), signatures: checks };
}
