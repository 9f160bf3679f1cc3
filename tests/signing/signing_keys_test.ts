// signing-keys, spawned as deno task runs it: the module-signing certificate openssl made (code
// signing, ~10 years, matching its key), cosign's encrypted key pair, private files 0600, no
// overwrite, and --set-secrets through the real gh against a local TLS stand-in of the GitHub
// secrets API, which opens gh's sealed boxes to check each value arrived whole.
import assert from "node:assert/strict";
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { hsalsa } from "@noble/ciphers/salsa.js";
import { blake2b } from "@noble/hashes/blake2.js";
import { fileURLToPath } from "node:url";
import { signingCertSha256 } from "../../lib/build/build.ts";
import { SECRET_NAMES } from "../../lib/signing/signing_keys.ts";
import {
  decryptPrivateKey,
  fromBase64,
  publicKeyOf,
  publicKeyPem,
  toBase64,
} from "../../lib/signing/sigstore_keys.ts";
import { spawnTask, type TaskResult } from "../helpers/run_task.ts";
import { withServer } from "../helpers/server.ts";
import { integrationTest } from "../helpers/tools.ts";
import { selfSignedCert } from "../helpers/tls.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PASSPHRASE = "a passphrase for the test";
const FILES = [
  "signing_key.pem",
  "signing_cert.pem",
  "signing_cert.der",
  "cosign.key",
  "cosign.pub",
];

/** The environment of a bare shell: no SIGSTORE_PASSWORD unless given. */
function bareEnv(extra: Record<string, string>): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value] as [string, string]];
  });
  return { ...Object.fromEntries(keep), NO_COLOR: "1", GITHUB_ACTIONS: "false", ...extra };
}

function signingKeys(args: string[], env: Record<string, string>): Promise<TaskResult> {
  return spawnTask("signing_keys.ts", args, {
    cwd: ROOT,
    clearEnv: true,
    env: bareEnv(env),
    signal: AbortSignal.timeout(120_000),
  });
}

async function openssl(...args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `openssl ${args.join(" ")}: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

/** A file's text without its final newline (gh sends a secret that way). */
async function trimmed(path: string): Promise<string> {
  return (await Deno.readTextFile(path)).trimEnd();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

integrationTest(
  "signing-keys writes the module-signing pair and cosign's key pair",
  ["openssl"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "signing_keys_test_" });
    try {
      // A relative --dir is relative to where deno task was started (INIT_CWD).
      const result = await signingKeys(["--dir", "keys", "--json"], {
        SIGSTORE_PASSWORD: PASSPHRASE,
        INIT_CWD: dir,
      });
      assert.equal(result.code, 0, result.stderr);
      const keys = `${dir}/keys`;
      const json = JSON.parse(result.stdout);
      assert.deepEqual(json.files, FILES);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(keys))).map((e) => e.name).sort(),
        [...FILES].sort(),
      );
      for (const file of FILES) {
        const mode = (await Deno.stat(`${keys}/${file}`)).mode! & 0o777;
        assert.equal(
          mode,
          file.endsWith(".pem") && file.includes("key") || file === "cosign.key" ? 0o600 : 0o644,
          file,
        );
      }
      const cert = `${keys}/signing_cert.pem`;
      const text = await openssl("x509", "-in", cert, "-noout", "-text");
      assert.match(
        text,
        /X509v3 Key Usage: critical\s+Digital Signature|X509v3 Key Usage:\s+Digital Signature/,
      );
      assert.match(text, /X509v3 Extended Key Usage:\s+Code Signing/);
      assert.match(text, /CA:FALSE/);
      // Valid for about ten years: still in nine, no longer in eleven.
      await openssl("x509", "-in", cert, "-noout", "-checkend", String(9 * 365 * 86400));
      const eleven = await new Deno.Command("openssl", {
        args: ["x509", "-in", cert, "-noout", "-checkend", String(11 * 365 * 86400)],
        stdout: "null",
      }).output();
      assert.equal(eleven.success, false);
      // The key is the certificate's; the DER is the same certificate; the label's sha256 is its hash.
      assert.equal(
        await openssl("pkey", "-in", `${keys}/signing_key.pem`, "-pubout"),
        await openssl("x509", "-in", cert, "-noout", "-pubkey"),
      );
      const der = await Deno.readFile(`${keys}/signing_cert.der`);
      assert.equal(
        await openssl("x509", "-inform", "DER", "-in", `${keys}/signing_cert.der`),
        await Deno.readTextFile(cert),
      );
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
      assert.equal(
        json["cert-sha256"],
        Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""),
      );
      // what a build given the PEM (the SIGNING_CERT secret) labels its image with
      assert.equal(
        signingCertSha256({
          secretKey: `${keys}/signing_key.pem`,
          secretCert: cert,
          secretCertContent: await Deno.readFile(cert),
        }),
        json["cert-sha256"],
      );
      // cosign.key opens with the passphrase and is cosign.pub's private half.
      const privateKey = await decryptPrivateKey(
        await Deno.readTextFile(`${keys}/cosign.key`),
        PASSPHRASE,
      );
      assert.equal(
        await publicKeyPem(await publicKeyOf(privateKey)),
        await Deno.readTextFile(`${keys}/cosign.pub`),
      );
      assert.match(
        await Deno.readTextFile(`${keys}/cosign.key`),
        /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/,
      );

      // Run again: refused, nothing changed.
      const before = await Deno.readTextFile(`${keys}/cosign.pub`);
      const again = await signingKeys(["--dir", keys], { SIGSTORE_PASSWORD: PASSPHRASE });
      assert.equal(again.code, 2, again.stderr);
      assert.match(again.stderr, /^error: Refusing to overwrite signing_key.pem, .*cosign.pub in /);
      assert.equal(await Deno.readTextFile(`${keys}/cosign.pub`), before);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

integrationTest("signing-keys writes nothing when one file exists or no passphrase is set", [
  "openssl",
], async () => {
  const dir = await Deno.makeTempDir({ prefix: "signing_keys_test_" });
  try {
    await Deno.writeTextFile(`${dir}/cosign.pub`, "mine\n");
    const one = await signingKeys(["--dir", dir], { SIGSTORE_PASSWORD: PASSPHRASE });
    assert.equal(one.code, 2, one.stderr);
    assert.equal(one.stderr.trim(), `error: Refusing to overwrite cosign.pub in ${dir}`);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["cosign.pub"]);
    const empty = `${dir}/empty`;
    const none = await signingKeys(["--dir", empty], {});
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /^error: Set SIGSTORE_PASSWORD/);
    assert.equal(await exists(empty), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- --set-secrets through the real gh ---

/** Opens a libsodium sealed box (what gh makes with the repository's public key). */
async function openSealedBox(
  box: Uint8Array,
  keys: { publicKey: Uint8Array; privateKey: CryptoKey },
) {
  const ephemeral = box.subarray(0, 32);
  const nonce = blake2b(Uint8Array.of(...ephemeral, ...keys.publicKey), { dkLen: 24 });
  const peer = await crypto.subtle.importKey(
    "raw",
    ephemeral.slice(),
    { name: "X25519" },
    false,
    [],
  );
  const shared = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: peer }, keys.privateKey, 256),
  );
  // crypto_box_beforenm: HSalsa20 of the shared secret with a zero nonce.
  const sigma = Uint32Array.of(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574);
  const out = new Uint32Array(8);
  hsalsa(sigma, new Uint32Array(shared.buffer), new Uint32Array(4), out);
  return xsalsa20poly1305(new Uint8Array(out.buffer), nonce).decrypt(box.subarray(32));
}

integrationTest("signing-keys --set-secrets stores each value with gh secret set", [
  "openssl",
  "gh",
], async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "signing_keys_test_" });
  try {
    const repoKeys = await crypto.subtle.generateKey({ name: "X25519" }, true, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", repoKeys.publicKey));
    const stored = new Map<string, string>();
    const unknown: string[] = [];
    const tls = await selfSignedCert(dir);
    // GET …/actions/secrets/public-key and PUT …/actions/secrets/{name} (GitHub REST docs).
    await withServer(async (request) => {
      const path = new URL(request.url).pathname;
      if (
        request.method === "GET" && path === "/api/v3/repos/owner/repo/actions/secrets/public-key"
      ) {
        return Response.json({ key_id: "568250167242549743", key: toBase64(publicKey) });
      }
      const put = /^\/api\/v3\/repos\/owner\/(repo|locked)\/actions\/secrets\/([A-Z_]+)$/.exec(
        path,
      );
      // gh sends the value without its final newline (PEM reads the same).
      if (request.method === "PUT" && put?.[1] === "repo") {
        const body = await request.json() as { encrypted_value: string; key_id: string };
        assert.equal(body.key_id, "568250167242549743");
        const value = await openSealedBox(fromBase64(body.encrypted_value, "value"), {
          publicKey,
          privateKey: repoKeys.privateKey,
        });
        stored.set(put[2]!, new TextDecoder().decode(value));
        return new Response(null, { status: 204 });
      }
      if (
        request.method === "GET" && path === "/api/v3/repos/owner/locked/actions/secrets/public-key"
      ) {
        return Response.json({
          message: "Resource not accessible by integration",
          documentation_url: "https://docs.github.com/rest/actions/secrets",
        }, { status: 403 });
      }
      unknown.push(`${request.method} ${path}`);
      return Response.json({ message: "Not Found" }, { status: 404 });
    }, async (server) => {
      const host = `localhost:${server.port}`;
      const env = {
        SIGSTORE_PASSWORD: PASSPHRASE,
        GH_CONFIG_DIR: `${dir}/gh`,
        XDG_STATE_HOME: `${dir}/state`,
        XDG_DATA_HOME: `${dir}/data`,
        GH_NO_UPDATE_NOTIFIER: "1",
        SSL_CERT_FILE: tls.certFile,
        GH_HOST: host,
        GH_ENTERPRISE_TOKEN: "test",
      };
      await t.step("every secret set, each value whole", async () => {
        const keys = `${dir}/keys`;
        const result = await signingKeys([
          "--dir",
          keys,
          "--set-secrets",
          "--repo",
          `${host}/owner/repo`,
          "--json",
        ], env);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout).secrets, SECRET_NAMES);
        assert.deepEqual([...stored.keys()], SECRET_NAMES);
        assert.equal(
          stored.get("SIGNING_KEY"),
          await trimmed(`${keys}/signing_key.pem`),
        );
        assert.equal(
          stored.get("SIGNING_CERT"),
          await trimmed(`${keys}/signing_cert.pem`),
        );
        assert.equal(
          stored.get("SIGSTORE_PRIVATE_KEY"),
          await trimmed(`${keys}/cosign.key`),
        );
        assert.equal(stored.get("SIGSTORE_PASSWORD"), PASSPHRASE);
        assert.deepEqual(unknown, []);
      });
      await t.step("a repository that refuses: one line naming the secret, exit 1", async () => {
        const result = await signingKeys([
          "--dir",
          `${dir}/locked`,
          "--set-secrets",
          "--repo",
          `${host}/owner/locked`,
        ], env);
        assert.equal(result.code, 1, result.stderr);
        const lines = result.stderr.trim().split("\n");
        assert.match(
          lines.at(-1)!,
          /^error: Cannot set the secret SIGNING_KEY: gh secret set failed: .*403/,
        );
        // The keys stay on disk: the maintainer can set the secrets by hand.
        assert.ok(await exists(`${dir}/locked/cosign.key`));
      });
    }, { cert: tls.cert, key: tls.key });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
