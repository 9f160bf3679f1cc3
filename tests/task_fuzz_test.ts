// Property test: every task in tasks/, driven with generated hostile arguments and settings,
// ends with exit 0, 1 or 2 and a one-line message: never a stack trace or "unexpected failure".
// The tasks and their flags are read from each task's own --help, so a new task or flag is
// covered without touching this file. Every remote endpoint points at a closed loopback port,
// so a run that gets past its input checks fails fast instead of waiting on the network.
// FUZZ_RUNS raises the number of generated runs (default 40).
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import fc from "fast-check";
import { spawnTask, type TaskResult } from "./helpers/run_task.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? "40");
/** A task that has not finished by then counts as hung. */
const HANG_MS = 60_000;

interface Flag {
  name: string;
  /** the value's placeholder in --help (`ref` of `--image <ref>`), undefined for a switch */
  placeholder?: string;
}

interface TaskShape {
  file: string;
  /** the subcommand (matrix add / matrix check), if any */
  command?: string;
  flags: Flag[];
  /** placeholders of the positional arguments, e.g. retention-days */
  positionals: string[];
}

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function run(args: string[], env: Record<string, string>, cwd: string): Promise<TaskResult> {
  // args[0] is ${ROOT}tasks/<file>: it runs through deno.json's command line for that task.
  const [script, ...rest] = args;
  return spawnTask(script!.slice(`${ROOT}tasks/`.length), rest, {
    cwd,
    env,
    clearEnv: true,
    signal: AbortSignal.timeout(HANG_MS),
  });
}

/** Flags, positional arguments and subcommands as commander prints them in --help. */
function parseHelp(text: string): { flags: Flag[]; positionals: string[]; commands: string[] } {
  const flags: Flag[] = [];
  const commands: string[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    if (/^[A-Z][a-z]+:/.test(line)) section = line.split(":")[0]!;
    const option = /^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)(?: [<[]([^>\]]+)[>\]])?/.exec(line);
    if (section === "Options" && option && option[1] !== "--help") {
      flags.push({ name: option[1]!, placeholder: option[2] });
    }
    const command = /^\s+([a-z][a-z-]*)\b/.exec(line);
    if (section === "Commands" && command && command[1] !== "help") commands.push(command[1]!);
  }
  const usage = /^Usage: .*$/m.exec(text)?.[0] ?? "";
  const positionals = [...usage.matchAll(/ <([^>]+)>/g)].map((m) => m[1]!);
  return { flags, positionals, commands };
}

async function taskShapes(env: Record<string, string>, cwd: string): Promise<TaskShape[]> {
  const files = [...Deno.readDirSync(`${ROOT}tasks`)]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => e.name)
    .sort();
  const shapes: TaskShape[] = [];
  for (const file of files) {
    const help = await run([`${ROOT}tasks/${file}`, "--help"], env, cwd);
    assert.equal(help.code, 0, `${file} --help: ${help.stderr}`);
    const parsed = parseHelp(help.stdout);
    if (parsed.commands.length === 0) {
      shapes.push({ file, flags: parsed.flags, positionals: parsed.positionals });
    }
    for (const command of parsed.commands) {
      const sub = await run([`${ROOT}tasks/${file}`, command, "--help"], env, cwd);
      assert.equal(sub.code, 0, `${file} ${command} --help: ${sub.stderr}`);
      const p = parseHelp(sub.stdout);
      shapes.push({ file, command, flags: p.flags, positionals: p.positionals });
    }
  }
  return shapes;
}

// Values an attacker or an unlucky user would pass, by the kind of value a flag takes (read
// from its placeholder), so a generated run often hits the check that matters for that flag.
const POOLS: [RegExp, string[]][] = [
  [/ref|image|repo|target|cache/, [
    "localhost:99999/x:y",
    "127.0.0.1:0/x:y",
    "UPPER/case:tag",
    "quay.io/x@sha512:abc",
    "quay.io/x:y$(id)",
    "quay.io/" + "a".repeat(100_000) + ":y",
    "quay.io/../x:y",
    "[::1]:5000/x:y",
    "-owner/repo",
    "owner/repo/../../x",
  ]],
  [/days|versions|limit|walk|^n$/, [
    "-1",
    "0",
    "1e99",
    "NaN",
    "1.5",
    "99999999999999999999999",
    "200000000",
    "9".repeat(100_000),
  ]],
  [/dir|path|dest|file|secret|containerfile/, [
    "",
    " ",
    "/proc/x",
    "/dev/zero",
    "/dev/null/x",
    "../../../etc/passwd",
    "/",
    "-",
  ]],
  [/tag|zfs|series|kernel|version|arch|ref|mode/, [
    "zfs-2.4.2",
    "2.4.2",
    "zfs-99.99.99",
    "2.4",
    "6.17",
    "7.0.1-100.fc44.x86_64",
    "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64",
    "zfs-2.4.2_kernel-`id`",
    "x86_64",
    "amd64",
    "main",
    "-main",
    "bogus",
  ]],
];

const GENERAL = [
  ...POOLS.flatMap(([, values]) => values),
  "--",
  "\x1b[31mred\x1b[0m",
  "![x](https://evil.example/x.png)",
  "sha256:" + "0".repeat(64),
  "ünïcödé",
];

function valueFor(placeholder = ""): fc.Arbitrary<string> {
  const pool = POOLS.find(([pattern]) => pattern.test(placeholder))?.[1];
  return fc.oneof(
    { weight: pool ? 6 : 0, arbitrary: fc.constantFrom(...(pool ?? ["x"])) },
    { weight: 2, arbitrary: fc.constantFrom(...GENERAL) },
    // NUL cannot be passed in an argument at all; anything else can.
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replaceAll("\0", "")) },
  );
}

/** Environment settings and the hostile values each is tried with ("DIR" is the temp folder). */
const ENV_SETTINGS: Record<string, string[]> = {
  HTTP_TIMEOUT_MS: ["abc", "-5", "1e99", "0"],
  HTTP_RETRIES: ["abc", "-1", "99999999999"],
  HTTP_BACKOFF_MS: ["abc", "1e99"],
  PODMAN_TIMEOUT_MS: ["abc", "0", "1e99"],
  MATRIX_FILE: ["/dev/zero", "DIR", "DIR/bomb.yaml", "DIR/missing.yaml", "/proc/self/mem"],
  GITHUB_API_URL: ["file:///etc/passwd", "not a url", "http://127.0.0.1:99999"],
  FCOS_BUILDS_URL: ["file:///etc/passwd", "ftp://x"],
  ZFS_SOURCE_URL: ["file:///etc/passwd", "not a url"],
  GITHUB_OUTPUT: ["/proc/x", "DIR", "/dev/full"],
  GITHUB_STEP_SUMMARY: ["/proc/x", "DIR"],
  BUILD_ISOLATION: ["bogus", ""],
};

Deno.test({
  name: "every task, given hostile arguments, exits 0, 1 or 2 with no stack trace",
  // Spawns many processes: never alongside the rest of a --parallel run's heavy tests.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "fuzz-" });
    try {
      const port = closedPort();
      const closed = `http://127.0.0.1:${port}`;
      // matrix.yaml with every image pointing at the closed port.
      const matrix = (await Deno.readTextFile(`${ROOT}matrix.yaml`))
        .replace(/\b(?:quay\.io|ghcr\.io)\//g, `127.0.0.1:${port}/`);
      await Deno.writeTextFile(`${dir}/matrix.yaml`, matrix);
      const bomb = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
      for (let i = 1; i < 9; i++) bomb.push(`a${i}: &a${i} [${`*a${i - 1},`.repeat(10)}]`);
      await Deno.writeTextFile(`${dir}/bomb.yaml`, bomb.join("\n") + "\n");
      const base: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: dir,
        DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
        NO_COLOR: "1",
        INIT_CWD: dir,
        MATRIX_FILE: `${dir}/matrix.yaml`,
        GITHUB_API_URL: closed,
        FCOS_BUILDS_URL: closed,
        ZFS_SOURCE_URL: closed,
        GH_HOST: `127.0.0.1:${port}`,
        GH_TOKEN: "test",
        GH_ENTERPRISE_TOKEN: "test",
        GH_REPO: "owner/repo",
        HTTP_TIMEOUT_MS: "2000",
        HTTP_RETRIES: "0",
        HTTP_BACKOFF_MS: "0",
        PODMAN_TIMEOUT_MS: "5000",
      };
      const shapes = await taskShapes(base, dir);
      assert.ok(shapes.length >= 15, `only ${shapes.length} tasks found`);

      const argsOf = (shape: TaskShape) =>
        fc.tuple(
          (fc.tuple(...shape.positionals.map((p) => valueFor(p)), valueFor()) as fc.Arbitrary<
            string[]
          >).chain((values) => fc.nat(values.length).map((n) => values.slice(0, n))),
          fc.array(
            fc.constantFrom(...shape.flags, { name: "--nope" }).chain((flag) =>
              flag.placeholder === undefined
                ? fc.constant<string[]>([flag.name])
                : valueFor(flag.placeholder).map((v) => [flag.name, v])
            ),
            { maxLength: 4 },
          ),
        ).map(([positionals, flags]) => [
          ...(shape.command ? [shape.command] : []),
          ...positionals,
          ...flags.flat(),
        ]);
      const envOverride = fc.option(
        fc.constantFrom(...Object.keys(ENV_SETTINGS)).chain((name) =>
          fc.constantFrom(...ENV_SETTINGS[name]!).map((v) => [name, v.replace("DIR", dir)] as const)
        ),
        { freq: 2 },
      );
      const task = fc.constantFrom(...shapes).chain((shape) =>
        fc.tuple(fc.constant(shape), argsOf(shape), envOverride)
      );

      await fc.assert(
        fc.asyncProperty(task, async ([shape, args, override]) => {
          const env = { ...base };
          if (override) env[override[0]] = override[1];
          const result = await run([`${ROOT}tasks/${shape.file}`, ...args], env, dir);
          const where = `${shape.file} ${JSON.stringify(args).slice(0, 300)} ${
            JSON.stringify(override)?.slice(0, 100)
          }`;
          const both = `${result.stdout}\n${result.stderr}`;
          assert.ok([0, 1, 2].includes(result.code), `exit ${result.code}: ${where}\n${both}`);
          assert.doesNotMatch(both, /unexpected failure/, where);
          assert.doesNotMatch(both, /^\s+at .*:\d+:\d+\)?$/m, `stack trace: ${where}\n${both}`);
          assert.doesNotMatch(both, /Uncaught|panicked/, where);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      // The matrix file may only change through `matrix add`, which cannot download here.
      assert.equal(await Deno.readTextFile(`${dir}/matrix.yaml`), matrix);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
