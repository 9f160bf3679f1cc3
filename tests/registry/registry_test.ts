import assert from "node:assert/strict";
import { CheckError, InputError, RemoteError } from "../../lib/core/errors.ts";
import {
  fetchBlob,
  githubCredentialRegistries,
  inspectImage,
  manifestExists,
  parseBearerChallenge,
  parseImageRef,
  pickPlatform,
  readImageConfig,
  readManifest,
  registryBaseUrl,
  resolvePlatform,
} from "../../lib/registry/registry.ts";
import { withAuthProxy } from "../helpers/auth_proxy.ts";
import {
  ARM_KERNEL,
  FCOS42_KERNEL,
  pushFixtureImages,
  X86_KERNEL,
} from "../helpers/fcos_fixtures.ts";
import { withFakeRegistry } from "../helpers/fake_registry.ts";
import { matrixWithPublishImage } from "../helpers/matrix_file.ts";
import { startRegistry } from "../helpers/registry.ts";
import { json, timedTest, withServer, withTimeout } from "../helpers/server.ts";
import { integrationTest } from "../helpers/tools.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

Deno.test("parseImageRef() splits registry, repository, tag and digest", () => {
  assert.deepEqual(parseImageRef("quay.io/fedora/fedora-coreos:stable"), {
    registry: "quay.io",
    repository: "fedora/fedora-coreos",
    tag: "stable",
    digest: undefined,
    name: "quay.io/fedora/fedora-coreos",
  });
  const local = parseImageRef("127.0.0.1:5000/x:43");
  assert.equal(local.registry, "127.0.0.1:5000");
  assert.equal(local.repository, "x");
  assert.equal(local.tag, "43");
  const pinned = parseImageRef(`quay.io/fedora/fedora-coreos@${DIGEST}`);
  assert.equal(pinned.digest, DIGEST);
  assert.equal(pinned.tag, undefined);
  assert.equal(parseImageRef("fedora:43").name, "docker.io/library/fedora");
});

Deno.test("parseImageRef() requires a tag or digest and rejects malformed references", () => {
  assert.throws(() => parseImageRef("quay.io/fedora/fedora-coreos"), /no tag or digest/);
  for (const bad of ["quay.io/x:stable; rm -rf /", "Quay.io/X/Y:1", "x:$(id)", ""]) {
    assert.throws(() => parseImageRef(bad), InputError, bad);
  }
});

Deno.test("registryBaseUrl() uses plain http only for loopback registries", () => {
  assert.equal(registryBaseUrl(parseImageRef("127.0.0.1:5000/x:1")), "http://127.0.0.1:5000");
  assert.equal(registryBaseUrl(parseImageRef("localhost:5000/x:1")), "http://localhost:5000");
  assert.equal(registryBaseUrl(parseImageRef("[::1]:5000/x:1")), "http://[::1]:5000");
  assert.equal(
    registryBaseUrl(parseImageRef("127.0.0.1.evil.io/x:1")),
    "https://127.0.0.1.evil.io",
  );
  assert.equal(registryBaseUrl(parseImageRef("quay.io/x/y:1")), "https://quay.io");
  assert.equal(registryBaseUrl(parseImageRef("fedora:43")), "https://registry-1.docker.io");
});

Deno.test("parseBearerChallenge() reads realm, service and scope", () => {
  assert.deepEqual(
    parseBearerChallenge(
      'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:a/b:pull"',
    ),
    { realm: "https://quay.io/v2/auth", service: "quay.io", scope: "repository:a/b:pull" },
  );
  assert.equal(parseBearerChallenge('Basic realm="x"'), undefined);
  assert.equal(parseBearerChallenge(null), undefined);
});

Deno.test("pickPlatform() maps the arch and skips unknown/unknown attestation entries", () => {
  const index = {
    manifests: [
      { digest: "sha256:att", platform: { os: "unknown", architecture: "unknown" } },
      { digest: "sha256:arm", platform: { os: "linux", architecture: "arm64" } },
      { digest: "sha256:amd", platform: { os: "linux", architecture: "amd64" } },
    ],
  };
  assert.equal(pickPlatform(index, "x86_64"), "sha256:amd");
  assert.equal(pickPlatform(index, "aarch64"), "sha256:arm");
  assert.equal(pickPlatform({ manifests: [index.manifests[0]!] }, "x86_64"), undefined);
});

timedTest("inspectImage() names the platforms an index has when the arch is missing", async () => {
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: DIGEST,
        size: 1,
        platform: { os: "linux", architecture: "amd64" },
      },
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: DIGEST,
        size: 1,
        platform: { os: "unknown", architecture: "unknown" },
      },
    ],
  };
  await withServer(() => json(index), async (server) => {
    await assert.rejects(
      inspectImage(`127.0.0.1:${server.port}/fcos:stable`, "aarch64"),
      (e) =>
        e instanceof CheckError && /no linux\/arm64 image/.test(e.message) &&
        /unknown\/unknown/.test(e.message),
    );
  });
});

timedTest("inspectImage() reports a registry failure with the URL and status", async () => {
  await withServer(() => json({ errors: [] }, { status: 404 }), async (server) => {
    await assert.rejects(
      inspectImage(`127.0.0.1:${server.port}/fcos:stable`, "x86_64"),
      (e) =>
        e instanceof RemoteError && e.status === 404 &&
        e.message.includes("/v2/fcos/manifests/stable"),
    );
  });
});

integrationTest("registry client against a real registry behind a Bearer-token front", [
  "docker-registry",
  "podman",
], (t) => withTimeout(180_000, () => againstRealRegistry(t)));

async function againstRealRegistry(t: Deno.TestContext): Promise<void> {
  const registry = await startRegistry();
  try {
    const name = `fcos-reg-${crypto.randomUUID().slice(0, 8)}`;
    await pushFixtureImages(registry.host, name);
    const direct = await fetch(`http://${registry.host}/v2/${name}/manifests/multi`, {
      method: "HEAD",
      headers: { Accept: "application/vnd.oci.image.index.v1+json" },
    });
    const indexDigest = direct.headers.get("docker-content-digest")!;

    await t.step(
      "an index resolves to the requested platform's labels, pinned by the index digest",
      async () => {
        const x86 = await inspectImage(`${registry.host}/${name}:multi`, "x86_64");
        const arm = await inspectImage(`${registry.host}/${name}:multi`, "aarch64");
        assert.equal(x86.labels["ostree.linux"], X86_KERNEL);
        assert.equal(arm.labels["ostree.linux"], ARM_KERNEL);
        assert.equal(x86.digest, indexDigest);
        assert.equal(x86.pinned, `${registry.host}/${name}@${indexDigest}`);
        assert.equal(x86.layers.length, 1);
      },
    );

    await t.step(
      "resolvePlatform() reads one manifest; readImageConfig() the rest, as inspectImage() does",
      async () => {
        const multi = `${registry.host}/${name}:multi`;
        const platform = await resolvePlatform(multi, "aarch64");
        assert.equal(platform.digest, indexDigest);
        assert.equal(platform.pinned, `${registry.host}/${name}@${indexDigest}`);
        assert.match(platform.manifestDigest, /^sha256:[0-9a-f]{64}$/);
        assert.notEqual(platform.manifestDigest, indexDigest);
        assert.equal(platform.manifest, undefined, "the platform manifest is not read yet");
        assert.deepEqual(await readImageConfig(platform), await inspectImage(multi, "aarch64"));

        const single = `${registry.host}/${name}:42`;
        const plain = await resolvePlatform(single, "x86_64");
        assert.equal(plain.manifestDigest, plain.digest, "not an index: the manifest itself");
        assert.ok(plain.manifest?.config, "already read");
        const inspection = await readImageConfig(plain);
        assert.equal(inspection.labels["ostree.linux"], FCOS42_KERNEL);
        assert.deepEqual(inspection, await inspectImage(single, "x86_64"));
      },
    );

    await t.step(
      "asks for a token only after a 401, then sends it; blobs redirect without it",
      async () => {
        await withAuthProxy(registry.host, async (proxy) => {
          const ref = `${proxy.host}/${name}:42`;
          const image = await inspectImage(ref, "x86_64");
          assert.equal(image.labels["ostree.linux"], FCOS42_KERNEL);
          assert.equal(proxy.challenges, 1);
          assert.equal(proxy.tokenRequests.length, 1);
          assert.equal(proxy.tokenRequests[0]!.get("scope"), `repository:${name}:pull`);
          assert.equal(proxy.tokenRequests[0]!.get("service"), "test-registry");
          // the config blob went through the redirect, without the token
          assert.deepEqual(proxy.cdnAuthorization, [null]);
          const layer = await fetchBlob(ref, image.layers[0]!.digest);
          assert.equal((await layer.bytes()).length, image.layers[0]!.size);
          assert.deepEqual(proxy.cdnAuthorization, [null, null]);
        });
      },
    );

    await t.step(
      "accepts access_token and hashes the manifest when Docker-Content-Digest is absent",
      async () => {
        await withAuthProxy(registry.host, async (proxy) => {
          const image = await inspectImage(`${proxy.host}/${name}:multi`, "aarch64");
          assert.equal(image.digest, indexDigest);
          assert.equal(image.labels["ostree.linux"], ARM_KERNEL);
        }, { tokenKey: "access_token", dropDigestHeader: true });
      },
    );

    await t.step("manifestExists() answers for present and missing tags", async () => {
      await withAuthProxy(registry.host, async (proxy) => {
        const found = await manifestExists(`${proxy.host}/${name}:multi`);
        assert.deepEqual(found, { exists: true, digest: indexDigest });
        assert.deepEqual(await manifestExists(`${proxy.host}/${name}:no-such-tag`), {
          exists: false,
        });
      });
    });
  } finally {
    await registry.stop();
  }
}

Deno.test("githubCredentialRegistries(): ghcr.io, and the publish registry only on loopback", () => {
  assert.deepEqual([...githubCredentialRegistries(undefined)], ["ghcr.io"]);
  assert.deepEqual([...githubCredentialRegistries("ghcr.io")], ["ghcr.io"]);
  // a fork publishing to quay.io (where Fedora CoreOS lives too) sends it no GitHub token
  assert.deepEqual([...githubCredentialRegistries("quay.io")], ["ghcr.io"]);
  assert.deepEqual([...githubCredentialRegistries("registry.example.com:5000")], ["ghcr.io"]);
  assert.deepEqual([...githubCredentialRegistries("127.0.0.1:5000")], [
    "ghcr.io",
    "127.0.0.1:5000",
  ]);
  assert.deepEqual([...githubCredentialRegistries("localhost:5000")], [
    "ghcr.io",
    "localhost:5000",
  ]);
});

timedTest(
  "GitHub credentials go only to the project's own registry's token endpoint",
  async (t) => {
    const saved = Object.fromEntries(
      ["GH_TOKEN", "GITHUB_ACTOR", "MATRIX_FILE"].map((name) => [name, Deno.env.get(name)]),
    );
    Deno.env.set("GH_TOKEN", "ghs_secret");
    Deno.env.set("GITHUB_ACTOR", "octocat");
    try {
      await withFakeRegistry("honest", async (registry) => {
        await t.step("another registry: anonymous token request", async () => {
          Deno.env.delete("MATRIX_FILE"); // the project's matrix.yaml: publish on ghcr.io
          await withAuthProxy(registry.host, async (proxy) => {
            await inspectImage(`${proxy.host}/${registry.repository}:stable`, "x86_64");
            assert.deepEqual(proxy.tokenAuthorization, [null]);
          });
        });
        await t.step("the publish registry: Basic actor:token", async () => {
          await withAuthProxy(registry.host, async (proxy) => {
            const name = `${proxy.host}/${registry.repository}`;
            const matrix = await matrixWithPublishImage(name);
            Deno.env.set("MATRIX_FILE", matrix);
            try {
              const image = await inspectImage(`${name}:stable`, "x86_64");
              assert.equal(image.manifestDigest, registry.manifestDigest);
              assert.deepEqual(proxy.tokenAuthorization, [`Basic ${btoa("octocat:ghs_secret")}`]);
              // later requests reuse the token
              const { digest } = await readManifest(name, registry.manifestDigest);
              assert.equal(digest, registry.manifestDigest);
              assert.equal(proxy.tokenAuthorization.length, 1);
            } finally {
              await Deno.remove(matrix);
            }
          }, { private: { password: "ghs_secret" } });
        });
      });
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
    }
  },
);

timedTest(
  "a private package without credentials is 'Cannot read the registry', not missing",
  async () => {
    const saved = Deno.env.get("GH_TOKEN");
    Deno.env.set("GH_TOKEN", "ghs_not_for_this_registry");
    try {
      await withFakeRegistry("honest", (registry) =>
        withAuthProxy(registry.host, async (proxy) => {
          const ref = `${proxy.host}/${registry.repository}:stable`;
          for (const attempt of [manifestExists(ref), inspectImage(ref, "x86_64")]) {
            await assert.rejects(
              attempt,
              (e) =>
                e instanceof RemoteError && e.status === 401 &&
                /^Cannot read the registry/.test(e.message),
            );
          }
        }, { private: { password: "ghs_secret" } }));
    } finally {
      if (saved === undefined) Deno.env.delete("GH_TOKEN");
      else Deno.env.set("GH_TOKEN", saved);
    }
  },
);
