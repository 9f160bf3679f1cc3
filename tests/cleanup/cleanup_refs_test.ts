// Cleanup against the ghcr.io layout, reproduced in a real CNCF Distribution registry:
// a multi-arch OCI index whose platform manifests are untagged versions, and the
// attestation that actions/attest-build-provenance pushes (an untagged artifact manifest
// with `subject`, listed by an OCI index tagged `sha256-<index digest>`). The GitHub
// Packages stand-in lists those digests as the package's versions.
import assert from "node:assert/strict";
import { readManifest } from "../../lib/registry/registry.ts";
import {
  deletedIds,
  digestOf,
  type FakeGithub,
  hexOf,
  OCI_INDEX,
  OCI_MANIFEST,
  PACKAGE,
  type VersionJson,
  versionJson,
  withPackages,
} from "../helpers/github_packages.ts";
import { buildAndPush, startRegistry } from "../helpers/registry.ts";
import type { TestServer } from "../helpers/server.ts";
import { runTaskFile } from "../helpers/run_task.ts";
import { integrationTest } from "../helpers/tools.ts";
import { $ } from "zx";

const encoder = new TextEncoder();

/** Uploads a blob through the distribution API (POST, then PUT with the digest). */
async function pushBlob(host: string, name: string, bytes: Uint8Array): Promise<string> {
  const digest = digestOf(bytes);
  const start = await fetch(`http://${host}/v2/${name}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get("location")!, `http://${host}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes as BufferSource,
  });
  await put.body?.cancel();
  assert.equal(put.status, 201, `blob upload answered ${put.status}`);
  return digest;
}

/** PUTs a manifest by tag or digest; returns its digest and size. */
async function pushManifest(
  host: string,
  name: string,
  manifest: Record<string, unknown>,
  reference?: string,
): Promise<{ digest: string; size: number }> {
  const bytes = encoder.encode(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  const response = await fetch(`http://${host}/v2/${name}/manifests/${reference ?? digest}`, {
    method: "PUT",
    headers: { "content-type": manifest.mediaType as string },
    body: bytes as BufferSource,
  });
  const text = await response.text();
  assert.equal(response.status, 201, `manifest PUT answered ${response.status}: ${text}`);
  return { digest, size: bytes.byteLength };
}

const runCleanup = (args: string[], env: Record<string, string>) =>
  runTaskFile("cleanup.ts", args, env);

const NEW_TAG = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
const OLD_TAG = "zfs-2.4.1_kernel-6.16.1-200.fc43.x86_64";

/** A `FROM scratch` Containerfile with one file, labelled so every variant has its own digest. */
const scratchImage = (label: string) => `FROM scratch\nCOPY file.txt /\nLABEL variant=${label}\n`;

/** A real registry for the package acme/fedora-zfs-kmods: runs `action`, then stops it. */
async function withRegistry(
  action: (where: { host: string; name: string; repo: string }) => Promise<void>,
): Promise<void> {
  const registry = await startRegistry();
  try {
    const name = `acme/${PACKAGE}`;
    await action({ host: registry.host, name, repo: `${registry.host}/${name}` });
  } finally {
    await registry.stop();
  }
}

/**
 * The packages stand-in for organisation acme listing `versions` (a copy: deletes take them
 * out) and a matrix.yaml publishing to `repo`: runs `action` with the task's environment.
 */
async function withAcme(
  versions: VersionJson[],
  repo: string,
  action: (server: TestServer, env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 5,
    versions: [...versions],
  };
  await withPackages(fake, action, { image: repo });
}

integrationTest(
  "cleanup keeps the platform and attestation manifests a kept image references (ghcr.io layout)",
  ["podman", "docker-registry"],
  async (t) => {
    await withRegistry(async ({ host, name, repo }) => {
      await buildAndPush(`${repo}:amd64`, scratchImage("amd64"), { "file.txt": "amd64" }, {
        arch: "amd64",
      });
      await buildAndPush(`${repo}:arm64`, scratchImage("arm64"), { "file.txt": "arm64" }, {
        arch: "arm64",
      });
      await buildAndPush(`${repo}:old`, scratchImage("old"), { "file.txt": "old" });
      await buildAndPush(`${repo}:stray`, scratchImage("stray"), { "file.txt": "stray" });
      const amd64 = await readManifest(repo, "amd64");
      const arm64 = await readManifest(repo, "arm64");
      const old = await readManifest(repo, "old");
      const stray = await readManifest(repo, "stray");
      const descriptor = async (m: { digest: string; mediaType: string }, arch: string) => {
        const response = await fetch(`http://${repo.replace("/", "/v2/")}/manifests/${m.digest}`, {
          headers: { accept: m.mediaType },
        });
        const size = (await response.arrayBuffer()).byteLength;
        return {
          mediaType: m.mediaType,
          digest: m.digest,
          size,
          platform: { os: "linux", architecture: arch },
        };
      };
      // The multi-arch image: an OCI index listing both platform manifests.
      const index = await pushManifest(host, name, {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [await descriptor(amd64, "amd64"), await descriptor(arm64, "arm64")],
      }, NEW_TAG);
      // The attestation, as attest-build-provenance pushes it: an artifact manifest with
      // `subject` (untagged), listed by an index tagged sha256-<index digest>.
      const empty = await pushBlob(host, name, encoder.encode("{}"));
      const bundle = encoder.encode(
        JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json" }),
      );
      const bundleDigest = await pushBlob(host, name, bundle);
      const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
      const attestation = await pushManifest(host, name, {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: bundleType,
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
        layers: [{ mediaType: bundleType, digest: bundleDigest, size: bundle.byteLength }],
        subject: { mediaType: OCI_INDEX, digest: index.digest, size: index.size },
        annotations: { "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1" },
      });
      const referrersTag = `sha256-${hexOf(index.digest)}`;
      const referrers = await pushManifest(host, name, {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{
          mediaType: OCI_MANIFEST,
          artifactType: bundleType,
          digest: attestation.digest,
          size: attestation.size,
        }],
      }, referrersTag);

      // Every version is far past the 90 days; only the newest versioned tag is kept by tag.
      const versions = [
        versionJson(1, 200, [NEW_TAG], index.digest),
        versionJson(2, 200, [], amd64.digest),
        versionJson(3, 200, [], arm64.digest),
        versionJson(4, 200, [referrersTag], referrers.digest),
        versionJson(5, 200, [], attestation.digest),
        versionJson(6, 300, [OLD_TAG], old.digest),
        versionJson(7, 250, [], stray.digest),
      ];
      await t.step("only the unreferenced versions are deleted, with reasons", async () => {
        await withAcme(versions, repo, async (server, env) => {
          const args = ["90", "1", "--owner", "acme", "--package", PACKAGE];
          const dry = await runCleanup(["--dry-run", "--json", ...args], env);
          assert.equal(dry.code, 0, dry.stderr);
          const plan = JSON.parse(dry.stdout);
          const reasons = Object.fromEntries(
            plan.versions.map((v: { id: number; reason: string }) => [v.id, v.reason]),
          );
          assert.deepEqual(reasons, {
            1: "newest 1 versioned tags",
            2: `referenced by ${NEW_TAG}`,
            3: `referenced by ${NEW_TAG}`,
            4: "attestation of kept image",
            5: `referenced by ${referrersTag}`,
            6: "expired",
            7: "expired",
          });

          const human = await runCleanup(["--dry-run", "--verbose", ...args], env);
          assert.equal(human.code, 0, human.stderr);
          const shortIndex = `sha256-${hexOf(index.digest).slice(0, 4)}…${index.digest.slice(-4)}`;
          assert.match(
            human.stdout,
            new RegExp(`^5 +sha256:\\S+ +- .* referenced by ${shortIndex}$`, "m"),
          );
          assert.match(
            human.stdout,
            /^2 +sha256:\S+ +- .* referenced by zfs-2\.4\.2_kernel-/m,
          );

          const run = await runCleanup(["--yes", ...args], env);
          assert.equal(run.code, 0, run.stderr);
          assert.deepEqual(deletedIds(server), [6, 7]);
        });
      });

      await t.step(
        "a kept index the registry cannot serve stops the run: nothing deleted",
        async () => {
          const missing = `sha256:${"e".repeat(64)}`;
          const kept = versionJson(9, 1, ["zfs-2.4.3_kernel-6.17.8-300.fc43.x86_64"], missing);
          await withAcme([kept, ...versions], repo, async (server, env) => {
            const run = await runCleanup([
              "90",
              "2",
              "--owner",
              "acme",
              "--package",
              PACKAGE,
              "--yes",
            ], env);
            assert.equal(run.code, 1, run.stderr);
            assert.match(
              run.stderr,
              /^error: Cannot read the manifest of kept version 9 \(zfs-2\.4\.3_kernel-6\.17\.8-300\.fc43\.x86_64\), so nothing was deleted: /m,
            );
            assert.equal(server.requests.filter((r) => r.method === "DELETE").length, 0);
          });
        },
      );
    });
  },
);

/** Creates an image index with podman (`podman manifest`) of `refs` and pushes it as `target`. */
async function podmanIndex(target: string, refs: string[]): Promise<void> {
  const local = `localhost/test-index-${crypto.randomUUID()}`;
  await $({ quiet: true })`podman manifest create ${local}`;
  try {
    for (const ref of refs) {
      await $({
        quiet: true,
      })`podman manifest add --tls-verify=false ${local} ${`docker://${ref}`}`;
    }
    await $({
      quiet: true,
    })`podman manifest push --tls-verify=false ${local} ${`docker://${target}`}`;
  } finally {
    await $({ quiet: true, nothrow: true })`podman manifest rm ${local}`;
  }
}

integrationTest(
  "cleanup treats fcos-<release> indexes as aliases: kept while an image they list is kept, gone with them",
  ["podman", "docker-registry"],
  async (t) => {
    await withRegistry(async ({ host, name, repo }) => {
      const tag = (release: string, arch: string) =>
        `zfs-2.4.4_kernel-6.17.${release === "A" ? 1 : 2}-300.fc43.${arch}`;
      for (const release of ["A", "B"]) {
        for (const [arch, oci] of [["x86_64", "amd64"], ["aarch64", "arm64"]] as const) {
          await buildAndPush(
            `${repo}:${tag(release, arch)}`,
            scratchImage(`${release}-${arch}`),
            { "file.txt": `${release} ${arch}` },
            { arch: oci },
          );
        }
      }
      const aliasA = "fcos-43.20250101.3.1";
      const aliasB = "fcos-43.20250301.3.1";
      await podmanIndex(`${repo}:${aliasA}`, [
        `${repo}:${tag("A", "x86_64")}`,
        `${repo}:${tag("A", "aarch64")}`,
      ]);
      await podmanIndex(`${repo}:${aliasB}`, [
        `${repo}:${tag("B", "x86_64")}`,
        `${repo}:${tag("B", "aarch64")}`,
      ]);
      const digest = async (reference: string) => (await readManifest(repo, reference)).digest;
      // the signature of fcos-B, as sign-image pushes it: a manifest tagged sha256-<hex>.sig
      const empty = await pushBlob(host, name, encoder.encode("{}"));
      const indexB = await digest(aliasB);
      const sigTag = `sha256-${hexOf(indexB)}.sig`;
      const signature = await pushManifest(host, name, {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: empty, size: 2 },
        layers: [],
      }, sigTag);
      const versions = [
        versionJson(1, 200, [tag("A", "x86_64")], await digest(tag("A", "x86_64"))),
        versionJson(2, 200, [tag("A", "aarch64")], await digest(tag("A", "aarch64"))),
        versionJson(3, 199, [aliasA], await digest(aliasA)),
        versionJson(4, 100, [tag("B", "x86_64")], await digest(tag("B", "x86_64"))),
        versionJson(5, 100, [tag("B", "aarch64")], await digest(tag("B", "aarch64"))),
        versionJson(6, 99, [aliasB], indexB),
        versionJson(7, 99, [sigTag], signature.digest),
      ];
      const args = ["--owner", "acme", "--package", PACKAGE];
      const reasons = async (env: Record<string, string>, minVersions: string) => {
        const dry = await runCleanup(["--dry-run", "--json", "90", minVersions, ...args], env);
        assert.equal(dry.code, 0, dry.stderr);
        return Object.fromEntries(
          JSON.parse(dry.stdout).versions.map((
            v: { id: number; action: string; reason: string },
          ) => [v.id, `${v.action}: ${v.reason}`]),
        );
      };
      await t.step(
        "newest 1: the alias keeps its other arch and itself; the old release goes",
        async () => {
          await withAcme(versions, repo, async (server, env) => {
            assert.deepEqual(await reasons(env, "1"), {
              1: "delete: expired",
              2: "delete: expired",
              3: "delete: alias of deleted images",
              4: `keep: listed by ${aliasB}`,
              5: "keep: newest 1 versioned tags",
              6: "keep: alias of kept image",
              7: "keep: signature of kept image",
            });
            const run = await runCleanup(["90", "1", "--yes", ...args], env);
            assert.equal(run.code, 0, run.stderr);
            assert.deepEqual(deletedIds(server), [1, 2, 3]);
          });
        },
      );
      await t.step(
        "an alias never keeps an image on its own: its images expire, it goes with them",
        async () => {
          // B's images lost their tags: nothing keeps them but fcos-B, which does not count
          const untagged = versions.map((v) =>
            v.id === 4 || v.id === 5
              ? { ...v, metadata: { ...v.metadata, container: { tags: [] } } }
              : v
          );
          await withAcme(untagged, repo, async (_server, env) => {
            assert.deepEqual(await reasons(env, "2"), {
              1: "keep: newest 2 versioned tags",
              2: "keep: newest 2 versioned tags",
              3: "keep: alias of kept image",
              4: "delete: expired",
              5: "delete: expired",
              6: "delete: alias of deleted images",
              7: "delete: expired", // the signature goes with its image
            });
          });
        },
      );
    });
  },
);
