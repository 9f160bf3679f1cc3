// Every task's --help is complete and agrees with deno.json: the description deno.json shows in
// `deno task` is the one --help prints, and the help has Examples (whose flags the task really
// takes), Exit codes and Environment sections.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SHARED_OPTION_HELP } from "../lib/cli/cli.ts";
import { helpFooter, SUBCOMMAND_HELP, TASK_HELP } from "../lib/cli/help.ts";
import { type DenoTask, denoTasks } from "./helpers/run_task.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Tasks that run tools, not a tasks/*.ts file. */
const NOT_TASK_FILES = new Set(["test", "bench", "ok", "samples"]);

/** deno.json's tasks that run a tasks/*.ts file. */
function taskEntries(): [string, DenoTask][] {
  return Object.entries(denoTasks()).filter(([name]) => !NOT_TASK_FILES.has(name));
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
  const tasks = taskEntries();
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
  for (const [name] of taskEntries()) {
    const examples = TASK_HELP[name]?.examples ?? [];
    assert.ok(examples.length > 0, `${name} has no examples in lib/cli/help.ts`);
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
  for (const [name] of taskEntries()) {
    const { stdout } = await help(name);
    assert.doesNotMatch(stdout, /default: "/, `${name}: a quoted default`);
    assert.doesNotMatch(stdout, /default: false/, `${name}: a switch's default`);
    assert.doesNotMatch(stdout, /\(default [^:]/, `${name}: a default written another way`);
  }
});

Deno.test("--help lists the environment each task really reads", () => {
  const env = (task: string) => sectionOf(helpFooter(task), "Environment").join("\n");
  // a registry is reached (lib/registry/registry.ts reads GITHUB_ACTOR for its user)
  for (
    const task of ["versions", "zfs-version", "kernel-version", "build", "list-rpms", "cleanup"]
  ) {
    assert.match(env(task), /GITHUB_ACTOR/, task);
  }
  assert.doesNotMatch(env("zfs-tarball-hash"), /GITHUB_ACTOR/);
  for (const task of ["build", "test-build"]) {
    // the source and vcs-ref labels; podman always, never CONTAINER_ENGINE
    assert.match(env(task), /GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_SHA/, task);
    assert.doesNotMatch(env(task), /CONTAINER_ENGINE/, task);
  }
  assert.match(env("build"), /PODMAN_TIMEOUT_MS/);
  for (const task of ["list-rpms", "extract-rpms"]) assert.match(env(task), /CONTAINER_ENGINE/);
});

/** The help text of one option (commander's wrapped lines joined), or undefined. */
function optionHelp(text: string, flag: string): string | undefined {
  const options = /^Options:\n((?: .*\n?)*)/m.exec(text)?.[1] ?? "";
  const lines = options.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^  (?:-\\w, )?${flag}\\b`).test(l));
  if (start < 0) return undefined;
  const parts = [lines[start]!.replace(/^ +\S+(?: <[^>]+>| \[[^\]]+\])?(?:, \S+)? {2,}/, "")];
  for (const line of lines.slice(start + 1)) {
    if (!/^ {4,}\S/.test(line) || /^ +-/.test(line)) break;
    parts.push(line.trim());
  }
  return parts.join(" ").trim();
}

Deno.test("--json, --image and --arch are worded one way in every task's --help", async (t) => {
  const wording = {
    "--json": SHARED_OPTION_HELP.json,
    "--image": SHARED_OPTION_HELP.image,
    "--arch": SHARED_OPTION_HELP.arch,
  };
  // list-rpms/extract-rpms say whose kmods image --image picks; cleanup's --json is its own.
  const own: Record<string, string[]> = {
    "list-rpms": ["--image"],
    "extract-rpms": ["--image"],
    cleanup: ["--json"],
  };
  for (const [name] of taskEntries()) {
    await t.step(name, async () => {
      const top = await help(name);
      const subs = [...top.stdout.matchAll(/^ {2}([a-z]+) \[options\]/gm)].map((m) => m[1]!);
      const texts = subs.length
        ? await Promise.all(subs.map(async (sub) => (await help(name, [sub])).stdout))
        : [top.stdout];
      for (const text of texts) {
        for (const [flag, expected] of Object.entries(wording)) {
          const shown = optionHelp(text, flag);
          if (shown === undefined || own[name]?.includes(flag)) continue;
          assert.equal(shown, expected, `${name} ${flag}`);
        }
        const series = optionHelp(text, "--series");
        if (series !== undefined) assert.equal(series, SHARED_OPTION_HELP.series, name);
        const zfs = optionHelp(text, "--zfs");
        if (zfs !== undefined) assert.ok(zfs.startsWith(SHARED_OPTION_HELP.zfs), `${name}: ${zfs}`);
        if (own[name]?.includes("--image") && optionHelp(text, "--image")) {
          assert.match(
            optionHelp(text, "--image")!,
            /^target image .*\(default: the first enabled target in matrix\.yaml\)$/,
          );
        }
      }
    });
  }
});

Deno.test("matrix show, check and add have their own Examples and Exit codes, no help command", async (t) => {
  const top = await help("matrix");
  assert.doesNotMatch(top.stdout, /help \[command\]/);
  for (const sub of ["show", "check", "add"]) {
    await t.step(sub, async () => {
      const { code, stdout } = await help("matrix", [sub]);
      assert.equal(code, 0);
      const examples = sectionOf(stdout, "Examples");
      assert.ok(examples.length > 0, stdout);
      assert.ok(
        examples.every((e) => e.startsWith(`deno task matrix ${sub}`)),
        examples.join("\n"),
      );
      assert.deepEqual(examples, SUBCOMMAND_HELP[`matrix ${sub}`]!.examples);
      const codes = sectionOf(stdout, "Exit codes").map((l) => l.slice(0, 1));
      // matrix show reads only matrix.yaml: it cannot fail but on bad input
      assert.deepEqual(codes, sub === "show" ? ["0", "2"] : ["0", "1", "2"]);
      for (const example of examples) {
        for (const flag of example.split(" ").filter((w) => w.startsWith("--"))) {
          assert.ok(flagsOf(stdout).has(flag), `${example}: ${flag}`);
        }
      }
    });
  }
});

Deno.test("each task's exit 1 says what it means for that task", () => {
  const meanings = new Set<string>();
  for (const name of Object.keys(TASK_HELP)) {
    const one = sectionOf(helpFooter(name), "Exit codes").find((l) => l.startsWith("1 "));
    assert.ok(one, `${name} lists exit 1`);
    meanings.add(one);
  }
  assert.match(
    sectionOf(helpFooter("check-compatibility"), "Exit codes").join("\n"),
    /^1 +the release does not support the kernel/m,
  );
  assert.match(
    sectionOf(helpFooter("zfs-tarball-hash"), "Exit codes").join("\n"),
    /sha256 differs from the one matrix\.yaml pins/,
  );
  assert.ok(meanings.size > 5, "not one generic line for every task");
});

Deno.test("docs/tasks.md uses exactly the descriptions deno task shows, for every task", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/tasks.md`);
  const documented = new Map(
    [...doc.matchAll(/^### `([a-z-]+)`\n\n(.+(?:\n.+)*)\n/gm)].map((
      m,
    ) => [m[1]!, m[2]!.replaceAll("\n", " ")]),
  );
  const tasks = denoTasks();
  for (const [name, task] of Object.entries(tasks)) {
    assert.equal(documented.get(name), task.description, `docs/tasks.md on ${name}`);
  }
  assert.deepEqual([...documented.keys()].sort(), Object.keys(tasks).sort());
});
