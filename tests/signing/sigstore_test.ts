// The cosign signature format and key files, checked against the reference implementations'
// own data (tests/fixtures/cosign/README.md: cosign's encrypted test keys, a signature cosign
// made that containers/image verifies) and against openssl, which reads what we write.
import assert from "node:assert/strict";
import fc from "fast-check";
import { InputError } from "../../lib/core/errors.ts";
import {
  mergeLayers,
  sha256Digest,
  SIGNATURE_ANNOTATION,
  type SignatureLayer,
  signatureManifest,
  signatureTag,
  signPayload,
  SIMPLE_SIGNING_TYPE,
  simpleSigningPayload,
  verifyLayer,
} from "../../lib/signing/sigstore.ts";
import {
  decryptPkcs8,
  decryptPrivateKey,
  derToP1363,
  encryptPrivateKey,
  fromBase64,
  generateKeyPair,
  importPublicKey,
  p1363ToDer,
  pemDecode,
  publicKeyOf,
  publicKeyPem,
  SIGSTORE_KEY_LABEL,
  toBase64,
} from "../../lib/signing/sigstore_keys.ts";
import { integrationTest } from "../helpers/tools.ts";

const FIXTURES = new URL("../fixtures/cosign/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

/** The real cosign signature: its payload bytes and its layer as the registry would list it. */
async function realSignature(file = "containers-image.signature") {
  const stored = JSON.parse(fixture(file)) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  const payload = fromBase64(stored.payload, "payload");
  const layer: SignatureLayer = {
    mediaType: stored.mimeType,
    size: payload.length,
    digest: await sha256Digest(payload),
    annotations: stored.annotations,
  };
  return { payload, layer };
}

const REAL_IMAGE = {
  name: "192.168.64.2:5000/cosign-signed-single-sample",
  digest: "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00",
};

Deno.test("a signature cosign made verifies with its public key, for its image only", async (t) => {
  const { payload, layer } = await realSignature();
  const key = await importPublicKey(fixture("containers-image-cosign.pub"));
  await t.step("the manifest in the fixture is the signed digest", async () => {
    const bytes = new TextEncoder().encode(fixture("containers-image.manifest"));
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(`sha256:${hex}`, REAL_IMAGE.digest);
  });
  await t.step("cosign's payload is byte for byte the one we write", () => {
    assert.deepEqual(payload, simpleSigningPayload(REAL_IMAGE.name, REAL_IMAGE.digest));
  });
  await t.step("verified", async () => {
    assert.deepEqual(await verifyLayer(layer, payload, key, REAL_IMAGE), { verified: true });
  });
  await t.step("another key: refused", async () => {
    const other = await importPublicKey(fixture("containers-image-cosign2.pub"));
    const verdict = await verifyLayer(layer, payload, other, REAL_IMAGE);
    assert.equal(verdict.verified, false);
    assert.equal(!verdict.verified && verdict.reason, "other-key");
  });
  await t.step("the same payload signed by an unknown key: refused", async () => {
    const unknown = await realSignature("containers-image-unknown-key.signature");
    const verdict = await verifyLayer(unknown.layer, unknown.payload, key, REAL_IMAGE);
    assert.equal(!verdict.verified && verdict.reason, "other-key");
  });
  await t.step("another digest or repository expected: refused", async () => {
    const otherDigest = { ...REAL_IMAGE, digest: `sha256:${"0".repeat(64)}` };
    const byDigest = await verifyLayer(layer, payload, key, otherDigest);
    assert.equal(!byDigest.verified && byDigest.reason, "other-digest");
    assert.match(!byDigest.verified ? byDigest.detail : "", /634a8f35/);
    const otherName = { ...REAL_IMAGE, name: "192.168.64.2:5000/another" };
    const byName = await verifyLayer(layer, payload, key, otherName);
    assert.equal(!byName.verified && byName.reason, "other-repository");
  });
  await t.step("one changed byte of the payload: refused", async () => {
    const changed = payload.slice();
    changed[changed.length - 3] = changed[changed.length - 3]! ^ 1;
    const verdict = await verifyLayer(layer, changed, key, REAL_IMAGE);
    assert.equal(!verdict.verified && verdict.reason, "other-key");
  });
  await t.step("a layer of another media type or without the annotation: refused", async () => {
    const other = { ...layer, mediaType: "application/vnd.oci.image.layer.v1.tar" };
    const byType = await verifyLayer(other, payload, key, REAL_IMAGE);
    assert.equal(!byType.verified && byType.reason, "not-simple-signing");
    const bare = { ...layer, annotations: {} };
    const byAnnotation = await verifyLayer(bare, payload, key, REAL_IMAGE);
    assert.equal(!byAnnotation.verified && byAnnotation.reason, "no-signature");
  });
});

Deno.test("cosign's own encrypted test keys decrypt with their passphrase", async (t) => {
  /** The fixture key decrypts with "hello", signs, and its public key verifies the signature. */
  const signsAndVerifies = async (file: string) => {
    const key = await decryptPrivateKey(fixture(file), "hello");
    const { layer, blob } = await signPayload(key, simpleSigningPayload("r/x", REAL_IMAGE.digest));
    const verdict = await verifyLayer(layer, blob, await publicKeyOf(key), {
      name: "r/x",
      digest: REAL_IMAGE.digest,
    });
    assert.deepEqual(verdict, { verified: true });
  };
  await t.step("ENCRYPTED SIGSTORE PRIVATE KEY (ECDSA P-256) signs; its key verifies", async () => {
    await signsAndVerifies("cosign-keys-test-sigstore.key");
  });
  await t.step("ENCRYPTED COSIGN PRIVATE KEY (the label before cosign 2) decrypts", async () => {
    await signsAndVerifies("cosign-keys-test-cosign.key");
  });
  await t.step("a SEC1 key in the file (cosign refuses it too): refused", async () => {
    await assert.rejects(
      () => decryptPrivateKey(fixture("cosign-keys-test-cosign-sec1.key"), "hello"),
      (error: Error) => error instanceof InputError && /not an ECDSA P-256 key/.test(error.message),
    );
  });
  await t.step("a wrong passphrase: one line saying so", async () => {
    await assert.rejects(
      () => decryptPrivateKey(fixture("cosign-keys-test-sigstore.key"), "wrong", "The key k"),
      (error: Error) =>
        error instanceof InputError &&
        error.message ===
          "Cannot decrypt the key k: wrong passphrase (SIGSTORE_PASSWORD) or a damaged key file",
    );
  });
});

Deno.test("a key we write decrypts to the key, under cosign's label and parameters", async () => {
  const pair = await generateKeyPair();
  const file = await encryptPrivateKey(pair.privateKey, "pass phrase");
  const { label, bytes } = pemDecode(file, [SIGSTORE_KEY_LABEL], "k");
  assert.equal(label, "ENCRYPTED SIGSTORE PRIVATE KEY");
  const json = JSON.parse(new TextDecoder().decode(bytes));
  assert.deepEqual(json.kdf.params, { N: 32768, r: 8, p: 1 });
  assert.equal(json.kdf.name, "scrypt");
  assert.equal(json.cipher.name, "nacl/secretbox");
  const key = await decryptPrivateKey(file, "pass phrase");
  assert.equal(await publicKeyPem(await publicKeyOf(key)), await publicKeyPem(pair.publicKey));
});

Deno.test("a key file asking for huge scrypt parameters is refused before any work", () => {
  const json = { kdf: { name: "scrypt", params: { N: 2 ** 30, r: 8, p: 1 }, salt: "AAAA" } };
  const file = `-----BEGIN ${SIGSTORE_KEY_LABEL}-----\n${
    toBase64(new TextEncoder().encode(JSON.stringify({
      ...json,
      cipher: { name: "nacl/secretbox", nonce: "AAAA" },
      ciphertext: "AAAA",
    })))
  }\n-----END ${SIGSTORE_KEY_LABEL}-----\n`;
  assert.throws(() => decryptPkcs8(file, "x"), /unsupported scrypt parameters/);
});

Deno.test("p1363ToDer() and derToP1363() are inverse; only strict DER is read", async (t) => {
  await t.step("round trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (raw) => {
        assert.deepEqual(derToP1363(p1363ToDer(raw)), raw);
      }),
    );
  });
  await t.step("non-DER refused", () => {
    const der = p1363ToDer(new Uint8Array(64).fill(0x7f));
    const withTrailer = Uint8Array.of(...der, 0);
    const longer = Uint8Array.of(0x30, der[1]! + 1, ...der.subarray(2), 0);
    const padded = Uint8Array.of(0x30, der[1]! + 1, 0x02, 33, 0, ...der.subarray(4));
    const negative = der.slice();
    negative[4] = 0x80;
    for (const bad of [withTrailer, longer, padded, negative, new Uint8Array(0)]) {
      assert.throws(() => derToP1363(bad), /Malformed signature/);
    }
  });
});

Deno.test("signatureTag(), the manifest and mergeLayers() have cosign's shapes", async () => {
  const digest = `sha256:${"ab".repeat(32)}`;
  assert.equal(signatureTag(digest), `sha256-${"ab".repeat(32)}.sig`);
  const payload = simpleSigningPayload("h/r", digest);
  const one = await signPayload((await generateKeyPair()).privateKey, payload);
  const two = await signPayload((await generateKeyPair()).privateKey, payload);
  const layers = mergeLayers(mergeLayers([one.layer], two.layer), one.layer);
  assert.equal(layers.length, 2, "a second signature is added, the same one not repeated");
  const { config, configDigest, manifest } = await signatureManifest(layers);
  const parsed = JSON.parse(new TextDecoder().decode(manifest));
  assert.equal(parsed.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(parsed.config.digest, configDigest);
  assert.equal(parsed.layers[1].mediaType, SIMPLE_SIGNING_TYPE);
  assert.ok(parsed.layers[1].annotations[SIGNATURE_ANNOTATION]);
  const rootfs = JSON.parse(new TextDecoder().decode(config)).rootfs;
  assert.deepEqual(rootfs, { type: "layers", diff_ids: [one.layer.digest, two.layer.digest] });
});

integrationTest("openssl verifies our signature and reads our keys", ["openssl"], async () => {
  const dir = await Deno.makeTempDir({ prefix: "sigstore_test_" });
  try {
    const pair = await generateKeyPair();
    const payload = simpleSigningPayload("127.0.0.1:5000/r", REAL_IMAGE.digest);
    const { layer } = await signPayload(pair.privateKey, payload);
    await Deno.writeFile(`${dir}/payload`, payload);
    await Deno.writeFile(
      `${dir}/sig.der`,
      fromBase64(layer.annotations![SIGNATURE_ANNOTATION]!, "s"),
    );
    await Deno.writeTextFile(`${dir}/cosign.pub`, await publicKeyPem(pair.publicKey));
    const openssl = async (...args: string[]) => {
      const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
        .output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      return { ok: out.success, text };
    };
    const verify = (file: string) =>
      openssl(
        "dgst",
        "-sha256",
        "-verify",
        `${dir}/cosign.pub`,
        "-signature",
        `${dir}/sig.der`,
        file,
      );
    const good = await verify(`${dir}/payload`);
    assert.ok(good.ok, good.text);
    assert.match(good.text, /Verified OK/);
    await Deno.writeFile(
      `${dir}/other`,
      simpleSigningPayload("127.0.0.1:5000/other", REAL_IMAGE.digest),
    );
    assert.equal((await verify(`${dir}/other`)).ok, false);
    // The decrypted key file is PKCS#8 DER of that very key, as cosign (Go's x509) reads it.
    const file = await encryptPrivateKey(pair.privateKey, "pw");
    await Deno.writeFile(`${dir}/key.der`, decryptPkcs8(file, "pw"));
    const pub = await openssl("pkey", "-inform", "DER", "-in", `${dir}/key.der`, "-pubout");
    assert.ok(pub.ok, pub.text);
    assert.equal(pub.text.trim(), (await publicKeyPem(pair.publicKey)).trim());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
