// Reading the key files a user names on the command line (relative to where `deno task` was
// started) and the passphrase from the environment, with one-line errors for each way they
// can be wrong. lib/sigstore_keys.ts does the decoding (imported when a key is read, so a task's
// --help starts without the crypto libraries).
import { InputError } from "./errors.ts";
import { userPath } from "./paths.ts";

/** Where the passphrase of cosign.key comes from (cosign's own name is read too). */
export const PASSPHRASE_VARIABLES = ["SIGSTORE_PASSWORD", "COSIGN_PASSWORD"] as const;

/** The passphrase from SIGSTORE_PASSWORD (else COSIGN_PASSWORD); unset is an InputError. */
export function sigstorePassphrase(): string {
  for (const name of PASSPHRASE_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) return value;
  }
  throw new InputError("Set SIGSTORE_PASSWORD to the passphrase of the private key");
}

/** The text of a key file the user named with `flag`, as a one-line InputError if unreadable. */
export async function readKeyFile(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(userPath(path));
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    throw new InputError(`Cannot read ${flag} ${path}: ${why}`);
  }
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
