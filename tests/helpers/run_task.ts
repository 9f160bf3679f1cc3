// Runs a task the way a user does (`deno run -A tasks/<file>.ts …`) and captures its output.

export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns `deno run -A tasks/<file>` with extra environment variables. */
export async function runTaskFile(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<TaskResult> {
  const root = new URL("../../", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/${file}`, ...args],
    cwd: root,
    env: { NO_COLOR: "1", HTTP_BACKOFF_MS: "1", HTTP_RETRIES: "1", GH_TOKEN: "test", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
