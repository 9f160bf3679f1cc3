// The maintainer's keys (issue 16): the kernel-module signing pair made with openssl (a
// self-signed code-signing certificate, as the kernel's certs/x509.genkey asks for, valid ~10
// years) and the image-signing pair in cosign's format (WebCrypto, no cosign binary), written
// into one folder that must not hold them yet, and optionally stored as GitHub Actions secrets
// with `gh secret set` (each value on gh's stdin, never on its command line).
import { CheckError, InputError } from "../core/errors.ts";
import { GhError, runGh } from "../github/gh.ts";

/** The files, in the order they are listed; `secret` = the repository secret that holds it. */
const KEY_FILES = [
  { file: "signing_key.pem", mode: 0o600, secret: "SIGNING_KEY" },
  { file: "signing_cert.pem", mode: 0o644, secret: "SIGNING_CERT" },
  { file: "signing_cert.der", mode: 0o644, secret: undefined },
  { file: "cosign.key", mode: 0o600, secret: "SIGSTORE_PRIVATE_KEY" },
  { file: "cosign.pub", mode: 0o644, secret: undefined },
] as const;

/** The secrets `--set-secrets` writes, in order: those of KEY_FILES, then the passphrase. */
export const SECRET_NAMES: string[] = [
  ...KEY_FILES.flatMap(({ secret }) => secret ? [secret] : []),
  "SIGSTORE_PASSWORD",
];

/** Days the module-signing certificate is valid. */
const CERT_DAYS = 3650;

/** openssl's config for the certificate: the kernel's certs/default_x509.genkey, own names. */
function x509Config(commonName: string): string {
  return [
    "[ req ]",
    "default_bits = 4096",
    "distinguished_name = req_distinguished_name",
    "prompt = no",
    "string_mask = utf8only",
    "x509_extensions = myexts",
    "",
    "[ req_distinguished_name ]",
    "O = fedora-zfs-kmods",
    `CN = ${commonName.replace(/[^A-Za-z0-9 ._/()-]/g, "")}`,
    "",
    "[ myexts ]",
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=digitalSignature",
    "extendedKeyUsage=codeSigning",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
    "",
  ].join("\n");
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

/** The files of KEY_FILES that already exist in `dir` (any of them stops the task). */
async function existingKeyFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const { file } of KEY_FILES) {
    try {
      await Deno.lstat(`${dir}/${file}`);
      found.push(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new InputError(`Cannot look into ${dir}: ${reasonOf(error)}`);
    }
  }
  return found;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CheckError("openssl is not installed (Debian/Fedora package openssl)");
    }
    throw new CheckError(`openssl ${args[0]} did not finish: ${error}`);
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n")[0];
    throw new CheckError(`openssl ${args[0]} failed: ${stderr || `exit code ${output.code}`}`);
  }
}

/** Makes the module-signing key and certificate (PEM and DER) in `dir` with openssl. */
async function moduleSigningPair(dir: string, commonName: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/x509.genkey`, x509Config(commonName));
  await openssl([
    "req",
    "-new",
    "-nodes",
    "-utf8",
    "-sha256",
    "-days",
    String(CERT_DAYS),
    "-batch",
    "-x509",
    "-config",
    "x509.genkey",
    "-outform",
    "PEM",
    "-out",
    "signing_cert.pem",
    "-keyout",
    "signing_key.pem",
  ], dir);
  await openssl([
    "x509",
    "-in",
    "signing_cert.pem",
    "-outform",
    "DER",
    "-out",
    "signing_cert.der",
  ], dir);
  await Deno.remove(`${dir}/x509.genkey`);
}

export interface CreatedKeys {
  dir: string;
  files: string[];
  /** sha256 of the DER certificate (the image label's value). */
  "cert-sha256": string;
}

/**
 * Creates every file of KEY_FILES in `dir` (made if missing), or none: they are made in a
 * private folder inside `dir` and moved into place only when all exist. Refuses when any of
 * them is already there.
 */
export async function createKeys(
  dir: string,
  passphrase: string,
  commonName: string,
): Promise<CreatedKeys> {
  if (passphrase === "") {
    throw new InputError("Set SIGSTORE_PASSWORD to the passphrase that will protect cosign.key");
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new InputError(`Cannot create the folder ${dir}: ${reasonOf(error)}`);
  }
  const present = await existingKeyFiles(dir);
  if (present.length > 0) {
    throw new InputError(`Refusing to overwrite ${present.join(", ")} in ${dir}`);
  }
  let work: string;
  try {
    work = await Deno.makeTempDir({ dir, prefix: ".signing-keys-" });
  } catch (error) {
    throw new CheckError(`Cannot write into ${dir}: ${reasonOf(error)}`);
  }
  try {
    await Deno.chmod(work, 0o700);
    await moduleSigningPair(work, commonName);
    // Imported here: the task's --help starts without the crypto libraries.
    const { encryptPrivateKey, generateKeyPair, publicKeyPem } = await import("./sigstore_keys.ts");
    const pair = await generateKeyPair();
    await Deno.writeTextFile(
      `${work}/cosign.key`,
      await encryptPrivateKey(pair.privateKey, passphrase),
    );
    await Deno.writeTextFile(`${work}/cosign.pub`, await publicKeyPem(pair.publicKey));
    for (const { file, mode } of KEY_FILES) await Deno.chmod(`${work}/${file}`, mode);
    const again = await existingKeyFiles(dir);
    if (again.length > 0) {
      throw new InputError(`Refusing to overwrite ${again.join(", ")} in ${dir}`);
    }
    for (const { file } of KEY_FILES) await Deno.rename(`${work}/${file}`, `${dir}/${file}`);
  } catch (error) {
    if (error instanceof CheckError || error instanceof InputError) throw error;
    throw new CheckError(`Cannot write the keys into ${dir}: ${reasonOf(error)}`);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  const der = await Deno.readFile(`${dir}/signing_cert.der`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return {
    dir,
    files: KEY_FILES.map(({ file }) => file),
    "cert-sha256": Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

/**
 * Stores the keys of `dir` and the passphrase as repository secrets with `gh secret set NAME`
 * (value on stdin). Returns the names set, in SECRET_NAMES order.
 */
export async function setSecrets(
  dir: string,
  passphrase: string,
  repo: string | undefined,
): Promise<string[]> {
  const values: [string, string][] = [];
  for (const { file, secret } of KEY_FILES) {
    if (secret) values.push([secret, await Deno.readTextFile(`${dir}/${file}`)]);
  }
  values.push(["SIGSTORE_PASSWORD", passphrase]);
  const done: string[] = [];
  for (const [name, value] of values) {
    try {
      await runGh(["secret", "set", name], { repo, input: value });
    } catch (error) {
      const set = done.length > 0 ? ` (already set: ${done.join(", ")})` : "";
      // gh lists the failure of each repository as "* …" under "1 error occurred:".
      const listed = error instanceof GhError
        ? error.stderr.split("\n").find((line) => /^\s*\* /.test(line))?.replace(/^\s*\* /, "")
        : undefined;
      const message = listed ?? (error instanceof Error ? error.message : String(error));
      throw new CheckError(`Cannot set the secret ${name}: ${message}${set}`);
    }
    done.push(name);
  }
  return done;
}
