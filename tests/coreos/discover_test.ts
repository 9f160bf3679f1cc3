import assert from "node:assert/strict";
import { $ } from "zx";
import {
  discoverImage,
  discoverVersions,
  fedoraVersionOf,
  findKernel,
  mergeModulesChanges,
  resolveTarget,
  streamOf,
  streamOfImage,
  type Versions,
  versionsOutput,
} from "../../lib/coreos/discover.ts";
import { inspectImage } from "../../lib/registry/registry.ts";
import { CheckError } from "../../lib/core/errors.ts";
import { defaultTarget, loadMatrix, type Matrix } from "../../lib/matrix/matrix.ts";
import { withAuthProxy } from "../helpers/auth_proxy.ts";
import {
  ARM_KERNEL,
  BASE_KERNEL,
  BASE_VERSION,
  DERIVED_KERNEL,
  FCOS42_KERNEL,
  FCOS43_KERNEL,
  FCOS43_VERSION,
  LEGACY_KERNEL,
  LEGACY_VERSION,
  MODULES_KERNEL,
  OPAQUE_KERNEL,
  pushDerivedImages,
  pushFixtureImages,
  RELEASES,
  releasesHandler,
  X86_KERNEL,
} from "../helpers/fcos_fixtures.ts";
import { fcosBuilds, type StandInRelease } from "../helpers/release_index.ts";
import { buildAndPush, startRegistry } from "../helpers/registry.ts";
import { runTaskFile } from "../helpers/run_task.ts";
import { type TestServer, withServer } from "../helpers/server.ts";
import { integrationTest } from "../helpers/tools.ts";

const matrix = await loadMatrix(new URL("../../matrix.yaml", import.meta.url).pathname);

/** matrix.yaml with `image` as its default target on the stable stream (its stream known). */
function targetMatrix(image: string): Matrix {
  return {
    ...matrix,
    targets: [{ ...defaultTarget(matrix), image, stream: "stable", arch: "x86_64" }],
  };
}

/** A front for a registry that forwards every request and records it. */
function withRecordingFront<T>(host: string, action: (front: TestServer) => Promise<T>) {
  return withServer(async (request) => {
    const url = new URL(request.url);
    const response = await fetch(`http://${host}${url.pathname}${url.search}`, {
      method: request.method,
      headers: { Accept: request.headers.get("accept") ?? "*/*" },
    });
    return new Response(response.body, { status: response.status, headers: response.headers });
  }, action);
}

Deno.test("resolveTarget() takes options first, then the matching target, then matrix.yaml", () => {
  assert.deepEqual(resolveTarget(matrix, {}), {
    image: "quay.io/fedora/fedora-coreos:stable",
    arch: "x86_64",
    series: "2.4",
    stream: "stable",
  });
  assert.deepEqual(resolveTarget(matrix, { image: "127.0.0.1:5000/x:1", series: "2.3" }), {
    image: "127.0.0.1:5000/x:1",
    arch: "x86_64",
    series: "2.3",
    stream: undefined,
  });
  assert.equal(resolveTarget(matrix, { arch: "aarch64" }).arch, "aarch64");
});

Deno.test("fedoraVersionOf() reads the version label, else the .fcNN of the kernel", () => {
  assert.equal(
    fedoraVersionOf({ "org.opencontainers.image.version": "43.20251110.3.1" }, "x"),
    "43",
  );
  assert.equal(fedoraVersionOf({}, MODULES_KERNEL), "41");
  assert.equal(
    fedoraVersionOf({ "org.opencontainers.image.version": "latest" }, "6.1.1-1.el9.x86_64"),
    undefined,
  );
});

Deno.test("versionsOutput() uses the kebab-case keys everywhere, fallback keys only with one", () => {
  const v: Versions = {
    image: "quay.io/fedora/fedora-coreos:stable",
    arch: "x86_64",
    zfsTag: "zfs-2.4.4",
    zfsVersion: "2.4.4",
    zfsLatest: "zfs-2.4.5",
    zfsPinned: false,
    kernelVersion: FCOS43_KERNEL,
    kernelMajorMinor: "6.17",
    fedoraVersion: "43",
    maxKernel: null,
    compatible: false,
    imageDigest: `sha256:${"1".repeat(64)}`,
    pinnedImage: `quay.io/fedora/fedora-coreos@sha256:${"1".repeat(64)}`,
    imageTag: `zfs-2.4.4_kernel-${FCOS43_KERNEL}`,
    kernelSource: "coreos build metadata",
    message: "",
    warnings: [],
  };
  const keys = [
    "zfs-tag",
    "zfs-version",
    "zfs-latest",
    "zfs-pinned",
    "kernel-version",
    "kernel-major-minor",
    "fedora-version",
    "max-kernel",
    "compatible",
    "image-digest",
    "image-tag",
    "kernel-source",
    "release",
    "release-tag",
  ];
  assert.deepEqual(Object.keys(versionsOutput(v)), keys);
  // not known to be a release (a derived or non-FCOS image): both empty
  assert.equal(versionsOutput(v).release, "");
  assert.equal(versionsOutput(v)["release-tag"], "");
  const official = versionsOutput({ ...v, release: "43.20251117.3.1", compatible: true });
  assert.equal(official.release, "43.20251117.3.1");
  assert.equal(official["release-tag"], "fcos-43.20251117.3.1");
  assert.equal(versionsOutput(v)["max-kernel"], "");
  assert.equal(versionsOutput(v).compatible, false);
  assert.equal(versionsOutput(v)["zfs-pinned"], false);
  const fallback = {
    release: "43.20251110.3.1",
    image: `quay.io/fedora/fedora-coreos@sha256:${"2".repeat(64)}`,
    kernelVersion: FCOS43_KERNEL,
    zfsTag: "zfs-2.4.2",
    imageTag: `zfs-2.4.2_kernel-${FCOS43_KERNEL}`,
  };
  assert.deepEqual(Object.keys(versionsOutput({ ...v, fallback })), [
    ...keys,
    "fallback-release",
    "fallback-image",
    "fallback-kernel-version",
    "fallback-zfs-tag",
    "fallback-image-tag",
  ]);
  // the plan builds the fallback: its release is the one the built image is for
  const fellBack = versionsOutput({ ...v, release: "44.20260301.3.0", fallback });
  assert.equal(fellBack.release, "43.20251110.3.1");
  assert.equal(fellBack["release-tag"], "fcos-43.20251110.3.1");
});

Deno.test("streamOfImage() knows the stream of a target's image or of …/fedora/fedora-coreos:<stream>", () => {
  assert.equal(streamOfImage(matrix, "quay.io/fedora/fedora-coreos:stable"), "stable");
  assert.equal(streamOfImage(matrix, "127.0.0.1:5000/fedora/fedora-coreos:testing"), "testing");
  assert.equal(streamOfImage(matrix, "registry.example/mirror/fedora/fedora-coreos:next"), "next");
  // a matrix target's image is known whatever the arch asked for
  const other = {
    ...matrix,
    targets: [{ ...defaultTarget(matrix), image: "127.0.0.1:5000/x:1", stream: "testing" }],
  };
  assert.equal(streamOfImage(other, "127.0.0.1:5000/x:1"), "testing");
  for (
    const image of [
      "quay.io/fedora/fedora-coreos:43.20251110.3.1", // a release, not a stream
      "quay.io/fedora/fedora-coreos:43",
      "quay.io/fedora/fedora-coreos@sha256:" + "a".repeat(64),
      "quay.io/other/fedora-coreos:stable",
      "quay.io/fedora/fedora-coreos-derived:stable",
      "127.0.0.1:5000/x:1",
    ]
  ) assert.equal(streamOfImage(matrix, image), undefined, image);
});

Deno.test("streamOf() accepts the legacy fedora-coreos.stream label", () => {
  assert.equal(streamOf({ "com.coreos.stream": "stable" }), "stable");
  assert.equal(streamOf({ "fedora-coreos.stream": "testing" }), "testing");
  assert.equal(
    streamOf({ "com.coreos.stream": "next", "fedora-coreos.stream": "testing" }),
    "next",
  );
  assert.equal(streamOf({}), undefined);
});

/** An FCOS 42 stable image as inspected: its kernel named by the ostree.linux label only. */
const LABELLED_42 = {
  labels: {
    "ostree.linux": FCOS42_KERNEL,
    "org.opencontainers.image.version": "42.20250705.3.0",
    "com.coreos.stream": "stable",
  },
  layers: [],
  manifestDigest: "sha256:" + "b".repeat(64),
};

Deno.test("findKernel(): an ostree.linux label still answers, with a warning, when the index cannot be read", async () => {
  const backoff = Deno.env.get("HTTP_BACKOFF_MS");
  Deno.env.set("HTTP_BACKOFF_MS", "1");
  await withServer(() => new Response("down", { status: 502 }), async (server) => {
    const lines: string[] = [];
    const found = await findKernel(
      "example.com/fcos@sha256:" + "a".repeat(64),
      "x86_64",
      LABELLED_42,
      { info: (l) => lines.push(l), warn: (l) => lines.push(l) },
      { base: server.url },
    );
    assert.deepEqual(found, { kernel: FCOS42_KERNEL, source: "ostree.linux label" });
    assert.match(
      lines.join("\n"),
      /^Cannot check .* against the stable release index \(Request failed: .*\): trusting its ostree\.linux label$/,
    );
    assert.ok(server.requests.some((r) => r.path === "/stable/releases.json"), "it asked first");
  }).finally(() =>
    backoff === undefined
      ? Deno.env.delete("HTTP_BACKOFF_MS")
      : Deno.env.set("HTTP_BACKOFF_MS", backoff)
  );
});

Deno.test("findKernel(): an ostree.linux label the index cannot check answers with a warning", async (t) => {
  const cases: [string, Parameters<typeof fcosBuilds>, RegExp][] = [
    [
      "the index answers 403",
      [{}, { missing: "403" }],
      /\(Access denied: .*\/stable\/releases\.json \(HTTP 403\)\)/,
    ],
    ["the index answers 404", [{}, { missing: "404" }], /\(Not found: .*\(HTTP 404\)\)/],
    [
      "the index does not list the release",
      [{ stable: [{ version: FCOS43_VERSION, kernels: { x86_64: FCOS43_KERNEL } }] }],
      /\(release 42\.20250705\.3\.0 \(x86_64\) is not in it\)/,
    ],
  ];
  for (const [what, handler, why] of cases) {
    await t.step(what, async () => {
      await withServer(fcosBuilds(...handler), async (server) => {
        const lines: string[] = [];
        const found = await findKernel(
          "example.com/fcos@sha256:" + "a".repeat(64),
          "x86_64",
          LABELLED_42,
          { info: (l) => lines.push(`info: ${l}`), warn: (l) => lines.push(`warn: ${l}`) },
          { base: server.url },
        );
        assert.equal(found.kernel, FCOS42_KERNEL);
        assert.equal(found.source, "ostree.linux label");
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.match(
          lines[0]!,
          /^warn: Cannot check example\.com\/fcos@sha256:a+ against the stable release index \(/,
        );
        assert.match(lines[0]!, why);
        assert.match(lines[0]!, /\): trusting its ostree\.linux label$/);
      });
    });
  }
});

Deno.test("mergeModulesChanges(): later layers win, whiteouts and opaque markers hide earlier ones", () => {
  const layer = (added: string[], removed: string[] = [], opaque = false) => ({
    added: new Set(added),
    removed: new Set(removed),
    opaque,
  });
  assert.deepEqual([...mergeModulesChanges([layer(["a"]), layer(["b"], ["a"])])], ["b"]);
  assert.deepEqual([...mergeModulesChanges([layer(["a", "x"]), layer(["c"], [], true)])], ["c"]);
  // a whiteout hides only what is below it, not what its own layer adds
  assert.deepEqual([...mergeModulesChanges([layer(["a"]), layer(["a"], ["a"])])], ["a"]);
  assert.deepEqual([...mergeModulesChanges([layer(["a"]), layer(["b"])])].sort(), ["a", "b"]);
});

integrationTest(
  "version discovery against a real registry, FCOS metadata and GitHub servers",
  ["docker-registry", "podman"],
  async (t) => {
    const registry = await startRegistry();
    try {
      const name = `fcos-disc-${crypto.randomUUID().slice(0, 8)}`;
      // Built FROM an older release that still had the ostree.linux label, with another
      // kernel: it inherits the base's labels, the stale kernel label included.
      const stale = `${registry.host}/${name}-stale:derived`;
      const staleLabels = {
        "com.coreos.stream": "stable",
        "org.opencontainers.image.version": BASE_VERSION,
        "ostree.linux": BASE_KERNEL,
      };
      const [refs, derived] = await Promise.all([
        pushFixtureImages(registry.host, name),
        pushDerivedImages(registry.host, `${name}-derived`),
        buildAndPush(
          stale,
          `FROM scratch\nCOPY usr /usr\n${
            Object.entries(staleLabels).map(([k, v]) => `LABEL ${k}=${v}\n`).join("")
          }`,
          { [`usr/lib/modules/${DERIVED_KERNEL}/modules.dep`]: "\n" },
        ),
      ]);
      const digestOf = async (ref: string, arch: "x86_64" | "aarch64" = "x86_64") =>
        (await inspectImage(ref, arch)).manifestDigest;
      // The release index names the official images by their per-arch digests.
      const streams: Record<string, StandInRelease[]> = {
        stable: [
          {
            version: FCOS43_VERSION,
            kernels: { x86_64: FCOS43_KERNEL, aarch64: "6.17.7-300.fc43.aarch64" },
            digests: {
              x86_64: await digestOf(refs.fcos43),
              aarch64: await digestOf(refs.fcos43, "aarch64"),
            },
          },
          {
            version: BASE_VERSION,
            kernels: { x86_64: BASE_KERNEL },
            digests: { x86_64: await digestOf(derived.base) },
          },
        ],
        testing: [{
          version: LEGACY_VERSION,
          kernels: { x86_64: LEGACY_KERNEL },
          digests: { x86_64: await digestOf(derived.legacy) },
        }],
      };
      await withServer(
        fcosBuilds(streams),
        (metadata) =>
          withServer(releasesHandler(RELEASES, 5), async (github) => {
            const env = {
              FCOS_BUILDS_URL: metadata.url,
              GITHUB_API_URL: github.url,
              GH_TOKEN: "test",
              HTTP_BACKOFF_MS: "1",
            };
            for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);

            await t.step(
              "label ostree.linux answers first; ZFS is the newest pinned 2.4 on GitHub",
              async () => {
                const v = await discoverVersions({ matrix, image: refs.ostree });
                assert.equal(v.kernelSource, "ostree.linux label");
                assert.equal(v.kernelVersion, FCOS42_KERNEL);
                assert.equal(v.kernelMajorMinor, "6.15");
                assert.equal(v.fedoraVersion, "42");
                assert.equal(v.zfsTag, "zfs-2.4.4");
                assert.equal(v.maxKernel, "7.2");
                assert.equal(v.compatible, true);
                assert.equal(v.imageTag, `zfs-2.4.4_kernel-${FCOS42_KERNEL}`);
                assert.match(
                  v.pinnedImage,
                  new RegExp(`^${registry.host}/${name}@sha256:[0-9a-f]{64}$`),
                );
              },
            );

            await t.step(
              "without the label, FCOS build metadata answers and no layer is pulled",
              async () => {
                const before = metadata.requests.length;
                await withAuthProxy(registry.host, async (proxy) => {
                  const v = await discoverImage({ matrix, image: `${proxy.host}/${name}:43` });
                  assert.equal(v.kernelSource, "coreos build metadata");
                  assert.equal(v.kernelVersion, FCOS43_KERNEL);
                  assert.equal(v.fedoraVersion, "43");
                  assert.equal(v.release, FCOS43_VERSION, "the index says it is the release");
                  assert.equal(proxy.cdnAuthorization.length, 1, "only the config blob is read");
                });
                assert.deepEqual(metadata.requests.slice(before).map((r) => r.path).sort(), [
                  `/stable/builds/${FCOS43_VERSION}/x86_64/commitmeta.json`,
                  "/stable/releases.json",
                ]);
              },
            );

            await t.step(
              "the official image of a matrix target: its index, releases.json and commitmeta.json, no config blob",
              async () => {
                const before = metadata.requests.length;
                await withRecordingFront(registry.host, (front) =>
                  withServer(releasesHandler(RELEASES, 100), async (oneGithubPage) => {
                    Deno.env.set("GITHUB_API_URL", oneGithubPage.url);
                    try {
                      const v = await discoverVersions({
                        matrix: targetMatrix(`127.0.0.1:${front.port}/${name}:43`),
                      });
                      assert.equal(v.kernelSource, "coreos build metadata");
                      assert.equal(v.kernelVersion, FCOS43_KERNEL);
                      assert.equal(v.fedoraVersion, "43");
                      assert.equal(v.stream, "stable");
                      assert.equal(v.fcosRelease, FCOS43_VERSION);
                      assert.equal(v.release, FCOS43_VERSION);
                      assert.equal(v.zfsTag, "zfs-2.4.4");
                      assert.match(v.pinnedImage, /@sha256:[0-9a-f]{64}$/);
                    } finally {
                      Deno.env.set("GITHUB_API_URL", github.url);
                    }
                    // The tag's index only: neither the amd64 manifest nor the config blob.
                    assert.deepEqual(
                      front.requests.map((r) =>
                        r.path
                      ),
                      [
                        `/v2/${name}/manifests/43`,
                      ],
                    );
                    assert.deepEqual(metadata.requests.slice(before).map((r) => r.path).sort(), [
                      `/stable/builds/${FCOS43_VERSION}/x86_64/commitmeta.json`,
                      "/stable/releases.json",
                    ]);
                    assert.deepEqual(oneGithubPage.requests.map((r) => r.path.split("?")[0]), [
                      "/repos/openzfs/zfs/releases",
                    ]);
                  }));
              },
            );

            await t.step(
              "an explicit image named …/fedora/fedora-coreos:<stream>: as fast as a matrix target",
              async () => {
                // The same index under the official name, in the local registry.
                const official = `${registry.host}/fedora/fedora-coreos:stable`;
                await $({
                  quiet: true,
                })`skopeo copy --all --src-tls-verify=false --dest-tls-verify=false docker://${refs.fcos43} docker://${official}`;
                const before = metadata.requests.length;
                await withRecordingFront(registry.host, async (front) => {
                  const image = `127.0.0.1:${front.port}/fedora/fedora-coreos:stable`;
                  // matrix.yaml's own targets name quay.io: this image is not one of them.
                  assert.equal(resolveTarget(matrix, { image }).stream, undefined);
                  const v = await discoverImage({ matrix, image });
                  assert.equal(v.kernelSource, "coreos build metadata");
                  assert.equal(v.kernelVersion, FCOS43_KERNEL);
                  assert.equal(v.release, FCOS43_VERSION);
                  // One registry answer (the tag's index): no manifest, no config blob.
                  assert.deepEqual(front.requests.map((r) => r.path), [
                    "/v2/fedora/fedora-coreos/manifests/stable",
                  ]);
                });
                assert.deepEqual(metadata.requests.slice(before).map((r) => r.path).sort(), [
                  `/stable/builds/${FCOS43_VERSION}/x86_64/commitmeta.json`,
                  "/stable/releases.json",
                ]);
              },
            );

            await t.step(
              "a derived image as a matrix target: not in the index, so labels, then the layers",
              async () => {
                const before = metadata.requests.length;
                await withRecordingFront(registry.host, async (front) => {
                  const repository = derived.derived.slice(registry.host.length + 1);
                  const v = await discoverImage({
                    matrix: targetMatrix(`127.0.0.1:${front.port}/${repository}`),
                  });
                  assert.equal(v.kernelSource, "modules directory");
                  assert.equal(v.kernelVersion, DERIVED_KERNEL);
                  assert.equal(v.fcosRelease, BASE_VERSION, "the labels still name the base");
                  assert.equal(v.release, undefined, "but it is not that release");
                  assert.ok(v.releases, "the index read ahead is kept for the fallback walk");
                  const paths = front.requests.map((r) => r.path);
                  assert.ok(paths.some((p) => p.includes("/blobs/")), "config and layers read");
                });
                // The index read ahead is reused, and the base's commitmeta.json is not read:
                // the index already says the image is not that release.
                assert.deepEqual(metadata.requests.slice(before).map((r) => r.path), [
                  "/stable/releases.json",
                ]);
              },
            );

            await t.step("the official base image is answered by its build metadata", async () => {
              const v = await discoverImage({ matrix, image: derived.base });
              assert.equal(v.kernelSource, "coreos build metadata");
              assert.equal(v.kernelVersion, BASE_KERNEL);
              assert.equal(v.release, BASE_VERSION);
            });

            await t.step(
              "a derived image with another kernel: the metadata is not trusted, the layers answer",
              async (t) => {
                for (
                  const [what, ref, kernel] of [
                    ["whiteout of the kernel directory", derived.derived, DERIVED_KERNEL],
                    ["opaque usr/lib/modules", derived.opaque, OPAQUE_KERNEL],
                  ] as const
                ) {
                  await t.step(what, async () => {
                    const lines: string[] = [];
                    const v = await discoverImage({
                      matrix,
                      image: ref,
                      logger: { info: (l) => lines.push(l), warn: (l) => lines.push(l) },
                    });
                    assert.equal(v.kernelSource, "modules directory");
                    assert.equal(v.kernelVersion, kernel);
                    assert.equal(v.fcosRelease, BASE_VERSION, "the labels still name the base");
                    assert.equal(v.release, undefined, "but it is not that release");
                    assert.match(lines.join("\n"), /not release 43\.20251124\.3\.0 itself/);
                  });
                }
              },
            );

            await t.step(
              "a derived image with its base's ostree.linux label: the label is not trusted",
              async () => {
                const lines: string[] = [];
                const v = await discoverImage({
                  matrix,
                  image: stale,
                  logger: { info: (l) => lines.push(l), warn: (l) => lines.push(l) },
                });
                assert.equal(v.kernelSource, "modules directory");
                assert.equal(v.kernelVersion, DERIVED_KERNEL, "not the label's " + BASE_KERNEL);
                assert.match(
                  lines.join("\n"),
                  /ostree\.linux label and coreos build metadata: the image is not release/,
                );
              },
            );

            await t.step("the legacy fedora-coreos.stream label is read", async () => {
              const v = await discoverImage({ matrix, image: derived.legacy });
              assert.equal(v.kernelSource, "coreos build metadata");
              assert.equal(v.kernelVersion, LEGACY_KERNEL);
              assert.equal(v.stream, "testing");
            });

            await t.step("a multi-arch index gives each arch its own kernel", async () => {
              const x86 = await discoverImage({ matrix, image: refs.multi, arch: "x86_64" });
              const arm = await discoverImage({ matrix, image: refs.multi, arch: "aarch64" });
              assert.equal(x86.kernelVersion, X86_KERNEL);
              assert.equal(arm.kernelVersion, ARM_KERNEL);
              assert.equal(x86.imageDigest, arm.imageDigest, "both pinned by the index digest");
            });

            await t.step(
              "last resort: the single directory under usr/lib/modules/ of the layers",
              async () => {
                await withAuthProxy(registry.host, async (proxy) => {
                  const v = await discoverImage({ matrix, image: `${proxy.host}/${name}:modules` });
                  assert.equal(v.kernelSource, "modules directory");
                  assert.equal(v.kernelVersion, MODULES_KERNEL);
                  assert.equal(v.fedoraVersion, "41");
                  assert.ok(proxy.cdnAuthorization.every((h) => h === null), "token not forwarded");
                });
              },
            );

            await t.step("no strategy answers: fails listing what each one saw", async () => {
              await assert.rejects(
                discoverImage({ matrix, image: refs.nothing }),
                (e) =>
                  e instanceof CheckError &&
                  /ostree.linux label: absent/.test(e.message) &&
                  /coreos build metadata: no usable/.test(e.message) &&
                  /modules directory: no usr\/lib\/modules\/ directory in 1 layer/.test(e.message),
              );
            });

            await t.step("the tasks print the discovered values", async (t) => {
              await t.step(
                "kernel-version, kernel-major-minor and fedora-version print just the value",
                async () => {
                  const args = ["--image", refs.multi, "--arch", "aarch64"];
                  assert.equal(
                    (await runTaskFile("kernel_version.ts", args, env)).stdout,
                    `${ARM_KERNEL}\n`,
                  );
                  assert.equal(
                    (await runTaskFile("kernel_major_minor.ts", args, env)).stdout,
                    "6.17\n",
                  );
                  assert.equal((await runTaskFile("fedora_version.ts", args, env)).stdout, "43\n");
                },
              );
              await t.step("versions --json is one object with the kebab-case keys", async () => {
                const result = await runTaskFile(
                  "versions.ts",
                  ["--image", refs.fcos43, "--json"],
                  env,
                );
                assert.equal(result.code, 0, result.stderr);
                const values = JSON.parse(result.stdout);
                assert.equal(values["zfs-tag"], "zfs-2.4.4");
                assert.equal(values["kernel-version"], FCOS43_KERNEL);
                assert.equal(values["kernel-source"], "coreos build metadata");
                assert.equal(values.compatible, true);
                assert.equal(values["image-tag"], `zfs-2.4.4_kernel-${FCOS43_KERNEL}`);
                assert.equal(values.release, FCOS43_VERSION);
                assert.equal(values["release-tag"], `fcos-${FCOS43_VERSION}`);
              });
              await t.step(
                "versions leads with a verdict line, then a readable table",
                async () => {
                  const result = await runTaskFile("versions.ts", [
                    "--image",
                    refs.ostree,
                    "--series",
                    "2.2",
                  ], env);
                  assert.equal(result.code, 0, result.stderr);
                  const [verdict] = result.stdout.split("\n");
                  assert.equal(
                    verdict,
                    "✓ zfs-2.2.11 supports 6.15.4-200.fc42.x86_64 (6.15 ≤ 6.17)",
                  );
                  assert.match(result.stdout, /^zfs release +zfs-2\.2\.11 \(max kernel 6\.17\)$/m);
                  assert.match(
                    result.stdout,
                    /^kernel +6\.15\.4-200\.fc42\.x86_64 \(6\.15, from the ostree\.linux label\)$/m,
                  );
                  assert.equal(result.stdout.match(/sha256:/g)?.length, 1, "the digest once");
                },
              );
              await t.step(
                "versions --github-output writes $GITHUB_OUTPUT and the step summary",
                async () => {
                  const output = await Deno.makeTempFile();
                  const summary = await Deno.makeTempFile();
                  try {
                    const result = await runTaskFile("versions.ts", [
                      "--image",
                      refs.ostree,
                      "--github-output",
                    ], {
                      ...env,
                      GITHUB_OUTPUT: output,
                      GITHUB_STEP_SUMMARY: summary,
                    });
                    assert.equal(result.code, 0, result.stderr);
                    const text = await Deno.readTextFile(output);
                    assert.match(text, new RegExp(`^kernel-version=${FCOS42_KERNEL}$`, "m"));
                    assert.match(text, /^compatible=true$/m);
                    assert.match(text, /^kernel-source=ostree.linux label$/m);
                    const markdown = await Deno.readTextFile(summary);
                    assert.match(markdown, /^### ✓ zfs-2\.4\.4 supports /m);
                    assert.match(markdown, /\| zfs release \| zfs-2\.4\.4 \(max kernel 7\.2\) \|/);
                  } finally {
                    await Deno.remove(output);
                    await Deno.remove(summary);
                  }
                },
              );
              await t.step("versions --all-targets discovers every enabled target", async () => {
                const file = await Deno.makeTempFile({ suffix: ".yaml" });
                try {
                  const text =
                    (await Deno.readTextFile(new URL("../../matrix.yaml", import.meta.url)))
                      .replace(/quay\.io\/fedora\/fedora-coreos:[a-z]+/g, refs.multi)
                      .replaceAll("enabled: false", "enabled: true");
                  await Deno.writeTextFile(file, text);
                  const result = await runTaskFile("versions.ts", ["--all-targets", "--json"], {
                    ...env,
                    MATRIX_FILE: file,
                  });
                  assert.equal(result.code, 0, result.stderr);
                  const targets = JSON.parse(result.stdout) as Record<string, string>[];
                  const arm = targets.find((x) => x.name === "coreos-stable-aarch64")!;
                  assert.equal(arm["kernel-version"], ARM_KERNEL);
                  assert.equal(arm.runner, "ubuntu-24.04-arm");
                  // its labels name a release the index does not list: no release to tag
                  assert.equal(arm.release, "");
                  assert.equal(arm["release-tag"], "");
                  assert.equal(
                    targets.find((x) => x.name === "coreos-stable-x86_64")!.runner,
                    "ubuntu-24.04",
                  );
                } finally {
                  await Deno.remove(file);
                }
              });
              await t.step("check-compatibility discovers what was not given", async () => {
                const ok = await runTaskFile("check_compatibility.ts", [
                  "--image",
                  refs.fcos43,
                  "--zfs",
                  "zfs-2.3.5",
                ], env);
                assert.equal(ok.code, 0, ok.stderr);
                const bad = await runTaskFile("check_compatibility.ts", [
                  "--image",
                  refs.fcos43,
                  "--zfs",
                  "zfs-2.3.4",
                ], env);
                assert.equal(bad.code, 1);
                assert.match(
                  bad.stderr,
                  /zfs-2\.3\.4 does not support 6\.17\.7\S* \(6\.17 > 6\.16\)/,
                );
              });
            });
          }),
      );
    } finally {
      await registry.stop();
    }
  },
);
