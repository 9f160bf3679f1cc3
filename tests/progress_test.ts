// Build progress from real buildah output. tests/fixtures/podman_build/ holds what
// `podman build --isolation chroot --layers` printed (podman 4.3.1, buildah 1.28.2) for the
// fixture Containerfile there: first-build.log (nothing cached), kernel-update.log (the same
// build again with another KERNEL_VERSION, so only the kmod stage is rebuilt) and
// failed-build.log (failing.Containerfile: the kmod RUN exits 3). The integration test at the
// end runs the same builds live, so a change in buildah's output format fails here.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import {
  BuildProgress,
  describeStep,
  parseStep,
  type ProgressMode,
  stageNameOf,
  stageSummaryRows,
} from "../lib/progress.ts";
import { runBuild } from "../lib/podman.ts";
import { type IsolatedStorage, isolatedStorage } from "./helpers/isolated_storage.ts";
import { integrationTest } from "./helpers/tools.ts";

const FIXTURES = new URL("./fixtures/podman_build/", import.meta.url);

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
  const text = Deno.readTextFileSync(new URL("../Containerfile", import.meta.url));
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

Deno.test("a carriage-return progress bar shows only its last state, escape codes removed", () => {
  let out = "";
  const progress = new BuildProgress("tty", (t) => out += t, () => 0, 80);
  progress.line("[1/1] STEP 1/2: FROM scratch AS a");
  progress.line("[1/1] STEP 2/2: RUN make all");
  progress.line("10%\r50%\r\x1b[31m90%\x1b[0m");
  assert.equal(progress.liveLine(), "a · make all · 0s (total 0s) · 90%");
});

/** A context whose base stage is the host's sh, sleep and libc: RUN works without a registry. */
async function fixtureContext(containerfile: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "progress-build-" });
  await Deno.mkdir(`${dir}/rootfs/bin`, { recursive: true });
  for (const program of ["sh", "sleep"]) {
    await Deno.copyFile(await Deno.realPath(`/bin/${program}`), `${dir}/rootfs/bin/${program}`);
    const ldd = await new Deno.Command("ldd", { args: [`/bin/${program}`], stdout: "piped" })
      .output();
    for (const [, path] of new TextDecoder().decode(ldd.stdout).matchAll(/(\/\S+) \(0x/g)) {
      await Deno.mkdir(`${dir}/rootfs${path!.slice(0, path!.lastIndexOf("/"))}`, {
        recursive: true,
      });
      await Deno.copyFile(await Deno.realPath(path!), `${dir}/rootfs${path}`);
    }
  }
  await Deno.copyFile(new URL(containerfile, FIXTURES), `${dir}/Containerfile`);
  return dir;
}

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

/**
 * The live processes (pid and name) in the process groups of `groups`, from /proc/<pid>/stat.
 * A child of a group leader that leads a group of its own (podman) joins `groups`, so its RUN
 * steps are still found after podman itself has gone.
 */
function processesInGroups(groups: Set<number>): string[] {
  const stats = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid pgrp …": comm may hold spaces, so split after its ")"
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pid = Number(entry.name);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      stats.push({ pid, name, state, ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // the process ended while we looked
    }
  }
  for (const s of stats) if (groups.has(s.ppid) && s.pgrp === s.pid) groups.add(s.pid);
  return stats.filter((s) => groups.has(s.pgrp) && s.state !== "Z")
    .map((s) => `${s.pid} ${s.name}`);
}

// Ctrl-C reaches the whole process group; SIGTERM (a cancelled CI job) and SIGHUP (a closed
// terminal) reach deno alone, which must stop podman and return, so its cleanup runs.
for (
  const [name, signal, group] of [
    ["Ctrl-C", "SIGINT", true],
    ["SIGTERM to deno alone", "SIGTERM", false],
    ["SIGHUP to deno alone", "SIGHUP", false],
  ] as const
) {
  integrationTest(
    `${name} during a real build ends the live line, says interrupted and stops podman`,
    ["podman", "ldd", "setsid"],
    async () => {
      const dir = await fixtureContext("slow.Containerfile");
      const logFile = `${dir}/build.log`;
      // setsid: a process group of its own, as a terminal's job has
      const child = new Deno.Command("setsid", {
        args: [
          Deno.execPath(),
          "run",
          "-A",
          fileURLToPath(new URL("./helpers/interruptible_build.ts", import.meta.url)),
          dir,
          logFile,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const pgid = child.pid;
      const groups = new Set([pgid]);
      try {
        const deadline = Date.now() + 60_000;
        // wait until the RUN step's sleep runs in the group, as a terminal's job would
        while (
          !processesInGroups(groups).some((p) => p.endsWith(" sleep")) ||
          !(await Deno.readTextFile(logFile).catch(() => "")).includes("compiling")
        ) {
          assert.ok(Date.now() < deadline, "the build never reached its RUN step");
          await new Promise((r) => setTimeout(r, 200));
        }
        const interruptedAt = Date.now();
        Deno.kill(group ? -pgid : pgid, signal);
        const { code, stdout, stderr } = await child.output();
        const err = new TextDecoder().decode(stderr);
        assert.equal(code, 0, err);
        assert.ok(Date.now() - interruptedAt < 15_000, "the RUN step's 30 s sleep was not stopped");
        assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), {
          interrupted: true,
          success: false,
        });
        assert.ok(err.startsWith("\r\x1b[2Kcompile · "), err);
        assert.match(err, /compile · sleep 30 · \d+s \(total \d+s\)[^\n]*\ninterrupted\n$/);
        // the RUN step's own process ends a moment after podman: give it a few seconds
        let left = "";
        for (let i = 0; i < 25; i++) {
          left = processesInGroups(groups).join(", ");
          if (left === "") break;
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(left, "", "processes left behind");
      } finally {
        try {
          Deno.kill(-pgid, "SIGKILL");
        } catch {
          // the group is gone, as it should be
        }
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
