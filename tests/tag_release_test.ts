// tag-release against a real registry: kmods images built by podman for two arches, the plan
// as versions --all-targets writes it, and plans that lie.
import assert from "node:assert/strict";
import { readManifest } from "../lib/registry/registry.ts";
import { groupByRelease, indexListsExactly, parsePlan } from "../lib/coreos/release_tag.ts";
import { matrixWithPublishImage } from "./helpers/matrix_file.ts";
import { buildAndPush, startRegistry } from "./helpers/registry.ts";
import { runTaskFile, type TaskResult } from "./helpers/run_task.ts";
import { integrationTest } from "./helpers/tools.ts";

const RELEASE = "43.20251110.3.1";
const OLDER = "43.20251027.3.0";
const X86 = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
const ARM = "zfs-2.4.2_kernel-6.17.7-300.fc43.aarch64";
const X86_OLDER = "zfs-2.4.2_kernel-6.17.5-300.fc43.x86_64";
const MISSING = "zfs-2.4.2_kernel-6.17.9-300.fc43.x86_64";

/** A plan target as versions --all-targets writes it (the fields tag-release reads, and more). */
function target(arch: string, imageTag: string, release: string, extra = {}) {
  return {
    name: `coreos-stable-${arch}`,
    image: "quay.io/fedora/fedora-coreos:stable",
    stream: "stable",
    arch,
    runner: "ubuntu-24.04",
    "image-tag": imageTag,
    release,
    "release-tag": release ? `fcos-${release}` : "",
    compatible: true,
    ...extra,
  };
}

function assertOneLineError(result: TaskResult, code: number, pattern: RegExp) {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
}

Deno.test("parsePlan() refuses a hostile plan with one line, before anything is asked", async (t) => {
  const good = target("x86_64", X86, RELEASE);
  for (
    const [what, text, message] of [
      ["not JSON", "{", /The plan is not JSON/],
      ["not an array", JSON.stringify(good), /not a JSON array/],
      ["a bad image tag", JSON.stringify([{ ...good, "image-tag": "x;$(id)" }]), /image-tag/],
      [
        "a kernel with a shell in it",
        JSON.stringify([{ ...good, "image-tag": "zfs-2.4.2_kernel-$(id)" }]),
        /image-tag is not a zfs-…_kernel-… tag/,
      ],
      [
        "a bad fallback tag",
        JSON.stringify([{ ...good, "fallback-image-tag": "../../x" }]),
        /fallback-image-tag/,
      ],
      [
        "a release tag that is no release",
        JSON.stringify([{ ...good, "release-tag": "fcos-latest" }]),
        /release-tag "fcos-latest"/,
      ],
      ["another arch", JSON.stringify([{ ...good, arch: "ppc64le" }]), /arch "ppc64le"/],
      ["a null target", "[null]", /Plan target 0 is not an object/],
      ["too many targets", JSON.stringify(Array(300).fill(good)), /300 targets/],
    ] as const
  ) {
    await t.step(what, () => assert.throws(() => parsePlan(text), message));
  }
});

Deno.test("groupByRelease() gives each release one image per arch, the fallback's when it fell back", () => {
  const groups = groupByRelease(parsePlan(JSON.stringify([
    target("x86_64", X86, RELEASE),
    target("aarch64", ARM, RELEASE),
    // fell back: the image built is the fallback's, for the fallback release
    target("x86_64", "zfs-2.4.2_kernel-7.3.1-200.fc44.x86_64", OLDER, {
      "fallback-image-tag": X86_OLDER,
      "fallback-release": OLDER,
      compatible: false,
    }),
    target("x86_64", X86, ""), // no release: nothing to tag
    target("x86_64", X86, RELEASE), // the same image twice is one entry
  ])));
  assert.deepEqual(groups, [
    {
      tag: `fcos-${RELEASE}`,
      images: [{ arch: "x86_64", imageTag: X86 }, { arch: "aarch64", imageTag: ARM }],
    },
    { tag: `fcos-${OLDER}`, images: [{ arch: "x86_64", imageTag: X86_OLDER }] },
  ]);
  assert.throws(
    () =>
      groupByRelease(parsePlan(JSON.stringify([
        target("x86_64", X86, RELEASE),
        target("x86_64", X86_OLDER, RELEASE),
      ]))),
    /two x86_64 images for fcos-43\.20251110\.3\.1/,
  );
});

Deno.test("indexListsExactly() wants the same digests, each as linux/<arch>", () => {
  const a = `sha256:${"a".repeat(64)}`;
  const b = `sha256:${"b".repeat(64)}`;
  const index = {
    manifests: [
      { digest: a, platform: { os: "linux", architecture: "amd64" } },
      { digest: b, platform: { os: "linux", architecture: "arm64" } },
    ],
  };
  const both = [{ arch: "aarch64" as const, digest: b }, { arch: "x86_64" as const, digest: a }];
  assert.equal(indexListsExactly(index, both), true);
  assert.equal(indexListsExactly(index, both.slice(0, 1)), false);
  assert.equal(indexListsExactly(index, [{ arch: "x86_64", digest: b }, both[0]!]), false);
  assert.equal(indexListsExactly({ manifests: [] }, []), true);
  assert.equal(indexListsExactly({}, both), false);
});

integrationTest(
  "tag-release pushes one index per release against a real registry",
  ["docker-registry", "podman"],
  async (t) => {
    const registry = await startRegistry();
    const dir = await Deno.makeTempDir();
    const kmods = `${registry.host}/kmods-${crypto.randomUUID().slice(0, 8)}`;
    const matrixFile = await matrixWithPublishImage(kmods);
    try {
      const file = (arch: string) => ({ "a/arch": `${arch}\n` });
      await Promise.all([
        buildAndPush(`${kmods}:${X86}`, "FROM scratch\nCOPY a /a\n", file("x86"), {
          arch: "amd64",
        }),
        buildAndPush(`${kmods}:${ARM}`, "FROM scratch\nCOPY a /a\n", file("arm"), {
          arch: "arm64",
        }),
        buildAndPush(`${kmods}:${X86_OLDER}`, "FROM scratch\nCOPY a /a\n", file("older"), {
          arch: "amd64",
        }),
      ]);
      const digestOf = async (tag: string) => (await readManifest(kmods, tag)).digest;
      const output = `${dir}/output`;
      const env = { MATRIX_FILE: matrixFile, GITHUB_OUTPUT: output };
      const tagRelease = async (plan: unknown[], args: string[] = []) => {
        await Deno.writeTextFile(`${dir}/plan.json`, JSON.stringify(plan));
        await Deno.writeTextFile(output, "");
        return await runTaskFile("tag_release.ts", ["--plan", `${dir}/plan.json`, ...args], env);
      };
      const plan = [
        target("x86_64", X86, RELEASE),
        target("aarch64", ARM, RELEASE),
        target("x86_64", X86_OLDER, OLDER),
      ];

      await t.step("--dry-run resolves every image and pushes nothing", async () => {
        const result = await tagRelease(plan, ["--dry-run", "--json"]);
        assert.equal(result.code, 0, result.stderr);
        const values = JSON.parse(result.stdout);
        assert.deepEqual(values.releases.map((r: { status: string }) => r.status), [
          "planned",
          "planned",
        ]);
        await assert.rejects(readManifest(kmods, `fcos-${RELEASE}`), /HTTP 404/);
      });

      await t.step("two arches: an index of two; one arch: an index of one", async () => {
        const result = await tagRelease(plan, ["--github-output", "--json"]);
        assert.equal(result.code, 0, result.stderr);
        const values = JSON.parse(result.stdout);
        assert.deepEqual(values.tags, [`fcos-${RELEASE}`, `fcos-${OLDER}`]);
        const both = await readManifest(kmods, `fcos-${RELEASE}`);
        assert.equal(both.mediaType, "application/vnd.oci.image.index.v1+json");
        assert.deepEqual(
          both.manifest.manifests!.map((m) => [m.digest, m.platform?.os, m.platform?.architecture]),
          [
            [await digestOf(X86), "linux", "amd64"],
            [await digestOf(ARM), "linux", "arm64"],
          ],
        );
        const one = await readManifest(kmods, `fcos-${OLDER}`);
        assert.deepEqual(one.manifest.manifests!.map((m) => m.digest), [
          await digestOf(X86_OLDER),
        ]);
        assert.deepEqual(values.digests, [both.digest, one.digest]);
        const written = await Deno.readTextFile(output);
        assert.ok(
          written.includes(`tags=${JSON.stringify([`fcos-${RELEASE}`, `fcos-${OLDER}`])}\n`),
          written,
        );
        assert.ok(written.includes(`digests=${JSON.stringify([both.digest, one.digest])}\n`));
        // the kmods images themselves are untouched
        assert.equal((await readManifest(kmods, X86)).digest, both.manifest.manifests![0]!.digest);
      });

      await t.step("run again: the identical indexes are left alone", async () => {
        const before = await digestOf(`fcos-${RELEASE}`);
        const result = await tagRelease(plan, ["--json"]);
        assert.equal(result.code, 0, result.stderr);
        const values = JSON.parse(result.stdout);
        assert.deepEqual(values.releases.map((r: { status: string }) => r.status), [
          "unchanged",
          "unchanged",
        ]);
        assert.equal(values.digests[0], before);
      });

      await t.step("a missing image: that release is skipped with a warning", async () => {
        const result = await tagRelease([
          target("x86_64", MISSING, "44.20260101.3.0"),
          target("aarch64", ARM, RELEASE),
          target("x86_64", X86, RELEASE),
        ], ["--json"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /warning: Skipping fcos-44\.20260101\.3\.0: .* not found/);
        const values = JSON.parse(result.stdout);
        assert.deepEqual(values.tags, [`fcos-${RELEASE}`]);
        await assert.rejects(readManifest(kmods, "fcos-44.20260101.3.0"), /HTTP 404/);
      });

      await t.step("an image of another arch than the plan says: exit 1", async () => {
        const result = await tagRelease([target("aarch64", X86, "44.20260102.3.0")]);
        assertOneLineError(result, 1, /is a "linux\/amd64" image, not linux\/arm64 \(aarch64\)/);
        await assert.rejects(readManifest(kmods, "fcos-44.20260102.3.0"), /HTTP 404/);
      });

      await t.step("a hostile plan: exit 2, nothing asked or pushed", async () => {
        const result = await tagRelease([
          target("x86_64", X86, "44.20260103.3.0"),
          { ...target("x86_64", X86, RELEASE), "image-tag": "zfs-2.4.2_kernel-$(reboot)" },
        ]);
        assertOneLineError(result, 2, /Plan target 1's image-tag is not a zfs-…_kernel-… tag/);
        await assert.rejects(readManifest(kmods, "fcos-44.20260103.3.0"), /HTTP 404/);
      });

      await t.step("a plan file that is not there: exit 2", async () => {
        const result = await runTaskFile("tag_release.ts", ["--plan", `${dir}/nowhere.json`], env);
        assertOneLineError(result, 2, /Cannot read the plan/);
      });
    } finally {
      await Deno.remove(matrixFile);
      await Deno.remove(dir, { recursive: true });
      await registry.stop();
    }
  },
);
