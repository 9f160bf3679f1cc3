// Every task's --help is complete and agrees with deno.json: the description deno.json shows in
// `deno task` is the one --help prints, and the help has Examples (whose flags the task really
// takes), Exit codes and Environment sections.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { helpFooter, TASK_HELP } from "../lib/help.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Tasks that run tools, not a tasks/*.ts file. */
const NOT_TASK_FILES = new Set(["test", "bench", "ok"]);

interface DenoTask {
  description: string;
  command: string;
}

async function denoTasks(): Promise<[string, DenoTask][]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  return (Object.entries(config.tasks) as [string, DenoTask][])
    .filter(([name]) => !NOT_TASK_FILES.has(name));
}

/** `deno task <name> --help`, run the way a user runs it (deno.json's command line). */
async function help(name: string, args: string[] = []) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args, "--help"],
    cwd: ROOT,
    env: { NO_COLOR: "1", GITHUB_ACTIONS: "false" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** The description paragraph of commander's help (wrapped lines joined). */
function descriptionOf(text: string): string {
  const paragraphs = text.split("\n\n");
  return (paragraphs[1] ?? "").split("\n").map((l) => l.trim()).join(" ");
}

/** The long flags listed under Options (and Arguments' names), e.g. --image. */
function flagsOf(text: string): Set<string> {
  const options = /^Options:\n((?: .*\n?)*)/m.exec(text)?.[1] ?? "";
  return new Set([...options.matchAll(/--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
}

function sectionOf(text: string, title: string): string[] {
  const body = new RegExp(`^${title}:\\n((?:  .*\\n?)*)`, "m").exec(text)?.[1] ?? "";
  return body.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

Deno.test("every deno.json task's --help exits 0 with deno.json's description and every section", async (t) => {
  const tasks = await denoTasks();
  assert.ok(tasks.length >= 15, `only ${tasks.length} tasks`);
  for (const [name, task] of tasks) {
    await t.step(name, async () => {
      const result = await help(name);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: deno task ${name} `));
      assert.equal(descriptionOf(result.stdout), task.description);
      const examples = sectionOf(result.stdout, "Examples");
      assert.ok(examples.length > 0, `${name}: no examples`);
      assert.ok(examples.every((e) => e.startsWith(`deno task ${name}`)), examples.join("\n"));
      assert.deepEqual(sectionOf(result.stdout, "Exit codes").map((l) => l.slice(0, 1)), [
        "0",
        "1",
        "2",
      ]);
      assert.ok(sectionOf(result.stdout, "Environment").length > 0, `${name}: no environment`);
    });
  }
});

Deno.test("the examples in --help use only flags the task takes", async (t) => {
  for (const [name] of await denoTasks()) {
    const examples = TASK_HELP[name]?.examples ?? [];
    assert.ok(examples.length > 0, `${name} has no examples in lib/help.ts`);
    await t.step(name, async () => {
      const top = await help(name);
      for (const example of examples) {
        const words = example.split(" ").slice(3);
        // A task with subcommands (matrix add …) lists the flags on the subcommand's help.
        const sub = /^[a-z]+$/.test(words[0] ?? "") && /^Commands:/m.test(top.stdout)
          ? await help(name, [words[0]!])
          : top;
        const known = flagsOf(sub.stdout);
        for (const flag of words.filter((w) => w.startsWith("--"))) {
          assert.ok(known.has(flag), `${example}: ${flag} is not an option of ${name}`);
        }
      }
    });
  }
});

Deno.test("--help shows defaults one way: (default: …) without quotes, no default for switches", async () => {
  for (const [name] of await denoTasks()) {
    const { stdout } = await help(name);
    assert.doesNotMatch(stdout, /default: "/, `${name}: a quoted default`);
    assert.doesNotMatch(stdout, /default: false/, `${name}: a switch's default`);
    assert.doesNotMatch(stdout, /\(default [^:]/, `${name}: a default written another way`);
  }
});

Deno.test("--help lists the environment each task really reads", () => {
  const env = (task: string) => sectionOf(helpFooter(task), "Environment").join("\n");
  // a registry is reached (lib/registry.ts reads GITHUB_ACTOR for its user)
  for (const task of ["versions", "kernel-version", "build", "list-rpms", "cleanup"]) {
    assert.match(env(task), /GITHUB_ACTOR/, task);
  }
  assert.doesNotMatch(env("zfs-version"), /GITHUB_ACTOR/);
  for (const task of ["build", "test-build"]) {
    // the source and vcs-ref labels; podman always, never CONTAINER_ENGINE
    assert.match(env(task), /GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_SHA/, task);
    assert.doesNotMatch(env(task), /CONTAINER_ENGINE/, task);
  }
  assert.match(env("build"), /PODMAN_TIMEOUT_MS/);
  for (const task of ["list-rpms", "extract-rpms"]) assert.match(env(task), /CONTAINER_ENGINE/);
});
