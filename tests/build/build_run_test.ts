// Running a build as a user does, through deno.json's command line (its permissions): Ctrl-C on
// a terminal and SIGTERM stop podman and leave no working container, a failed build names its
// cause in one line, a push that meets a 5xx or a reset is retried, and the digest written out
// is the one the registry confirms. Against real podman, docker-registry and local stand-ins.
import assert from "node:assert/strict";
import {
  buildResult,
  failureMessage,
  planLines,
  stagesSummary,
} from "../../lib/build/build_run.ts";
import { pushRetryable } from "../../lib/build/podman.ts";
import { renderResult } from "../../lib/cli/render.ts";
import type { BuildPlan } from "../../lib/build/build.ts";
import { type BuildEnvironment, KERNEL, startBuildEnvironment } from "../helpers/build_env.ts";
import { withFlakyRegistry } from "../helpers/flaky_registry.ts";
import { fixtureContext, stopTask } from "../helpers/interruptible_build.ts";
import { spawnTask } from "../helpers/run_task.ts";
import { integrationTest } from "../helpers/tools.ts";

const TAG = `zfs-2.4.2_kernel-${KERNEL}`;

// What podman 4.3.1 printed here when the push met a 503 at the manifest upload and when
// every connection to the registry was dropped (tests/helpers/flaky_registry.ts).
const PUSH_503 = "Error: writing manifest: uploading manifest x to 127.0.0.1:36871/x/y: " +
  "received unexpected HTTP status: 503 Service Unavailable";
const PUSH_EOF = "Error: trying to reuse blob sha256:ca85df186e9fbf7aed1e5cac2bbb418f379323546e12" +
  'a56d927193352a4178cd at destination: pinging container registry 127.0.0.1:44943: Get "http://' +
  '127.0.0.1:44943/v2/": EOF';

Deno.test("pushRetryable() retries a 5xx and a dropped connection, not a refusal", () => {
  for (
    const stderr of [
      PUSH_503,
      PUSH_EOF,
      "read tcp 1.2.3.4:1->5.6.7.8:443: connection reset by peer",
    ]
  ) {
    assert.equal(pushRetryable(stderr), true, stderr);
  }
  for (
    const stderr of [
      "Error: writing blob: initiating layer upload to /v2/o/x/blobs/uploads/ in ghcr.io: denied: permission_denied: write_package",
      "Error: trying to reuse blob …: unauthorized: authentication required",
      "Error: 127.0.0.1:5000/x: name unknown",
      "Error: writing manifest: uploading manifest t to ghcr.io/o/x: manifest invalid",
    ]
  ) {
    assert.equal(pushRetryable(stderr), false, stderr);
  }
});

const PLAN = {
  image: `ghcr.io/o/fedora-zfs-kmods:${TAG}`,
  imageTag: TAG,
  argv: ["build", "--tag", `ghcr.io/o/fedora-zfs-kmods:${TAG}`, "."],
  buildArgs: { ZFS_SHA256: "d03c".padEnd(64, "0"), SIGNING_CERT_SHA256: "unsigned" },
  insecureRegistries: [],
} as unknown as BuildPlan;

Deno.test("build's result goes through render(): vocabulary keys in JSON and $GITHUB_OUTPUT", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  const rendered = renderResult(buildResult(PLAN, digest), { githubOutput: true, actions: false });
  assert.equal(rendered.stdout, PLAN.image);
  assert.deepEqual(rendered.githubOutput, {
    "image-tag": TAG,
    "kmods-image": PLAN.image,
    image: PLAN.image,
    digest,
  });
  assert.match(rendered.stepSummary ?? "", /^\| kmods tag +\| kmods image +\| digest +\|$/m);
  const json = JSON.parse(renderResult(buildResult(PLAN, ""), { json: true }).stdout);
  assert.deepEqual(json, { "image-tag": TAG, "kmods-image": PLAN.image, digest: "" });
  assert.match(
    renderResult(buildResult(PLAN, ""), { githubOutput: true }).stepSummary ?? "",
    / \\- \|$/m,
    "no digest: the empty cell is - (escaped for Markdown)",
  );
});

Deno.test("the stage table reaches the step summary through render()", () => {
  assert.equal(
    stagesSummary([["kmod", "failed at step 4 of 4", "1m02s"], ["total", "", "1m05s"]]),
    "### Build stages\n\n| stage | result | time |\n| --- | --- | --- |\n" +
      "| kmod | failed at step 4 of 4 | 1m02s |\n| total |  | 1m05s |\n",
  );
});

Deno.test("a failed build's one line: exit code, cause, what to do, log", () => {
  assert.equal(
    failureMessage(1, { cause: "compile failed at step 3 of 3: crun …", hint: "set X" }, "/l.log"),
    "podman build failed (exit 1): compile failed at step 3 of 3: crun …; set X; full log: /l.log",
  );
  assert.equal(
    failureMessage(125, undefined, "/l.log"),
    "podman build failed (exit 125); full log: /l.log",
  );
});

Deno.test("build --dry-run names the plan with the vocabulary's labels", () => {
  const lines = planLines({
    arch: "x86_64",
    zfsTag: "zfs-2.4.2",
    kernelVersion: KERNEL,
    kernelMajorMinor: "6.15",
    fedoraVersion: "42",
    pinnedImage: `quay.io/fedora/fedora-coreos@sha256:${"a".repeat(64)}`,
    kernelSource: "coreos build metadata",
  }, PLAN);
  assert.deepEqual(lines.map((l) => l.split(/ {2,}/)[0]), [
    "zfs release",
    "kernel",
    "fedora",
    "target image",
    "kmods image",
    "signing cert",
    lines.at(-1),
  ]);
  assert.match(
    lines[1]!,
    /^kernel {8}6\.15\.4-200\.fc42\.x86_64 \(6\.15, from the coreos build metadata\)$/,
  );
  assert.match(lines.at(-1)!, /^podman build /);
});

/** Runs `fn` with a time limit: a hang fails the test instead of holding CI. */
async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** A context of the host's sh and sleep for a fixture Containerfile; its Containerfile's path. */
async function context(fixture: string): Promise<string> {
  const dir = await fixtureContext(fixture);
  return `${dir}/Containerfile`;
}

integrationTest(
  "Ctrl-C on a terminal and SIGTERM stop build and test-build under their own permissions",
  ["podman", "docker-registry", "ldd", "script", "setsid"],
  (t) =>
    within(300_000, "the Ctrl-C test", async () => {
      const env = await startBuildEnvironment();
      const slow = await context("slow.Containerfile");
      try {
        await t.step(
          "Ctrl-C: podman and the RUN step gone within seconds, the line ended",
          async () => {
            const before = await env.workingContainers();
            const stopped = await stopTask("build.ts", [...env.common, "--containerfile", slow], {
              cwd: env.dir,
              env: env.env,
              how: { ctrlC: true },
            });
            const out = stopped.output;
            assert.equal(stopped.code, 1, out);
            assert.ok(stopped.podmanGoneMs < 5000, `podman ran ${stopped.podmanGoneMs} ms on`);
            assert.ok(stopped.exitedMs < 10_000, `the task ran ${stopped.exitedMs} ms on`);
            assert.deepEqual(stopped.left, [], "processes left behind");
            // the live line, ended, then `interrupted`, then the one error line, nothing after
            const live = out.lastIndexOf("\r\x1b[2K");
            assert.ok(live >= 0, out);
            assert.match(
              out.slice(live + 5),
              /^compile · sleep 30 · \d+s \(total \d+s\)[^\n]*\ninterrupted\nerror: Build interrupted[^\n]*; full log: \S+\/build-logs\/build-\S+\.log\n$/,
            );
            assert.deepEqual(await env.workingContainers(), before, "working containers left");
            await Deno.remove(`${env.dir}/build-logs`, { recursive: true });
          },
        );
        await t.step(
          "SIGTERM to deno alone (a cancelled job): podman stopped, container removed",
          async () => {
            const before = await env.workingContainers();
            const stopped = await stopTask("test_build.ts", [
              ...env.common,
              "--containerfile",
              slow,
            ], {
              cwd: env.dir,
              env: env.env,
              how: { signal: "SIGTERM" },
            });
            assert.equal(stopped.code, 1, stopped.output);
            assert.ok(stopped.podmanGoneMs < 10_000, `podman ran ${stopped.podmanGoneMs} ms on`);
            assert.ok(stopped.exitedMs < 15_000, `the task ran ${stopped.exitedMs} ms on`);
            assert.match(stopped.output, /^interrupted$/m);
            assert.match(stopped.output, /^error: Build interrupted.*; full log: \S+\.log$/m);
            assert.deepEqual(await env.workingContainers(), before, "working containers left");
            await Deno.remove(`${env.dir}/build-logs`, { recursive: true });
          },
        );
      } finally {
        await Deno.remove(slow.replace(/\/Containerfile$/, ""), { recursive: true });
        await env.stop();
      }
    }),
);

/** Runs a task with deno.json's permissions in the environment, with a time limit. */
function task(
  env: BuildEnvironment,
  file: string,
  args: string[],
  extra: Record<string, string> = {},
) {
  return spawnTask(file, args, {
    cwd: env.dir,
    env: { NO_COLOR: "1", ...env.env, ...extra },
    signal: AbortSignal.timeout(240_000),
  });
}

integrationTest(
  "a failed build ends with its cause in one line, marks the stage failed and leaves no container",
  ["podman", "docker-registry", "ldd"],
  (t) =>
    within(300_000, "the failed-build test", async () => {
      const env = await startBuildEnvironment();
      const failing = await context("failing.Containerfile");
      try {
        await t.step("a RUN step that exits 3", async () => {
          const before = await env.workingContainers();
          const ran = await task(env, "build.ts", [...env.common, "--containerfile", failing]);
          assert.equal(ran.code, 1, ran.stderr);
          const last = ran.stderr.trimEnd().split("\n").at(-1)!;
          assert.match(
            last,
            /^error: podman build failed \(exit 3\): kmod failed at step 4 of 4 \([^)]+\): exit status 3 \(last output: error: vermagic mismatch\); full log: \S+\.log$/,
          );
          assert.match(ran.stderr, /^kmod +failed at step 4 of 4 +\d+s$/m);
          assert.deepEqual(await env.workingContainers(), before, "working containers left");
        });
        await t.step("a base image that cannot be pulled", async () => {
          await Deno.writeTextFile(
            `${env.dir}/Pull.Containerfile`,
            "FROM 127.0.0.1:9/none:1 AS builder\nRUN true\n",
          );
          const ran = await task(env, "build.ts", [
            ...env.common,
            "--containerfile",
            `${env.dir}/Pull.Containerfile`,
          ]);
          assert.equal(ran.code, 1, ran.stderr);
          assert.match(
            ran.stderr.trimEnd().split("\n").at(-1)!,
            /^error: podman build failed \(exit 125\): cannot pull 127\.0\.0\.1:9\/none:1: connection refused; full log: /,
          );
          assert.match(ran.stderr, /^builder +failed at step 1 of 2 /m);
        });
      } finally {
        await Deno.remove(failing.replace(/\/Containerfile$/, ""), { recursive: true });
        await env.stop();
      }
    }),
);

integrationTest(
  "build --push retries a 503 and a reset, and writes only the digest the registry confirms",
  ["podman", "docker-registry"],
  (t) =>
    within(300_000, "the push test", async () => {
      const env = await startBuildEnvironment();
      await Deno.mkdir(`${env.dir}/tiny`);
      await Deno.writeTextFile(
        `${env.dir}/tiny/Containerfile`,
        "FROM scratch\nCOPY Containerfile /x\n",
      );
      const push = (host: string, tag: string, extra: Record<string, string> = {}) =>
        task(env, "build.ts", [
          ...env.common,
          "--containerfile",
          `${env.dir}/tiny/Containerfile`,
          "--tag",
          `${host}/kmods:${tag}`,
          "--push",
          "--github-output",
        ], {
          GITHUB_OUTPUT: `${env.dir}/output`,
          GITHUB_STEP_SUMMARY: `${env.dir}/summary`,
          HTTP_RETRIES: "2",
          ...extra,
        });
      const outputs = async () =>
        Object.fromEntries(
          (await Deno.readTextFile(`${env.dir}/output`).catch(() => "")).split("\n")
            .filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
        );
      const registryDigest = async (tag: string) => {
        const response = await fetch(`http://${env.registry.host}/v2/kmods/manifests/${tag}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        const bytes = new Uint8Array(await response.arrayBuffer());
        const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
      };
      try {
        await t.step(
          "a 503 at the manifest upload: one visible retry, then the digest",
          async () => {
            await withFlakyRegistry(env.registry.host, async (front) => {
              await Deno.writeTextFile(`${env.dir}/output`, "");
              const ran = await push(front.host, `${TAG}-503`);
              assert.equal(ran.code, 0, ran.stderr);
              assert.equal(front.failed.length, 1);
              assert.match(
                ran.stderr,
                /^warning: podman push \S+ failed: .*503 Service Unavailable; retrying in \d+(\.\d+)? s \(attempt 2 of 3\)$/m,
              );
              const digest = (await outputs()).digest;
              assert.equal(digest, await registryDigest(`${TAG}-503`));
              assert.match(ran.stderr, /confirmed by the registry/);
            }, { failures: 1 });
          },
        );
        await t.step(
          "connections reset until podman's own retries give up: retried here",
          async () => {
            // how many connections one podman push opens while it retries by itself
            let resets = 0;
            await withFlakyRegistry(env.registry.host, async (front) => {
              const ran = await push(front.host, `${TAG}-count`, { HTTP_RETRIES: "0" });
              assert.equal(ran.code, 1, ran.stderr);
              assert.match(ran.stderr, /^error: Pushing \S+ failed \(podman push\): .*EOF$/m);
              resets = front.resets;
            }, { resets: 1_000_000 });
            await withFlakyRegistry(env.registry.host, async (front) => {
              await Deno.writeTextFile(`${env.dir}/output`, "");
              const ran = await push(front.host, `${TAG}-reset`);
              assert.equal(ran.code, 0, ran.stderr);
              assert.equal(front.resets, resets);
              assert.match(ran.stderr, /^warning: podman push \S+ failed: .*EOF; retrying in /m);
              assert.equal((await outputs()).digest, await registryDigest(`${TAG}-reset`));
            }, { resets });
          },
        );
        await t.step(
          "a registry that answers the tag with another manifest: no digest output",
          async () => {
            await withFlakyRegistry(env.registry.host, async (front) => {
              await Deno.writeTextFile(`${env.dir}/output`, "");
              const ran = await push(front.host, `${TAG}-lie`);
              assert.equal(ran.code, 1, ran.stderr);
              assert.match(
                ran.stderr,
                /^error: The registry does not confirm the push of \S+: podman pushed sha256:[0-9a-f]{64}, the tag reads sha256:[0-9a-f]{64}$/m,
              );
              assert.equal((await outputs()).digest, undefined, "no digest written");
            }, { failures: 0, lie: true });
          },
        );
      } finally {
        await env.stop();
      }
    }),
);
