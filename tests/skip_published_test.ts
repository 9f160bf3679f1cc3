// The nightly plan without what is already there: `versions --all-targets --skip-published`
// checks every target's kmods image (published and attested) against a real registry, with a
// gh stand-in for the attestation, and a check that cannot run is an error, never "published".
import assert from "node:assert/strict";
import { inspectImage } from "../lib/registry/registry.ts";
import { markPublished } from "../lib/build/published.ts";
import {
  FCOS43_VERSION,
  pushFixtureImages,
  RELEASES,
  releasesHandler,
} from "./helpers/fcos_fixtures.ts";
import { fcosBuilds, testMatrix } from "./helpers/release_index.ts";
import { buildAndPush, startRegistry } from "./helpers/registry.ts";
import { runTaskFile } from "./helpers/run_task.ts";
import { withServer } from "./helpers/server.ts";
import { integrationTest } from "./helpers/tools.ts";

const ARM43_KERNEL = "6.17.7-300.fc43.aarch64";
const X86_43_KERNEL = "6.17.7-300.fc43.x86_64";

/** A gh on PATH that logs its arguments and answers `attestation verify` like `script` says. */
async function fakeGh(dir: string, script: string): Promise<Record<string, string>> {
  await Deno.writeTextFile(`${dir}/gh`, `#!/bin/sh\necho "$@" >> "${dir}/gh.log"\n${script}\n`);
  await Deno.chmod(`${dir}/gh`, 0o755);
  return { PATH: `${dir}:/usr/bin:/bin` };
}

const VERIFIED = "echo 'All attestations have been successfully verified!'";

/** The lines of $GITHUB_OUTPUT as name → value. */
function outputsOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split("\n").filter((l) => l.includes("=")).map((l) => [
      l.slice(0, l.indexOf("=")),
      l.slice(l.indexOf("=") + 1),
    ]),
  );
}

Deno.test("markPublished() checks the tag the plan builds: the fallback's when it falls back", async () => {
  const asked: string[] = [];
  const targets = [
    { name: "a", "image-tag": "zfs-2.4.2_kernel-7.3.1-200.fc44.x86_64" },
    {
      name: "b",
      "image-tag": "zfs-2.4.2_kernel-7.3.1-200.fc44.aarch64",
      "fallback-image-tag": "zfs-2.4.2_kernel-6.19.3-200.fc43.aarch64",
    },
  ];
  const marked = await markPublished(targets, "127.0.0.1:5000/kmods", {
    repo: "owner/repo",
    check: (image) => {
      asked.push(image);
      return Promise.resolve({ image, exists: image.endsWith("aarch64"), attested: true });
    },
  });
  assert.deepEqual(asked, [
    "127.0.0.1:5000/kmods:zfs-2.4.2_kernel-7.3.1-200.fc44.x86_64",
    "127.0.0.1:5000/kmods:zfs-2.4.2_kernel-6.19.3-200.fc43.aarch64",
  ]);
  assert.deepEqual(marked.map((t) => t.published), [false, true]);
});

Deno.test("markPublished() fails when one check cannot run: nothing is skipped on a guess", async () => {
  await assert.rejects(
    markPublished([{ "image-tag": "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64" }], "x/y", {
      check: () => Promise.reject(new Error("Cannot read the registry")),
    }),
    /Cannot read the registry/,
  );
});

integrationTest(
  "versions --all-targets --skip-published plans only what is not published and attested",
  ["docker-registry", "podman"],
  async (t) => {
    const registry = await startRegistry();
    const dir = await Deno.makeTempDir();
    try {
      const name = `plan-${crypto.randomUUID().slice(0, 8)}`;
      const refs = await pushFixtureImages(registry.host, name);
      const digest = async (arch: "x86_64" | "aarch64") =>
        (await inspectImage(refs.fcos43, arch)).manifestDigest;
      const stable = [{
        version: FCOS43_VERSION,
        kernels: { x86_64: X86_43_KERNEL, aarch64: ARM43_KERNEL },
        digests: { x86_64: await digest("x86_64"), aarch64: await digest("aarch64") },
      }];
      const kmods = `${registry.host}/${name}-kmods`;
      const matrixFile = `${dir}/matrix.yaml`;
      await Deno.writeTextFile(
        matrixFile,
        testMatrix([{ stream: "stable" }, { stream: "stable", arch: "aarch64" }])
          .replaceAll("quay.io/fedora/fedora-coreos:stable", refs.fcos43)
          .replace("ghcr.io/example/fedora-zfs-kmods\n", `${kmods}\n`),
      );
      const output = `${dir}/output`;
      const summary = `${dir}/summary`;
      await withServer(
        fcosBuilds({ stable }),
        (fcos) =>
          withServer(releasesHandler(RELEASES, 100), async (github) => {
            const env = {
              FCOS_BUILDS_URL: fcos.url,
              GITHUB_API_URL: github.url,
              GH_TOKEN: "test",
              MATRIX_FILE: matrixFile,
              GITHUB_OUTPUT: output,
              GITHUB_STEP_SUMMARY: summary,
            };
            const plan = async (script: string, args: string[] = ["--repo", "owner/repo"]) => {
              await Deno.writeTextFile(output, "");
              await Deno.writeTextFile(summary, "");
              await Deno.remove(`${dir}/gh.log`).catch(() => {});
              const result = await runTaskFile(
                "versions.ts",
                ["--all-targets", "--skip-published", ...args, "--github-output"],
                { ...env, ...await fakeGh(dir, script) },
              );
              return {
                result,
                outputs: outputsOf(await Deno.readTextFile(output)),
                summary: await Deno.readTextFile(summary),
                gh: await Deno.readTextFile(`${dir}/gh.log`).catch(() => ""),
              };
            };
            const tagOf = (kernel: string) => `zfs-2.4.2_kernel-${kernel}`;

            await t.step(
              "nothing published: every target is planned, gh is not asked",
              async () => {
                const { result, outputs, gh } = await plan(VERIFIED);
                assert.equal(result.code, 0, result.stderr);
                const targets = JSON.parse(outputs.targets!) as Record<string, unknown>[];
                assert.deepEqual(targets.map((x) => x.arch), ["x86_64", "aarch64"]);
                assert.deepEqual(JSON.parse(outputs["all-targets"]!), targets);
                assert.equal(outputs["published-count"], "0");
                assert.equal(targets[0]!["release-tag"], `fcos-${FCOS43_VERSION}`);
                assert.equal(gh, "", "no attestation to verify for an image that is not there");
              },
            );

            await buildAndPush(`${kmods}:${tagOf(X86_43_KERNEL)}`, "FROM scratch\nCOPY a /a\n", {
              a: "x86_64\n",
            });

            await t.step("one published and attested: only the other is planned", async () => {
              const { result, outputs, gh } = await plan(VERIFIED);
              assert.equal(result.code, 0, result.stderr);
              const targets = JSON.parse(outputs.targets!) as Record<string, unknown>[];
              assert.deepEqual(targets.map((x) => x.arch), ["aarch64"]);
              const all = JSON.parse(outputs["all-targets"]!) as Record<string, unknown>[];
              assert.deepEqual(all.map((x) => [x.arch, x.published]), [
                ["x86_64", true],
                ["aarch64", false],
              ]);
              assert.equal(outputs["published-count"], "1");
              assert.match(
                gh,
                new RegExp(
                  `^attestation verify oci://${kmods}@sha256:[0-9a-f]{64} --repo owner/repo$`,
                  "m",
                ),
              );
            });

            await buildAndPush(`${kmods}:${tagOf(ARM43_KERNEL)}`, "FROM scratch\nCOPY a /a\n", {
              a: "aarch64\n",
            });

            await t.step("all published: nothing to build, and the summary says so", async () => {
              const { result, outputs, summary, gh } = await plan(VERIFIED);
              assert.equal(result.code, 0, result.stderr);
              assert.equal(outputs.targets, "[]");
              assert.equal(JSON.parse(outputs["all-targets"]!).length, 2);
              assert.equal(outputs["published-count"], "2");
              assert.match(summary, /nothing new: 2 targets already published/);
              assert.match(result.stderr, /nothing new: 2 targets already published/);
              assert.equal(gh.trim().split("\n").length, 2, "each image's attestation verified");
            });

            await t.step("published but not attested: planned again", async () => {
              const { result, outputs } = await plan(
                "echo 'Error: no attestations found for subject: sha256:ab' >&2; exit 1",
              );
              assert.equal(result.code, 0, result.stderr);
              assert.equal(JSON.parse(outputs.targets!).length, 2);
              assert.equal(outputs["published-count"], "0");
              assert.match(result.stderr, /attestation does not verify/);
            });

            await t.step("gh cannot verify: an error, and no plan is written", async () => {
              const { result, outputs } = await plan(
                "echo 'Error: failed to fetch attestations for subject: sha256:ab' >&2; exit 1",
              );
              assert.equal(result.code, 1, result.stderr);
              assert.match(result.stderr.trim(), /^error: Cannot verify the attestation of /m);
              assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
              assert.deepEqual(outputs, {}, "no targets written on a failed check");
            });

            await t.step("the registry cannot be read: an error, never published", async () => {
              const unreachable = await Deno.readTextFile(matrixFile);
              await Deno.writeTextFile(
                matrixFile,
                unreachable.replace(`${kmods}\n`, "127.0.0.1:1/nowhere\n"),
              );
              try {
                const { result, outputs } = await plan(VERIFIED);
                assert.equal(result.code, 1, result.stderr);
                assert.match(result.stderr, /^error: .*127\.0\.0\.1:1/m);
                assert.deepEqual(outputs, {});
              } finally {
                await Deno.writeTextFile(matrixFile, unreachable);
              }
            });

            await t.step(
              "without a repository to verify against: exit 2 before anything",
              async () => {
                const result = await runTaskFile(
                  "versions.ts",
                  ["--all-targets", "--skip-published"],
                  { ...env, GITHUB_REPOSITORY: "" },
                );
                assert.equal(result.code, 2, result.stderr);
                assert.match(result.stderr, /--skip-published needs --repo OWNER\/REPO/);
              },
            );
          }),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
      await registry.stop();
    }
  },
);

Deno.test("--skip-published without --all-targets is a usage error", async () => {
  const result = await runTaskFile("versions.ts", ["--skip-published", "--repo", "o/r"]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /--skip-published and --repo go with --all-targets/);
  assert.equal(result.stderr.trim().split("\n").length, 1);
});
