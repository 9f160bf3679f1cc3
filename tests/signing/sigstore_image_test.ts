// sign-image and verify-image against the real CNCF registry (docker-registry), spawned as
// `deno task` runs them: a signed image verifies; an unsigned one, one signed with another key,
// signatures whose payload names another digest or repository, and a tampered signature are
// refused with the reason; signing again keeps the signatures already there.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseImageRef, readManifest } from "../../lib/registry/registry.ts";
import { pushBlob, pushManifest } from "../../lib/registry/registry_push.ts";
import {
  OCI_MANIFEST_TYPE,
  sha256Digest,
  SIGNATURE_ANNOTATION,
  signatureManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
} from "../../lib/signing/sigstore.ts";
import {
  derToP1363,
  encryptPrivateKey,
  fromBase64,
  generateKeyPair,
  p1363ToDer,
  publicKeyPem,
  toBase64,
} from "../../lib/signing/sigstore_keys.ts";
import { MAX_SIGNATURES, verifyImage } from "../../lib/signing/sigstore_image.ts";
import { buildAndPush, startRegistry } from "../helpers/registry.ts";
import { withServer } from "../helpers/server.ts";
import { spawnTask, type TaskResult } from "../helpers/run_task.ts";
import { integrationTest } from "../helpers/tools.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PASSPHRASE = "correct horse battery staple";

/** A task as deno task runs it, with a time limit so a hang fails the test. */
function run(file: string, args: string[], env: Record<string, string> = {}): Promise<TaskResult> {
  return spawnTask(file, args, {
    cwd: ROOT,
    signal: AbortSignal.timeout(120_000),
    env: {
      NO_COLOR: "1",
      HTTP_BACKOFF_MS: "1",
      HTTP_RETRIES: "1",
      GITHUB_ACTIONS: "false",
      GITHUB_OUTPUT: "",
      GITHUB_STEP_SUMMARY: "",
      SIGSTORE_PASSWORD: PASSPHRASE,
      ...env,
    },
  });
}

/** A key pair written as cosign writes it: dir/<name>.key (encrypted) and dir/<name>.pub. */
async function keyFiles(dir: string, name: string) {
  const pair = await generateKeyPair();
  const key = `${dir}/${name}.key`;
  const pub = `${dir}/${name}.pub`;
  await Deno.writeTextFile(key, await encryptPrivateKey(pair.privateKey, PASSPHRASE));
  await Deno.writeTextFile(pub, await publicKeyPem(pair.publicKey));
  return { key, pub, privateKey: pair.privateKey };
}

/** Pushes a signature manifest made by the test (the forger) as the .sig of `digest`. */
async function forge(repo: string, digest: string, layer: Awaited<ReturnType<typeof signPayload>>) {
  const image = parseImageRef(repo, false);
  const { config, manifest } = await signatureManifest([layer.layer]);
  await pushBlob(image, layer.blob);
  await pushBlob(image, config);
  await pushManifest(image, signatureTag(digest), manifest, OCI_MANIFEST_TYPE);
}

async function signatureLayers(repo: string, digest: string) {
  const { manifest } = await readManifest(repo, signatureTag(digest));
  return manifest.layers ?? [];
}

integrationTest(
  "sign-image signs so verify-image accepts, and verify-image refuses everything else",
  ["docker-registry", "podman"],
  async (t) => {
    const registry = await startRegistry();
    const dir = await Deno.makeTempDir({ prefix: "sigstore_image_test_" });
    try {
      const repo = `${registry.host}/owner/kmods`;
      const other = `${registry.host}/owner/elsewhere`;
      const build = (text: string) => `FROM scratch\nLABEL test=${text}\n`;
      await buildAndPush(`${repo}:signed`, build("signed"));
      await buildAndPush(`${repo}:unsigned`, build("unsigned"));
      await buildAndPush(`${other}:v1`, build("elsewhere"));
      const signed = (await readManifest(repo, "signed")).digest;
      const unsigned = (await readManifest(repo, "unsigned")).digest;
      const elsewhere = (await readManifest(other, "v1")).digest;
      const ours = await keyFiles(dir, "cosign");
      const theirs = await keyFiles(dir, "other");

      await t.step("a wrong passphrase: one line, exit 2, nothing pushed", async () => {
        const result = await run("sign_image.ts", [`${repo}@${signed}`, "--key", ours.key], {
          SIGSTORE_PASSWORD: "wrong",
        });
        assert.equal(result.code, 2, result.stderr);
        assert.equal(
          result.stderr.trim(),
          `error: Cannot decrypt the private key ${ours.key}: wrong passphrase ` +
            "(SIGSTORE_PASSWORD) or a damaged key file",
        );
        await assert.rejects(() => readManifest(repo, signatureTag(signed)), /HTTP 404/);
      });

      await t.step("no passphrase, a tag instead of a digest: exit 2", async () => {
        const bare = await run("sign_image.ts", [`${repo}@${signed}`, "--key", ours.key], {
          SIGSTORE_PASSWORD: "",
        });
        // An empty passphrase is a passphrase: it decrypts nothing made with another one.
        assert.equal(bare.code, 2, bare.stderr);
        const tag = await run("sign_image.ts", [`${repo}:signed`, "--key", ours.key]);
        assert.equal(tag.code, 2, tag.stderr);
        assert.match(tag.stderr, /^error: Sign a digest, not a tag/);
      });

      await t.step("a digest the registry does not have: exit 1, nothing pushed", async () => {
        const missing = `sha256:${"1".repeat(64)}`;
        const result = await run("sign_image.ts", [`${repo}@${missing}`, "--key", ours.key]);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        await assert.rejects(() => readManifest(repo, signatureTag(missing)), /HTTP 404/);
      });

      await t.step(
        "signed with sign-image: verify-image accepts it, by digest and by tag",
        async () => {
          const output = `${dir}/github_output`;
          await Deno.writeTextFile(output, "");
          const sign = await run(
            "sign_image.ts",
            [`${repo}@${signed}`, "--key", ours.key, "--github-output", "--json"],
            { GITHUB_OUTPUT: output },
          );
          assert.equal(sign.code, 0, sign.stderr);
          assert.equal(JSON.parse(sign.stdout)["signature-tag"], signatureTag(signed));
          assert.match(
            await Deno.readTextFile(output),
            new RegExp(`^signature-tag=${signatureTag(signed)}$`, "m"),
          );
          for (const ref of [`${repo}@${signed}`, `${repo}:signed`]) {
            const verify = await run("verify_image.ts", [ref, "--key", ours.pub, "--json"]);
            assert.equal(verify.code, 0, verify.stderr);
            const json = JSON.parse(verify.stdout);
            assert.equal(json.verified, true);
            assert.equal(json.digest, signed);
          }
        },
      );

      await t.step("signed with another key: refused, and says so", async () => {
        const result = await run("verify_image.ts", [`${repo}@${signed}`, "--key", theirs.pub]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stdout, /^not verified: /);
        assert.match(result.stderr, /the signature is not by this key/);
      });

      await t.step("signing again (another key) keeps the first signature", async () => {
        const result = await run("sign_image.ts", [`${repo}@${signed}`, "--key", theirs.key]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal((await signatureLayers(repo, signed)).length, 2);
        for (const pub of [ours.pub, theirs.pub]) {
          const verify = await run("verify_image.ts", [`${repo}@${signed}`, "--key", pub]);
          assert.equal(verify.code, 0, verify.stderr);
        }
      });

      await t.step("an unsigned image: refused as unsigned", async () => {
        const result = await run("verify_image.ts", [
          `${repo}:unsigned`,
          "--key",
          ours.pub,
          "--json",
        ]);
        assert.equal(result.code, 1, result.stderr);
        const json = JSON.parse(result.stdout);
        assert.equal(json.verified, false);
        assert.equal(json.reason, "unsigned");
        assert.match(result.stderr, /unsigned: no signature/);
      });

      await t.step("a signature whose payload names another digest: refused", async () => {
        // Our own key's valid signature of `signed`, copied to be the signature of `unsigned`.
        const copy = await signPayload(ours.privateKey, simpleSigningPayload(repo, signed));
        await forge(repo, unsigned, copy);
        const result = await run("verify_image.ts", [
          `${repo}@${unsigned}`,
          "--key",
          ours.pub,
          "--json",
        ]);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(JSON.parse(result.stdout).reason, "other-digest");
        assert.match(result.stderr, new RegExp(`names another digest: "${signed}"`));
      });

      await t.step("a signature whose payload names another repository: refused", async () => {
        const copy = await signPayload(ours.privateKey, simpleSigningPayload(repo, elsewhere));
        await forge(other, elsewhere, copy);
        const result = await run("verify_image.ts", [`${other}:v1`, "--key", ours.pub, "--json"]);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(JSON.parse(result.stdout).reason, "other-repository");
        assert.match(result.stderr, new RegExp(`names another repository: "${repo}"`));
      });

      await t.step("a tampered signature: refused", async () => {
        const good = await signPayload(ours.privateKey, simpleSigningPayload(other, elsewhere));
        const raw = derToP1363(fromBase64(good.layer.annotations![SIGNATURE_ANNOTATION]!, "s"));
        raw[63] = raw[63]! ^ 1;
        good.layer.annotations![SIGNATURE_ANNOTATION] = toBase64(p1363ToDer(raw));
        await forge(other, elsewhere, good);
        const result = await run("verify_image.ts", [`${other}@${elsewhere}`, "--key", ours.pub]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /the signature is not by this key/);
      });

      await t.step("a public key that is not one: exit 2, one line", async () => {
        const result = await run("verify_image.ts", [`${repo}@${signed}`, "--key", ours.key]);
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.match(result.stderr, /is not a PEM "PUBLIC KEY"/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
      await registry.stop();
    }
  },
);

/** A registry stand-in serving one image and a signature manifest the test shapes. */
async function withLyingRegistry(
  layers: (
    name: string,
    digest: string,
  ) => Promise<{ layers: unknown[]; blobs: Map<string, Uint8Array> }>,
  action: (repo: string, blobRequests: string[]) => Promise<void>,
): Promise<void> {
  const image = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_TYPE,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      size: 2,
      digest: `sha256:${"4".repeat(64)}`,
    },
    layers: [],
  }));
  const digest = await sha256Digest(image);
  const blobRequests: string[] = [];
  let shaped: Awaited<ReturnType<typeof layers>> | undefined;
  await withServer((request) => {
    const path = new URL(request.url).pathname;
    const headers = { "content-type": OCI_MANIFEST_TYPE };
    if (path === "/v2/owner/kmods/manifests/v1") return new Response(image, { headers });
    if (path === `/v2/owner/kmods/manifests/${signatureTag(digest)}`) {
      const config = {
        mediaType: "application/vnd.oci.image.config.v1+json",
        size: 2,
        digest: `sha256:${"4".repeat(64)}`,
      };
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_TYPE,
        config,
        layers: shaped!.layers,
      };
      return new Response(JSON.stringify(manifest), { headers });
    }
    const blob = /^\/v2\/owner\/kmods\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
    if (blob && shaped!.blobs.has(blob)) {
      blobRequests.push(blob);
      return new Response(shaped!.blobs.get(blob)! as BodyInit);
    }
    return Response.json({ errors: [{ code: "NOT_FOUND" }] }, { status: 404 });
  }, async (server) => {
    const repo = `127.0.0.1:${server.port}/owner/kmods`;
    shaped = await layers(repo, digest);
    await action(repo, blobRequests);
  });
}

Deno.test("verify-image takes nothing from the registry on trust", async (t) => {
  const pair = await generateKeyPair();
  await t.step("a payload blob that is not what its digest says: refused", async () => {
    await withLyingRegistry(async (repo, digest) => {
      const signed = await signPayload(pair.privateKey, simpleSigningPayload(repo, digest));
      // The registry serves other bytes (here: another, also validly signed, payload).
      const other = simpleSigningPayload(repo, `sha256:${"5".repeat(64)}`);
      return { layers: [signed.layer], blobs: new Map([[signed.layer.digest, other]]) };
    }, async (repo) => {
      const result = await verifyImage(`${repo}:v1`, pair.publicKey);
      assert.equal(result.verified, false);
      assert.match(result.detail!, /Blob content does not match sha256:/);
    });
  });
  await t.step("a layer claiming a huge payload: refused without reading it", async () => {
    await withLyingRegistry(async (repo, digest) => {
      const signed = await signPayload(pair.privateKey, simpleSigningPayload(repo, digest));
      const huge = { ...signed.layer, size: 1024 * 1024 * 1024 };
      return { layers: [huge], blobs: new Map([[signed.layer.digest, signed.blob]]) };
    }, async (repo, blobRequests) => {
      const result = await verifyImage(`${repo}:v1`, pair.publicKey);
      assert.equal(result.verified, false);
      assert.match(result.detail!, /the payload is too large/);
      assert.deepEqual(blobRequests, []);
    });
  });
  await t.step("thousands of bad layers: at most MAX_SIGNATURES looked at", async () => {
    await withLyingRegistry(async (repo) => {
      const wrong = await signPayload(
        pair.privateKey,
        simpleSigningPayload(repo, `sha256:${"6".repeat(64)}`),
      );
      return {
        layers: Array(2000).fill(wrong.layer),
        blobs: new Map([[wrong.layer.digest, wrong.blob]]),
      };
    }, async (repo, blobRequests) => {
      const result = await verifyImage(`${repo}:v1`, pair.publicKey);
      assert.equal(result.verified, false);
      assert.equal(result.reason, "other-digest");
      assert.equal(blobRequests.length, MAX_SIGNATURES);
      assert.match(
        result.detail!,
        /^no signature verifies \(the first 100 of 2000 checked\): the payload names another digest: "sha256:6{64}" \(100×\)$/,
      );
    });
  });
});
