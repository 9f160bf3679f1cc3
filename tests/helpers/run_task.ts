// Runs a task the way `deno task <name>` does: deno.json's own command line for it (its
// permissions, --no-prompt and -q included) with the test's arguments and environment, so a
// permission a task lacks fails a test instead of a user's run.

import { fileURLToPath } from "node:url";

export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Characters deno task's shell would interpret; a command line with one is not split here. */
const SHELL_SYNTAX = /[$"'`\\;&|<>(){}*?~#]/;

/** A task of deno.json: the description `deno task` lists and its command line. */
export interface DenoTask {
  description?: string;
  command: string;
}

/** deno.json's tasks by name (a task written as a bare string is its command line). */
export function denoTasks(): Record<string, DenoTask> {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)) as {
    tasks: Record<string, string | DenoTask>;
  };
  return Object.fromEntries(
    Object.entries(config.tasks).map((
      [name, task],
    ) => [name, typeof task === "string" ? { command: task } : task]),
  );
}

/**
 * The arguments after `deno` of deno.json's command line for the task that runs tasks/<file>,
 * with the script as an absolute path (so any cwd works). Permission paths such as
 * `--allow-write=.cache` stay relative, as deno task leaves them: relative to the cwd.
 */
export function taskArgs(file: string): string[] {
  const script = `tasks/${file}`;
  for (const [name, { command }] of Object.entries(denoTasks())) {
    const words = command.trim().split(/\s+/);
    if (!words.includes(script)) continue;
    if (words[0] !== "deno" || SHELL_SYNTAX.test(command)) {
      throw new Error(`deno.json task ${name} is not a plain deno command line: ${command}`);
    }
    return words.slice(1).map((word) => word === script ? `${ROOT}${script}` : word);
  }
  throw new Error(`No deno.json task runs ${script}`);
}

/** deno.json's command line of a task as one shell-free string (for `script -c`). */
export function taskCommandLine(file: string, args: string[] = []): string {
  return [Deno.execPath(), ...taskArgs(file), ...args].join(" ");
}

/**
 * Spawns the task of tasks/<file> through deno.json's command line, from the project folder (as
 * deno task does) unless `options.cwd` says otherwise, with extra environment variables.
 */
export function runTaskFile(
  file: string,
  args: string[],
  env: Record<string, string> = {},
  options: { cwd?: string } = {},
): Promise<TaskResult> {
  return spawnTask(file, args, {
    cwd: options.cwd ?? ROOT,
    env: {
      NO_COLOR: "1",
      HTTP_BACKOFF_MS: "1",
      HTTP_RETRIES: "1",
      GH_TOKEN: "test",
      // Not what a GitHub Actions runner of these tests says: plain `error:` lines, no files.
      GITHUB_ACTIONS: "false",
      GITHUB_OUTPUT: "",
      GITHUB_STEP_SUMMARY: "",
      ...env,
    },
  });
}

/**
 * Spawns the task of tasks/<file> through deno.json's command line with exactly the given
 * options (no default environment; stdin closed unless given): for tests that need a bare or cleared
 * environment, a timeout or another working folder.
 */
export async function spawnTask(
  file: string,
  args: string[],
  options: Pick<Deno.CommandOptions, "cwd" | "env" | "clearEnv" | "signal" | "stdin"> = {},
): Promise<TaskResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    stdin: "null",
    ...options,
    args: [...taskArgs(file), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
