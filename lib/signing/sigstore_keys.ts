// Key material of cosign-compatible image signing (REFERENCE.md "Signing"): ECDSA P-256 keys
// through WebCrypto, the private key in cosign's encrypted file format (PEM `ENCRYPTED SIGSTORE
// PRIVATE KEY` around JSON: scrypt + nacl/secretbox over the PKCS#8 DER), the public key as a
// PEM `PUBLIC KEY` (SPKI), and the conversion between WebCrypto's IEEE P1363 signatures (r||s)
// and the ASN.1/DER ones cosign stores. No I/O: files are read and written by the callers.
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { scrypt } from "@noble/hashes/scrypt.js";
import { InputError } from "../core/errors.ts";

/** What cosign writes today. */
export const SIGSTORE_KEY_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY";
/** What cosign wrote before 2.0 (still read by cosign, and here). */
const COSIGN_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY";
const PUBLIC_KEY_LABEL = "PUBLIC KEY";

/** cosign's scrypt parameters for a new key. */
const SCRYPT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const MAX_PEM_BYTES = 64 * 1024;

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Standard base64 to bytes; anything else is an InputError naming `what`. */
export function fromBase64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new InputError(`${what} is not base64`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A PEM block: `-----BEGIN label-----`, base64 in lines of 64, `-----END label-----`. */
function pemEncode(label: string, bytes: Uint8Array): string {
  const lines = toBase64(bytes).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The label and bytes of the first PEM block of `text` whose label is one of `labels`. */
export function pemDecode(
  text: string,
  labels: readonly string[],
  what: string,
): { label: string; bytes: Uint8Array } {
  if (text.length > MAX_PEM_BYTES) throw new InputError(`${what} is too large for a key file`);
  const block = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/.exec(
    text,
  );
  if (!block || !labels.includes(block[1]!)) {
    const found = block ? `a PEM "${block[1]}"` : "no PEM block";
    throw new InputError(
      `${what} is not a ${labels.map((l) => `PEM "${l}"`).join(" or ")} (found ${found})`,
    );
  }
  return { label: block[1]!, bytes: fromBase64(block[2]!.replace(/\s+/g, ""), what) };
}

// --- ECDSA signatures: IEEE P1363 (WebCrypto) <-> ASN.1 DER (cosign, openssl) ---

function derInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  return value[0]! & 0x80 ? Uint8Array.of(0, ...value) : value;
}

/** r||s (64 bytes) as the DER `SEQUENCE { INTEGER r, INTEGER s }` cosign stores. */
export function p1363ToDer(signature: Uint8Array): Uint8Array {
  if (signature.length !== 64) throw new InputError("Not a P-256 signature (expected 64 bytes)");
  const r = derInteger(signature.subarray(0, 32));
  const s = derInteger(signature.subarray(32));
  return Uint8Array.of(0x30, 4 + r.length + s.length, 0x02, r.length, ...r, 0x02, s.length, ...s);
}

/** A DER ECDSA P-256 signature as r||s; anything not strictly DER is an InputError. */
export function derToP1363(der: Uint8Array): Uint8Array {
  const bad = () => new InputError("Malformed signature (not an ASN.1 DER ECDSA P-256 signature)");
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) throw bad();
  const out = new Uint8Array(64);
  let at = 2;
  for (const half of [0, 1]) {
    if (der[at] !== 0x02) throw bad();
    const length = der[at + 1]!;
    const value = der.subarray(at + 2, at + 2 + length);
    if (length < 1 || length > 33 || value.length !== length) throw bad();
    // DER: no needless leading zero, and no negative number.
    if (value[0]! & 0x80) throw bad();
    if (length > 1 && value[0] === 0 && !(value[1]! & 0x80)) throw bad();
    const trimmed = length === 33 ? value.subarray(1) : value;
    if (length === 33 && value[0] !== 0) throw bad();
    out.set(trimmed, half * 32 + 32 - trimmed.length);
    at += 2 + length;
  }
  if (at !== der.length) throw bad();
  return out;
}

// --- Keys ---

/** A new extractable ECDSA P-256 key pair. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(P256, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** The public key as cosign writes `cosign.pub`: PEM `PUBLIC KEY` (SPKI DER). */
export async function publicKeyPem(key: CryptoKey): Promise<string> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  return pemEncode(PUBLIC_KEY_LABEL, spki);
}

/** Reads a PEM `PUBLIC KEY` that must be an ECDSA P-256 key (what cosign generates). */
export async function importPublicKey(pem: string, what = "The public key"): Promise<CryptoKey> {
  const { bytes } = pemDecode(pem, [PUBLIC_KEY_LABEL], what);
  try {
    return await crypto.subtle.importKey("spki", bytes as BufferSource, P256, true, ["verify"]);
  } catch {
    throw new InputError(`${what} is not an ECDSA P-256 public key`);
  }
}

/** The public key of a private key (through its JWK: WebCrypto has no direct way). */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  return await crypto.subtle.importKey("jwk", { kty, crv, x, y }, P256, true, ["verify"]);
}

interface EncryptedKey {
  kdf: { name: "scrypt"; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: "nacl/secretbox"; nonce: string };
  ciphertext: string;
}

function secretboxKey(
  passphrase: string,
  salt: Uint8Array,
  params: { N: number; r: number; p: number },
) {
  return scrypt(new TextEncoder().encode(passphrase), salt, { ...params, dkLen: 32 });
}

/** cosign's encrypted private key file for a P-256 private key (a new salt and nonce). */
export async function encryptPrivateKey(privateKey: CryptoKey, passphrase: string) {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey));
  const salt = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(24));
  const box = xsalsa20poly1305(secretboxKey(passphrase, salt, SCRYPT_PARAMS), nonce);
  const file: EncryptedKey = {
    kdf: { name: "scrypt", params: { ...SCRYPT_PARAMS }, salt: toBase64(salt) },
    cipher: { name: "nacl/secretbox", nonce: toBase64(nonce) },
    ciphertext: toBase64(box.encrypt(pkcs8)),
  };
  return pemEncode(SIGSTORE_KEY_LABEL, new TextEncoder().encode(JSON.stringify(file)));
}

/** The scrypt parameters of a key file, bounded (a hostile file must not ask for gigabytes). */
function checkedParams(value: unknown, what: string): { N: number; r: number; p: number } {
  const { N, r, p } = (value ?? {}) as Record<string, unknown>;
  const ok = (v: unknown, max: number) =>
    Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= max;
  // cosign writes N=32768 r=8 p=1; its tests also hold N=65536. 2^17 × 8 × 128 B = 128 MiB.
  if (!ok(N, 2 ** 17) || ((N as number) & ((N as number) - 1)) !== 0 || !ok(r, 16) || !ok(p, 4)) {
    throw new InputError(`${what}: unsupported scrypt parameters ${JSON.stringify({ N, r, p })}`);
  }
  return { N: N as number, r: r as number, p: p as number };
}

function parseEncryptedKey(text: string, what: string): EncryptedKey {
  const { bytes } = pemDecode(text, [SIGSTORE_KEY_LABEL, COSIGN_KEY_LABEL], what);
  let file: EncryptedKey;
  try {
    file = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InputError(`${what} is not a cosign key (its PEM body is not JSON)`);
  }
  if (
    file?.kdf?.name !== "scrypt" || file.cipher?.name !== "nacl/secretbox" ||
    typeof file.kdf.salt !== "string" || typeof file.cipher.nonce !== "string" ||
    typeof file.ciphertext !== "string"
  ) {
    throw new InputError(`${what} is not a cosign key (expected scrypt and nacl/secretbox)`);
  }
  return file;
}

/**
 * The PKCS#8 DER inside cosign's encrypted private key file (either PEM label), decrypted with
 * its passphrase. A wrong passphrase is an InputError saying so.
 */
export function decryptPkcs8(
  text: string,
  passphrase: string,
  what = "The private key",
): Uint8Array {
  const file = parseEncryptedKey(text, what);
  const params = checkedParams(file.kdf.params, what);
  const salt = fromBase64(file.kdf.salt, `${what} (salt)`);
  const nonce = fromBase64(file.cipher.nonce, `${what} (nonce)`);
  if (nonce.length !== 24) throw new InputError(`${what}: the nonce is not 24 bytes`);
  const box = xsalsa20poly1305(secretboxKey(passphrase, salt, params), nonce);
  try {
    return box.decrypt(fromBase64(file.ciphertext, `${what} (ciphertext)`));
  } catch {
    throw new InputError(
      `Cannot decrypt ${
        what.replace(/^The /, "the ")
      }: wrong passphrase (SIGSTORE_PASSWORD) or a damaged key file`,
    );
  }
}

/** Decrypts cosign's encrypted private key file and imports it as an ECDSA P-256 signing key. */
export async function decryptPrivateKey(
  text: string,
  passphrase: string,
  what = "The private key",
): Promise<CryptoKey> {
  const pkcs8 = decryptPkcs8(text, passphrase, what);
  try {
    return await crypto.subtle.importKey("pkcs8", pkcs8 as BufferSource, P256, true, ["sign"]);
  } catch {
    throw new InputError(`${what} is not an ECDSA P-256 key (only those are supported)`);
  }
}

/** The DER ECDSA-P256-SHA256 signature of `data`, base64 (cosign's annotation value). */
export async function signBytes(privateKey: CryptoKey, data: Uint8Array): Promise<string> {
  const raw = new Uint8Array(await crypto.subtle.sign(SIGN, privateKey, data as BufferSource));
  return toBase64(p1363ToDer(raw));
}

/** Whether a base64 DER signature is `publicKey`'s over `data` (malformed: InputError). */
export async function verifyBytes(
  publicKey: CryptoKey,
  signatureBase64: string,
  data: Uint8Array,
): Promise<boolean> {
  const der = fromBase64(signatureBase64.trim(), "The signature");
  const raw = derToP1363(der);
  return await crypto.subtle.verify(SIGN, publicKey, raw as BufferSource, data as BufferSource);
}
