// Least privilege: every task's deno.json command line names its permissions (no -A), never
// prompts, and agrees with docs/permissions.md; a permission a task lacks is an immediate
// error, even on a terminal.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { denoTasks, taskArgs } from "./helpers/run_task.ts";
import { integrationTest } from "./helpers/tools.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** deno.json's tasks that run a tasks/*.ts file: name → file. */
function taskFiles(): [string, string][] {
  return Object.entries(denoTasks()).flatMap(([name, task]) => {
    const file = /\btasks\/([a-z_]+\.ts)\b/.exec(task.command)?.[1];
    return file ? [[name, file] as [string, string]] : [];
  });
}

/** The permission flags of a task's command line, as written in deno.json. */
function permissionsOf(file: string): string[] {
  return taskArgs(file).filter((arg) => arg.startsWith("--allow-"));
}

Deno.test("every task runs with named permissions, -q and --no-prompt, never -A", () => {
  const tasks = taskFiles();
  assert.ok(tasks.length >= 17, `only ${tasks.length} tasks`);
  for (const [name, file] of tasks) {
    const args = taskArgs(file);
    assert.deepEqual(args.slice(0, 3), ["run", "-q", "--no-prompt"], name);
    for (const arg of args.slice(3, -1)) {
      assert.match(arg, /^--allow-(env|read|net|write|run)(=[a-z0-9_.,-]+)?$/, `${name}: ${arg}`);
    }
    assert.ok(args.at(-1)!.endsWith(`tasks/${file}`), name);
  }
});

Deno.test("docs/permissions.md lists every task with deno.json's permissions", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/permissions.md`);
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z-]+)`\s*\| `([^`]*)`/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const tasks = taskFiles();
  for (const [name, file] of tasks) {
    assert.equal(rows.get(name), permissionsOf(file).join(" "), name);
  }
  assert.deepEqual([...rows.keys()].sort(), tasks.map(([name]) => name).sort());
});

Deno.test("only tasks that write a chosen path or $GITHUB_OUTPUT may write anywhere", () => {
  const writeAnywhere = taskFiles()
    .filter(([, file]) => permissionsOf(file).includes("--allow-write"))
    .map(([name]) => name)
    .sort();
  assert.deepEqual(writeAnywhere, [
    "build",
    "check-container",
    "cleanup",
    "extract-rpms",
    "forecast",
    "matrix",
    "sign-image",
    "signing-keys",
    "tag-release",
    "versions",
  ]);
});

integrationTest(
  "a permission a task lacks fails at once on a terminal, with no prompt to hang on",
  ["script"],
  async () => {
    // check-compatibility without --allow-read, on a pseudo-terminal: Deno would ask there.
    const args = taskArgs("check_compatibility.ts").filter((arg) => arg !== "--allow-read");
    const command = [Deno.execPath(), ...args, "--zfs", "zfs-2.4.2", "--kernel", "6.17"];
    const child = new Deno.Command("script", {
      args: ["-qec", command.join(" "), "/dev/null"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    // The terminal stays open (stdin not closed) until the task ends: a prompt would wait on it.
    const output = await child.output();
    await child.stdin.close();
    const text = new TextDecoder().decode(output.stdout);
    assert.notEqual(output.code, 0, text);
    assert.match(text, /Requires read access/);
    assert.doesNotMatch(text, /Allow\?|\[y\/n/i);
  },
);

Deno.test(
  "under build's --allow-run, Deno.kill is refused and the spawned child's kill() works",
  async () => {
    // lib/build/podman.ts stops podman with ChildProcess.kill() because of this: a scoped --allow-run
    // refuses Deno.kill (it needs all of --allow-run), so a signal to podman's process group
    // would fail, and it once failed silently.
    const allowRun = permissionsOf("build.ts").find((arg) => arg.startsWith("--allow-run="))!;
    assert.match(allowRun, /\bgit\b/);
    const script = [
      // git cat-file --batch waits on its stdin: a child that runs until it is stopped
      'const child = new Deno.Command("git", { args: ["cat-file", "--batch"], stdin: "piped" }).spawn();',
      "let refused = '';",
      "try { Deno.kill(child.pid, 'SIGHUP'); } catch (e) { refused = e.name; }",
      "child.kill('SIGHUP');",
      "const status = await child.status;",
      "console.log(JSON.stringify({ refused, signal: status.signal }));",
    ].join("\n");
    // deno eval would run with every permission: a file, run as the task runs
    const file = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(file, script);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-q", "--no-prompt", allowRun, file],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output().finally(() => Deno.remove(file));
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
      refused: "NotCapable",
      signal: "SIGHUP",
    });
  },
);
