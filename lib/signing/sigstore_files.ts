// Reading the key files a user names on the command line (relative to where `deno task` was
// started) and the passphrase from the environment, with one-line errors for each way they
// can be wrong. lib/signing/sigstore_keys.ts does the decoding (imported when a key is read, so a task's
// --help starts without the crypto libraries).
import { InputError } from "../core/errors.ts";
import { readUserFile } from "../core/paths.ts";

/** Where the passphrase of cosign.key comes from (cosign's own name is read too). */
const PASSPHRASE_VARIABLES = ["SIGSTORE_PASSWORD", "COSIGN_PASSWORD"] as const;

/** The passphrase from SIGSTORE_PASSWORD (else COSIGN_PASSWORD); unset is an InputError. */
export function sigstorePassphrase(): string {
  for (const name of PASSPHRASE_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) return value;
  }
  throw new InputError("Set SIGSTORE_PASSWORD to the passphrase of the private key");
}

/** Largest key file read: cosign's files are a few hundred bytes. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/** The text of a key file the user named with `flag` (at most 64 KiB: see readUserFile). */
function readKeyFile(path: string, flag: string): Promise<string> {
  return readUserFile(path, flag, MAX_KEY_FILE_BYTES);
}

/** The signing key of a cosign.key file, decrypted with the passphrase from the environment. */
export async function loadPrivateKey(path: string): Promise<CryptoKey> {
  const text = await readKeyFile(path, "--key");
  const { decryptPrivateKey } = await import("./sigstore_keys.ts");
  return await decryptPrivateKey(text, sigstorePassphrase(), `The private key ${path}`);
}

/** The verifying key of a cosign.pub file. */
export async function loadPublicKey(path: string): Promise<CryptoKey> {
  const text = await readKeyFile(path, "--key");
  const { importPublicKey } = await import("./sigstore_keys.ts");
  return await importPublicKey(text, `The public key ${path}`);
}
