// A temp folder with stub commands on PATH that record their calls: for running the shell the
// build uses (Containerfile RUN lines, build/*.sh) with sh, without podman or the network.

export interface Sandbox {
  dir: string;
  run(script: string, env?: Record<string, string>, cwd?: string): Promise<{
    code: number;
    output: string;
    calls: string[];
  }>;
}

/** Runs `fn` with stubs in `dir`/bin that append `name args…` to a log, then run `body`. */
export async function sandbox(
  stubs: Record<string, string>,
  fn: (box: Sandbox) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "stub-sandbox-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    for (const [name, body] of Object.entries(stubs)) {
      await Deno.writeTextFile(
        `${dir}/bin/${name}`,
        `#!/bin/sh\necho "${name} $*" >> "$STUB_LOG"\n${body}\n`,
        { mode: 0o755 },
      );
    }
    await fn({
      dir,
      async run(script, env = {}, cwd = dir) {
        const log = `${dir}/calls.log`;
        await Deno.writeTextFile(log, "");
        const result = await new Deno.Command("sh", {
          args: ["-c", script],
          cwd,
          env: { PATH: `${dir}/bin:/usr/bin:/bin`, STUB_LOG: log, ...env },
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        return {
          code: result.code,
          output: decode(result.stdout) + decode(result.stderr),
          calls: (await Deno.readTextFile(log)).split("\n").filter(Boolean),
        };
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
