// Build progress from real buildah output. tests/fixtures/podman_build/ holds what
// `podman build --isolation chroot --layers` printed (podman 4.3.1, buildah 1.28.2) for the
// fixture Containerfile there: first-build.log (nothing cached), kernel-update.log (the same
// build again with another KERNEL_VERSION, so only the kmod stage is rebuilt) and
// failed-build.log (failing.Containerfile: the kmod RUN exits 3). The integration test at the
// end runs the same builds live, so a change in buildah's output format fails here.
// pull-failed.log and runtime-failed.log are real failures on this machine (podman 4.3.1): a
// base image on a host that does not resolve, and `--isolation oci` where crun cannot run.
import assert from "node:assert/strict";
import { BuildProgress, type ProgressMode, stageSummaryRows } from "../../lib/build/progress.ts";
import { parseStep, stageNameOf } from "../../lib/build/build_output.ts";
import { describeStep } from "../../lib/build/build_steps.ts";
import { runBuild } from "../../lib/build/podman.ts";
import { fixtureContext } from "../helpers/interruptible_build.ts";
import { type IsolatedStorage, isolatedStorage } from "../helpers/isolated_storage.ts";
import { integrationTest } from "../helpers/tools.ts";

const FIXTURES = new URL("../fixtures/podman_build/", import.meta.url);

function captured(name: string): string[] {
  return Deno.readTextFileSync(new URL(name, FIXTURES)).split("\n").filter((l) => l !== "");
}

/** A Containerfile's instructions as buildah prints them: `\` + newline removed, nothing else. */
function instructionsOf(containerfile: string): string[] {
  return containerfile.replace(/\\\n/g, "").split("\n")
    .filter((l) => /^[A-Z]+\s/.test(l));
}

/** Feeds captured lines one second apart; returns what was written and the progress. */
function replay(
  lines: string[],
  mode: ProgressMode,
  options: { success?: boolean; columns?: number; secondsPerLine?: number } = {},
) {
  let clock = 0;
  let out = "";
  const progress = new BuildProgress(mode, (t) => out += t, () => clock, options.columns ?? 80);
  const draws: string[] = [];
  for (const line of lines) {
    clock += (options.secondsPerLine ?? 1) * 1000;
    progress.line(line);
    if (mode === "tty") draws.push(progress.liveLine() ?? "");
  }
  progress.finish(options.success ?? true);
  return { out, progress, draws };
}

const META_STEP = /^(?:ARG|LABEL|WORKDIR|ENV|FROM)\b/;

Deno.test("the captured step lines are the fixture's instructions, continuation lines joined", () => {
  const expected = instructionsOf(
    Deno.readTextFileSync(new URL("Containerfile", FIXTURES)),
  ).map((i) => i.replace(/^FROM (\S+) AS/, "FROM * AS"));
  for (const line of captured("first-build.log")) {
    const step = parseStep(line);
    if (!step) continue;
    // buildah names a stage built on another by its image id: `FROM 16a8…(64 hex) AS source`
    const instruction = step.instruction.replace(/^FROM [0-9a-f]{64} AS/, "FROM * AS")
      .replace(/^FROM scratch AS/, "FROM * AS");
    assert.ok(
      expected.includes(instruction) || instruction === "FROM scratch",
      `not in the fixture Containerfile: ${instruction}`,
    );
  }
});

Deno.test("stageNameOf() reads the stage name, also where buildah shows an image id", () => {
  assert.equal(
    stageNameOf(`FROM ${"a".repeat(64)} AS source`),
    "source",
  );
  assert.equal(stageNameOf("FROM quay.io/fedora/fedora:43 AS builder"), "builder");
  assert.equal(stageNameOf("FROM scratch"), undefined);
});

Deno.test("describeStep() says what a step does without mounts, set -eu and housekeeping", async (t) => {
  const cases: [string, string | undefined][] = [
    ["ARG ZFS_TAG", undefined],
    ['LABEL a="b"', undefined],
    ["WORKDIR /build", undefined],
    ["ENV A=b", undefined],
    ["FROM scratch AS x", undefined],
    ["COPY --from=userland /out/ /out/", "copy /out/ from userland"],
    ["COPY rootfs/ /", "copy rootfs/"],
    [
      'RUN --mount=type=cache,target=/var/cache/libdnf5,sharing=locked     set -eu;     ./configure --with-config=user;     make -j"$(nproc)" rpm-utils;     mkdir -p /out;     mv ./*.rpm /out/',
      "make rpm-utils",
    ],
    ["RUN ./autogen.sh", "autogen.sh"],
    [
      'RUN set -eu;     curl --fail --location --output zfs.tar.gz "$url";     tar -xzf zfs.tar.gz',
      "download zfs.tar.gz",
    ],
    ["RUN dnf install -y --setopt=keepcache=1 a b c d e", "dnf install 5 packages"],
    ['RUN if [ -n "$(dnf repoquery --quiet x)" ]; then dnf install -y x; fi', "dnf install x"],
    // `>&2` is a redirection, not a command separator
    [
      'RUN set -eu; v="$(rpm -q kernel --qf x)"; if [ "$v" != y ]; then echo no >&2; exit 1; fi',
      "rpm -q kernel",
    ],
    ["RUN <<EOT", "run a script"],
    ['RUN echo "autogen done"', 'echo "autogen done"'],
  ];
  for (const [instruction, expected] of cases) {
    await t.step(instruction.slice(0, 60), () => {
      assert.equal(describeStep(instruction), expected);
    });
  }
});

Deno.test("describeStep() names each RUN of the project's Containerfile by its main command", () => {
  const text = Deno.readTextFileSync(new URL("../../Containerfile", import.meta.url));
  let stage = "";
  const described: Record<string, string[]> = {};
  for (const instruction of instructionsOf(text)) {
    if (instruction.startsWith("FROM")) stage = stageNameOf(instruction) ?? "final";
    const description = describeStep(instruction);
    if (description !== undefined) (described[stage] ??= []).push(description);
  }
  assert.ok(described.userland?.includes("make rpm-utils"), JSON.stringify(described));
  assert.ok(described.kmod?.includes("make rpm-kmod"), JSON.stringify(described));
  assert.match(described.builder?.[0] ?? "", /^dnf install \d+ packages$/);
  assert.ok(described.source?.includes("download zfs.tar.gz"), JSON.stringify(described));
  for (const line of Object.values(described).flat()) {
    assert.doesNotMatch(line, /--mount|set -eu|^\s*$/, line);
    assert.ok(line.length <= 80, line);
  }
});

Deno.test("on a terminal the live line shows stage, step, step time, total and the last output", () => {
  const lines = captured("first-build.log");
  const { out, draws } = replay(lines, "tty", { columns: 200 });
  const at = lines.indexOf("make rpm-utils");
  // the userland RUN started 2 lines (2 s) earlier; 36 lines (36 s) since the start
  assert.equal(
    draws[at],
    'userland · echo "userland rpm" > /build/zfs.rpm · 2s (total 36s) · make rpm-utils',
  );
  assert.ok(out.startsWith("\r\x1b[2Kbuilder · from scratch · 0s (total 1s)"), out.slice(0, 80));
  assert.ok(out.endsWith("\n"), "the live line is ended");
  assert.doesNotMatch(out, /\[\d\/\d\]|STEP|--mount|[0-9a-f]{64}/);
});

Deno.test("the live line fits the terminal width", () => {
  for (const columns of [40, 60, 80]) {
    const { draws } = replay(captured("first-build.log"), "tty", { columns });
    for (const draw of draws) assert.ok(draw.length <= columns - 1, `${columns}: ${draw}`);
  }
});

Deno.test("without a terminal one line per finished meaningful step, none for ARG/LABEL/WORKDIR", () => {
  const { out } = replay(captured("first-build.log"), "plain");
  const printed = out.trimEnd().split("\n");
  assert.deepEqual(printed, [
    "builder · copy rootfs/ · 1s (total 3s)",
    'builder · echo "toolchain ready" > /toolchain · 2s (total 6s)',
    'source · echo "${ZFS_TAG}" > /build/tag · 2s (total 14s)',
    'source · echo "autogen done" · 2s (total 17s)',
    'kmod · echo "installing kernel-devel-${KERNEL_VERSION}" · 2s (total 29s)',
    'kmod · echo "kmod rpm" > /build/kmod.rpm · 2s (total 32s)',
    'userland · echo "userland rpm" > /build/zfs.rpm · 3s (total 37s)',
    "final · copy /build/zfs.rpm from userland · 3s (total 38s)",
    "final · copy /build/kmod.rpm from kmod · 1s (total 40s)",
  ]);
  assert.ok(!out.includes("\x1b"));
  assert.doesNotMatch(out, /ARG|LABEL|WORKDIR/);
});

Deno.test("without a terminal a kernel-only update shows the userland steps as cached", () => {
  const { out } = replay(captured("kernel-update.log"), "plain");
  assert.match(out, /^userland · .* · cached \(total \d+s\)$/m);
  assert.match(out, /^kmod · echo "kmod rpm" > \/build\/kmod.rpm · 2s /m);
});

Deno.test("under GitHub Actions one group per stage, named by stage, with every output line", () => {
  for (const log of ["first-build.log", "kernel-update.log", "failed-build.log"]) {
    const lines = captured(log);
    const { out } = replay(lines, "github", { success: log !== "failed-build.log" });
    const written = out.trimEnd().split("\n");
    const groups = written.filter((l) => l.startsWith("::group::"));
    for (const group of groups) {
      assert.match(
        group,
        /^::group::(builder|source|userland|kmod|final) \(stage \d of 5(, continued)?\)$/,
      );
    }
    assert.equal(groups.length, written.filter((l) => l === "::endgroup::").length);
    assert.deepEqual(written.filter((l) => !l.startsWith("::")), lines, "every line, in order");
  }
});

Deno.test("the stage summary shows a kernel-only update reusing the cached userland stage", () => {
  const first = replay(captured("first-build.log"), "plain").progress.stageTimings();
  assert.deepEqual(first.map((s) => [s.name, s.result]), [
    ["builder", "built"],
    ["source", "built"],
    ["userland", "built"],
    ["kmod", "built"],
    ["final", "built"],
  ]);
  const update = replay(captured("kernel-update.log"), "plain").progress;
  assert.deepEqual(update.stageTimings().map((s) => [s.name, s.result]), [
    ["builder", "cached"],
    ["source", "cached"],
    ["userland", "cached"],
    ["kmod", "built (1 of 3 steps cached)"],
    ["final", "cached"],
  ]);
  const rows = stageSummaryRows(update.stageTimings(), update.elapsed());
  assert.deepEqual(rows.at(-1), ["total", "", "54s"]);
  // each stage's own time: a stage waiting for the one it copies from is not charged for it
  const charged = update.stageTimings().reduce((sum, s) => sum + s.ms, 0);
  assert.ok(charged <= 54_000, `${charged} ms charged to stages in a 54 s build`);
  assert.ok(update.stageTimings().every((s) => s.ms > 0));
});

Deno.test("after a failed build the summary names the failed step and where others stopped", () => {
  const { out, progress } = replay(captured("failed-build.log"), "plain", { success: false });
  assert.deepEqual(progress.stageTimings().map((s) => [s.name, s.result]), [
    ["builder", "cached"],
    ["source", "cached"],
    ["userland", "stopped at step 2 of 2"],
    ["kmod", "failed at step 4 of 4"],
    ["final", "stopped at step 4 of 6"],
  ]);
  assert.match(out, /^kmod · echo "kmod rpm" > \/build\/kmod.rpm · failed after \d+s/m);
});

Deno.test("Ctrl-C ends the live line and says interrupted", () => {
  let out = "";
  const progress = new BuildProgress("tty", (t) => out += t, () => 5000, 120);
  for (const line of captured("first-build.log").slice(0, 5)) progress.line(line);
  progress.interrupt();
  progress.finish(); // runBuild's cleanup: nothing more is written
  assert.ok(out.endsWith("(total 0s) · installing the toolchain\ninterrupted\n"), out);
});

Deno.test("after Ctrl-C the live line is not redrawn: the ticker cannot write over the error", () => {
  let out = "";
  let clock = 0;
  const progress = new BuildProgress("tty", (t) => out += t, () => clock, 120);
  for (const line of captured("first-build.log").slice(0, 5)) progress.line(line);
  progress.interrupt();
  const ended = out;
  clock += 5000;
  progress.tick(); // runBuild's ticker, still running until podman has exited
  progress.line("make rpm-utils"); // podman's last words
  progress.tick();
  assert.equal(out, ended);
});

Deno.test("a failed build's cause comes from its log: the failed stage, step and last output", () => {
  const { progress } = replay(captured("failed-build.log"), "plain", { success: false });
  assert.deepEqual(progress.failure(), {
    cause: 'kmod failed at step 4 of 4 (echo "kmod rpm" > /build/kmod.rpm): exit status 3 ' +
      "(last output: error: vermagic mismatch)",
  });
});

Deno.test("a failed step's last output is its error line, whatever order stdout and stderr came in", () => {
  // The step echoes to stdout, then the error to stderr; podman's two streams reach the log in
  // either order (seen in CI): the error line is the cause either way.
  const lines = captured("failed-build.log");
  const error = lines.findIndex((line) => line === "error: vermagic mismatch");
  const stdout = lines.findLastIndex((line, i) => i < error && /^make rpm-kmod for /.test(line));
  assert.ok(error > 0 && stdout > 0 && stdout < error);
  const swapped = [...lines];
  swapped[stdout] = lines[error]!;
  swapped[error] = lines[stdout]!;
  for (const log of [lines, swapped]) {
    const { progress } = replay(log, "plain", { success: false });
    assert.match(progress.failure()!.cause, /\(last output: error: vermagic mismatch\)$/);
  }
});

Deno.test("a failed step's cause survives podman prefixing its own clean-up error", () => {
  // Seen in a real run: podman could not remove an image still used by a working container and
  // put that in front of the step's error, on the same line.
  const lines = captured("failed-build.log").map((line) =>
    line.replace(
      /^Error: building at STEP/,
      "Error: image used by ae06803e651878ec252c1c367fc13c0ac4d13304d9eca49142666544ef140db0: " +
        "image is in use by a container: building at STEP",
    )
  );
  const { progress } = replay(lines, "plain", { success: false });
  assert.deepEqual(progress.failure(), {
    cause: 'kmod failed at step 4 of 4 (echo "kmod rpm" > /build/kmod.rpm): exit status 3 ' +
      "(last output: error: vermagic mismatch)",
  });
});

Deno.test("a base image that cannot be pulled is the cause, and its stage is marked failed", () => {
  const { progress } = replay(captured("pull-failed.log"), "plain", { success: false });
  assert.deepEqual(progress.failure(), {
    cause: "cannot pull quay.io/fedora/fedora:43: no such host",
  });
  assert.deepEqual(progress.stageTimings().map((s) => [s.name, s.result]), [
    ["builder", "failed at step 1 of 2"],
  ]);
});

Deno.test("an OCI runtime that cannot run here suggests BUILD_ISOLATION=chroot", () => {
  const { progress } = replay(captured("runtime-failed.log"), "plain", { success: false });
  assert.deepEqual(progress.failure(), {
    cause: 'compile failed at step 3 of 3 (echo "compiling"): crun cannot run the step here: ' +
      "cgroups in hybrid mode not supported, drop all controllers from cgroupv2",
    hint: "set BUILD_ISOLATION=chroot (or --isolation chroot) where no OCI runtime works",
  });
  assert.deepEqual(progress.stageTimings().map((s) => [s.name, s.result]), [
    ["compile", "failed at step 3 of 3"],
  ]);
});

Deno.test("a carriage-return progress bar shows only its last state, escape codes removed", () => {
  let out = "";
  const progress = new BuildProgress("tty", (t) => out += t, () => 0, 80);
  progress.line("[1/1] STEP 1/2: FROM scratch AS a");
  progress.line("[1/1] STEP 2/2: RUN make all");
  progress.line("10%\r50%\r\x1b[31m90%\x1b[0m");
  assert.equal(progress.liveLine(), "a · make all · 0s (total 0s) · 90%");
});

/** podman's arguments for a --layers build of `dir` in `storage` with the two build args. */
function chrootBuild(
  storage: IsolatedStorage,
  dir: string,
  build: { zfsTag: string; kernel: string; tag?: string },
): string[] {
  return [
    ...storage.podmanArgs,
    "build",
    "--isolation",
    "chroot",
    "--layers",
    "--build-arg",
    `ZFS_TAG=${build.zfsTag}`,
    "--build-arg",
    `KERNEL_VERSION=${build.kernel}`,
    ...(build.tag ? ["--tag", build.tag] : []),
    dir,
  ];
}

integrationTest(
  "a real podman build: progress per stage, and a kernel-only rebuild reuses userland",
  ["podman", "ldd"],
  async () => {
    const dir = await fixtureContext("Containerfile");
    // a storage of its own: the second build's cache lookup must not race another test's rmi
    const storage = await isolatedStorage();
    const image = `localhost/progress-test:${crypto.randomUUID().slice(0, 8)}`;
    // a fresh ZFS_TAG, so the first build cannot come from an earlier run's cache
    const zfsTag = `zfs-2.4.${Math.floor(Math.random() * 1e9)}`;
    const build = async (kernel: string) => {
      let out = "";
      const progress = new BuildProgress("plain", (t) => out += t);
      const result = await runBuild(
        chrootBuild(storage, dir, { zfsTag, kernel, tag: image }),
        `${dir}/build.log`,
        progress,
      );
      return { result, out, log: await Deno.readTextFile(`${dir}/build.log`) };
    };
    try {
      const first = await build("6.17.1-300.fc43.x86_64");
      assert.ok(first.result.success, first.log);
      const result = (r: typeof first, stage: string) =>
        r.result.stages.find((s) => s.name === stage)?.result;
      assert.equal(result(first, "userland"), "built");
      assert.match(first.out, /^userland · .* · \d+s \(total \d+s\)$/m);
      const second = await build("6.17.7-300.fc43.x86_64");
      assert.ok(second.result.success, second.log);
      assert.equal(result(second, "userland"), "cached");
      assert.equal(result(second, "source"), "cached");
      assert.match(result(second, "kmod") ?? "", /^built/);
      assert.match(second.log, /make rpm-kmod for 6\.17\.7-300\.fc43\.x86_64/);
      assert.doesNotMatch(second.out, META_STEP);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await storage.cleanup();
    }
  },
);

integrationTest(
  "a real failed podman build names the failed stage and keeps the log",
  ["podman", "ldd"],
  async () => {
    const dir = await fixtureContext("failing.Containerfile");
    const storage = await isolatedStorage(); // --layers: a cache lookup races other tests' rmi
    try {
      let out = "";
      const progress = new BuildProgress("plain", (t) => out += t);
      const result = await runBuild(
        chrootBuild(storage, dir, {
          zfsTag: `zfs-2.4.${Math.floor(Math.random() * 1e9)}`,
          kernel: "6.17.9-300.fc43.x86_64",
        }),
        `${dir}/build.log`,
        progress,
      );
      assert.equal(result.success, false);
      assert.equal(result.code, 3);
      assert.equal(result.stages.find((s) => s.name === "kmod")?.result, "failed at step 4 of 4");
      assert.ok(
        result.tail.some((l) => l.includes("error: vermagic mismatch")),
        result.tail.join("\n"),
      );
      assert.match(await Deno.readTextFile(`${dir}/build.log`), /^Error: building at STEP/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await storage.cleanup();
    }
  },
);
