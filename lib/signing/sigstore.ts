// Domain lib/signing/ — cosign-compatible image signatures: payload and verdicts (this file),
// registry side (sigstore_image.ts), key files (sigstore_keys.ts, sigstore_files.ts), the
// signing-keys secret (signing_keys.ts). May import: lib/core/, lib/github/, lib/registry/.
// See docs/architecture.md.
//
// The cosign "simple signing" image signature (REFERENCE.md "Signing"), what podman/bootc read
// with a `sigstoreSigned` policy: the payload that names the image (repository and manifest
// digest), the OCI manifest tagged `sha256-<hex>.sig` that carries one layer per signature, and
// the verdict on each layer. Pure apart from WebCrypto: the registry side is
// lib/signing/sigstore_image.ts, the key files lib/signing/sigstore_keys.ts.
import { DIGEST } from "../core/patterns.ts";
import { signBytes, verifyBytes } from "./sigstore_keys.ts";

export const SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE = "cosign container image signature";
export const OCI_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";

/** A layer of a signature manifest, as written and as read. */
export interface SignatureLayer {
  mediaType: string;
  size: number;
  digest: string;
  annotations?: Record<string, string>;
}

/** The tag of the signatures of the image with manifest digest `digest`: `sha256-<hex>.sig`. */
export function signatureTag(digest: string): string {
  if (!DIGEST.test(digest)) throw new Error(`Not a sha256 digest: ${digest}`);
  return `${digest.replace(":", "-")}.sig`;
}

/**
 * The payload bytes cosign signs for `name@digest` (`name` = registry/repository), with the
 * keys in cosign's order (Go's json.Marshal of its struct): what a cosign signature's blob is.
 */
export function simpleSigningPayload(name: string, digest: string): Uint8Array {
  const payload = {
    critical: {
      identity: { "docker-reference": name },
      image: { "docker-manifest-digest": digest },
      type: PAYLOAD_TYPE,
    },
    optional: null,
  };
  return new TextEncoder().encode(JSON.stringify(payload));
}

export async function sha256Digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A signed payload: its bytes (the blob) and its layer (with the signature annotation). */
export async function signPayload(
  privateKey: CryptoKey,
  payload: Uint8Array,
): Promise<{ layer: SignatureLayer; blob: Uint8Array }> {
  const signature = await signBytes(privateKey, payload);
  return {
    blob: payload,
    layer: {
      mediaType: SIMPLE_SIGNING_TYPE,
      size: payload.byteLength,
      digest: await sha256Digest(payload),
      annotations: { [SIGNATURE_ANNOTATION]: signature },
    },
  };
}

/**
 * The config blob and manifest of a signature image with these layers (cosign's shape: an
 * image config whose rootfs.diff_ids are the payload digests, the payloads being uncompressed).
 */
export async function signatureManifest(
  layers: SignatureLayer[],
): Promise<{ config: Uint8Array; configDigest: string; manifest: Uint8Array }> {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const config = encode({
    architecture: "",
    created: "0001-01-01T00:00:00Z",
    history: layers.map(() => ({ created: "0001-01-01T00:00:00Z" })),
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.digest) },
    config: {},
  });
  const configDigest = await sha256Digest(config);
  const manifest = encode({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_TYPE,
    config: { mediaType: OCI_CONFIG_TYPE, size: config.byteLength, digest: configDigest },
    layers,
  });
  return { config, configDigest, manifest };
}

/**
 * The layers to write when adding `added` to an existing signature manifest's layers: the
 * others are kept as they are; a layer with the same payload and signature is not repeated.
 */
export function mergeLayers(existing: SignatureLayer[], added: SignatureLayer): SignatureLayer[] {
  const same = existing.some((layer) =>
    layer.digest === added.digest &&
    layer.annotations?.[SIGNATURE_ANNOTATION] === added.annotations?.[SIGNATURE_ANNOTATION]
  );
  return same ? existing : [...existing, added];
}

/** Why a signature layer does or does not verify. */
export type LayerVerdict =
  | { verified: true }
  | {
    verified: false;
    reason:
      | "not-simple-signing"
      | "no-signature"
      | "malformed-signature"
      | "other-key"
      | "malformed-payload"
      | "other-digest"
      | "other-repository";
    detail: string;
  };

/** What the signature must name: the image's repository (registry/repository) and digest. */
export interface Expected {
  name: string;
  digest: string;
}

function payloadClaims(payload: Uint8Array): { type?: unknown; name?: unknown; digest?: unknown } {
  const parsed = JSON.parse(new TextDecoder().decode(payload)) as {
    critical?: {
      type?: unknown;
      identity?: { "docker-reference"?: unknown };
      image?: { "docker-manifest-digest"?: unknown };
    };
  };
  const critical = parsed?.critical;
  return {
    type: critical?.type,
    name: critical?.identity?.["docker-reference"],
    digest: critical?.image?.["docker-manifest-digest"],
  };
}

function shown(value: unknown): string {
  return JSON.stringify(value ?? null).slice(0, 120);
}

/**
 * The verdict on one layer of a signature manifest whose blob is `payload` (already checked
 * against the layer digest): the ECDSA signature first (nothing an unsigned payload says
 * counts), then the payload's type, digest and repository.
 */
export async function verifyLayer(
  layer: SignatureLayer,
  payload: Uint8Array,
  publicKey: CryptoKey,
  expected: Expected,
): Promise<LayerVerdict> {
  if (layer.mediaType !== SIMPLE_SIGNING_TYPE) {
    return {
      verified: false,
      reason: "not-simple-signing",
      detail: `not a simple-signing layer (${shown(layer.mediaType)})`,
    };
  }
  const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (typeof signature !== "string" || signature === "") {
    return { verified: false, reason: "no-signature", detail: `no ${SIGNATURE_ANNOTATION}` };
  }
  let good: boolean;
  try {
    good = await verifyBytes(publicKey, signature, payload);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { verified: false, reason: "malformed-signature", detail };
  }
  if (!good) {
    return {
      verified: false,
      reason: "other-key",
      detail: "the signature is not by this key (another key, or a changed payload)",
    };
  }
  let claims: ReturnType<typeof payloadClaims>;
  try {
    claims = payloadClaims(payload);
  } catch {
    return { verified: false, reason: "malformed-payload", detail: "the payload is not JSON" };
  }
  if (claims.type !== PAYLOAD_TYPE) {
    return {
      verified: false,
      reason: "malformed-payload",
      detail: `the payload type is ${shown(claims.type)}, not "${PAYLOAD_TYPE}"`,
    };
  }
  if (claims.digest !== expected.digest) {
    return {
      verified: false,
      reason: "other-digest",
      detail: `the payload names another digest: ${shown(claims.digest)}`,
    };
  }
  if (claims.name !== expected.name) {
    return {
      verified: false,
      reason: "other-repository",
      detail: `the payload names another repository: ${shown(claims.name)}`,
    };
  }
  return { verified: true };
}
