import assert from "node:assert/strict";
import {
  commitmetaUrl,
  fetchBuildKernel,
  fetchCommitmeta,
  fetchReleaseIndex,
  kernelFromCommitmeta,
  parseReleaseIndex,
  snapshotDateOf,
} from "../../lib/coreos/coreos.ts";
import { RemoteError } from "../../lib/core/errors.ts";
import { FCOS43, FCOS43_KERNEL } from "../helpers/fcos_fixtures.ts";
import { commitmeta, digestOf, fcosBuilds, releaseIndex } from "../helpers/release_index.ts";
import { endless, withServer } from "../helpers/server.ts";

Deno.test("kernelFromCommitmeta() reads the kernel entry of rpmostree.rpmdb.pkglist", () => {
  assert.equal(kernelFromCommitmeta(commitmeta(FCOS43)), FCOS43_KERNEL);
});

Deno.test("kernelFromCommitmeta() prefers ostree.linux when the build has it", () => {
  const meta = { ...commitmeta(FCOS43), "ostree.linux": "6.18.1-100.fc43.x86_64" };
  assert.equal(kernelFromCommitmeta(meta), "6.18.1-100.fc43.x86_64");
});

Deno.test("kernelFromCommitmeta() finds nothing in a build without a kernel package", () => {
  assert.equal(
    kernelFromCommitmeta({ "rpmostree.rpmdb.pkglist": [["bash", "0", "5", "1", "x"]] }),
    undefined,
  );
  assert.equal(kernelFromCommitmeta(null), undefined);
  // kernel-core is not the kernel entry, and a malformed one is not trusted
  assert.equal(
    kernelFromCommitmeta({ "rpmostree.rpmdb.pkglist": [["kernel", "0", "6;x", "1", "x86_64"]] }),
    undefined,
  );
});

Deno.test("commitmetaUrl() builds the documented path and refuses malformed parts", () => {
  assert.equal(
    commitmetaUrl("stable", "43.20251110.3.1", "x86_64", "http://m"),
    "http://m/stable/builds/43.20251110.3.1/x86_64/commitmeta.json",
  );
  assert.equal(commitmetaUrl("../x", "43.20251110.3.1", "x86_64", "http://m"), undefined);
  assert.equal(commitmetaUrl("stable", "43", "x86_64", "http://m"), undefined);
});

Deno.test("fetchCommitmeta() treats 403 AccessDenied and 404 as no such build, 5xx as a failure", async () => {
  await withServer(
    (request) =>
      new URL(request.url).pathname === "/gone"
        ? new Response("", { status: 404 })
        : new URL(request.url).pathname === "/denied"
        ? fcosBuilds({})(request)
        : new Response("", { status: 503 }),
    async (server) => {
      assert.deepEqual(await fetchCommitmeta(`${server.url}/gone`), { status: 404 });
      assert.deepEqual(await fetchCommitmeta(`${server.url}/denied`), { status: 403 });
      await assert.rejects(
        fetchCommitmeta(`${server.url}/down`, { retries: 1, backoffMs: 1 }),
        (e) => e instanceof RemoteError && e.status === 503 && e.message.includes("/down"),
      );
    },
  );
});

const STREAM = [
  { version: "43.20251024.3.0", kernels: { x86_64: "6.17.1-300.fc43.x86_64" } },
  {
    version: "43.20251110.3.1",
    kernels: { x86_64: FCOS43_KERNEL, aarch64: "6.17.7-300.fc43.aarch64" },
  },
  { version: "43.20251124.3.0", kernels: { x86_64: undefined } },
];

Deno.test("fetchReleaseIndex() reads the stream's releases with their per-arch digests", async () => {
  await withServer(fcosBuilds({ stable: STREAM }), async (server) => {
    const releases = await fetchReleaseIndex("stable", { base: server.url });
    assert.deepEqual(releases.map((r) => r.version), STREAM.map((r) => r.version));
    assert.deepEqual(releases[1]!.images[1], {
      arch: "aarch64",
      image: "quay.io/fedora/fedora-coreos",
      digestRef: `quay.io/fedora/fedora-coreos@${digestOf("stable", "43.20251110.3.1", "aarch64")}`,
      digest: digestOf("stable", "43.20251110.3.1", "aarch64"),
    });
    assert.deepEqual(server.requests.map((r) => r.path), ["/stable/releases.json"]);
  });
});

Deno.test("fetchReleaseIndex() fails with one line for a missing stream or a malformed index", async (t) => {
  const valid = releaseIndex("stable", STREAM);
  const cases: [string, unknown, RegExp][] = [
    ["null release", { ...valid, releases: [null] }, /release 0 has no valid version/],
    ["no releases", { stream: "stable" }, /no releases array/],
    [
      "bad digest-ref",
      {
        ...valid,
        releases: [{
          version: "43.20251110.3.1",
          "oci-images": [{ architecture: "x86_64", image: "x", "digest-ref": "x@md5:1" }],
        }],
      },
      /oci-images entry of 43\.20251110\.3\.1 is malformed/,
    ],
    ["version injection", { releases: [{ version: "../../x" }] }, /no valid version/],
    [
      "duplicate",
      { releases: [{ version: "43.20251110.3.1" }, { version: "43.20251110.3.1" }] },
      /listed twice/,
    ],
  ];
  for (const [name, body, pattern] of cases) {
    await t.step(name, async () => {
      await withServer(
        fcosBuilds({ stable: STREAM }, { index: () => body }),
        async (server) => {
          await assert.rejects(
            fetchReleaseIndex("stable", { base: server.url }),
            (e) => e instanceof RemoteError && pattern.test(e.message) && !e.message.includes("\n"),
          );
        },
      );
    });
  }
  await t.step("a stream the server does not have answers 403 AccessDenied", async () => {
    await withServer(fcosBuilds({ stable: STREAM }), async (server) => {
      await assert.rejects(
        fetchReleaseIndex("rawhide", { base: server.url, retry: { retries: 0 } }),
        (e) => e instanceof RemoteError && e.status === 403,
      );
    });
  });
});

Deno.test("parseReleaseIndex() returns releases oldest first and skips 2019 three-field versions", () => {
  const index = releaseIndex("stable", [STREAM[1]!, STREAM[0]!]);
  index.releases.unshift({ version: "30.20191014.1", metadata: "", commits: [], "oci-images": [] });
  assert.deepEqual(parseReleaseIndex(index).map((r) => r.version), [
    "43.20251024.3.0",
    "43.20251110.3.1",
  ]);
  // releases before 2024 have no oci-images: no image to check against, not an error
  assert.deepEqual(parseReleaseIndex({ releases: [{ version: "39.20240101.3.0" }] }), [
    { version: "39.20240101.3.0", images: [] },
  ]);
});

Deno.test("fetchBuildKernel() reads commitmeta.json and answers undefined for 403 AccessDenied", async () => {
  await withServer(fcosBuilds({ stable: STREAM }), async (server) => {
    const base = { base: server.url };
    assert.equal(
      await fetchBuildKernel("stable", "43.20251110.3.1", "x86_64", base),
      FCOS43_KERNEL,
    );
    assert.equal(await fetchBuildKernel("stable", "43.20251124.3.0", "x86_64", base), undefined);
    assert.equal(await fetchBuildKernel("stable", "43.20251110.3.1", "s390x", base), undefined);
    // a malformed part never reaches a URL
    assert.equal(await fetchBuildKernel("stable", "43/../x", "x86_64", base), undefined);
    assert.equal(server.requests.length, 3);
  });
});

Deno.test("snapshotDateOf() reads the date field of a version and refuses impossible dates", () => {
  assert.equal(snapshotDateOf("43.20251110.3.1")?.toISOString(), "2025-11-10T00:00:00.000Z");
  assert.equal(snapshotDateOf("43.20251310.3.1"), undefined);
  assert.equal(snapshotDateOf("43.20250230.3.1"), undefined);
  assert.equal(snapshotDateOf("stable"), undefined);
});

Deno.test("fetchCommitmeta() refuses an endless body and malformed JSON with the URL", async () => {
  await withServer(
    (request) => {
      if (new URL(request.url).pathname === "/bad") return new Response("{not json");
      // an endless stream of bytes: must be cut off, not buffered
      return new Response(endless());
    },
    async (server) => {
      await assert.rejects(
        fetchCommitmeta(`${server.url}/endless`),
        (e) => e instanceof RemoteError && /larger than \d+ bytes/.test(e.message),
      );
      await assert.rejects(
        fetchCommitmeta(`${server.url}/bad`),
        (e) =>
          e instanceof RemoteError && /Malformed JSON/.test(e.message) &&
          e.message.includes("/bad"),
      );
    },
  );
});
