// readUserFile: the small files a user names (a key, a plan) are read only when they are regular
// files within their size, as UTF-8; a FIFO is refused before it is opened, so nothing blocks.
import assert from "node:assert/strict";
import { readUserFile } from "../../lib/core/paths.ts";
import { spawnTask } from "../helpers/run_task.ts";
import { integrationTest } from "../helpers/tools.ts";

/** `fn` with a time limit: a read that blocks fails the test instead of holding CI. */
async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still reading after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readUserFile() reads a small UTF-8 file, resolved against INIT_CWD", async () => {
  await withDir(async (dir) => {
    const before = Deno.env.get("INIT_CWD");
    try {
      await Deno.writeTextFile(`${dir}/plan.json`, "[]\n");
      Deno.env.set("INIT_CWD", dir);
      assert.equal(await readUserFile("plan.json", "the plan", 3), "[]\n"); // the cap is allowed
    } finally {
      if (before === undefined) Deno.env.delete("INIT_CWD");
      else Deno.env.set("INIT_CWD", before);
    }
  });
});

Deno.test("readUserFile() refuses what is not a small text file, in one line naming it", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/big`, new Uint8Array(4));
    await Deno.writeFile(`${dir}/latin1`, new Uint8Array([0x63, 0xe9]));
    const cases: [string, RegExp][] = [
      [`${dir}/nowhere`, /^Cannot read --key \S+\/nowhere: no such file$/],
      [dir, /^Cannot read --key \S+: not a regular file$/],
      ["/dev/zero", /^Cannot read --key \/dev\/zero: not a regular file$/],
      [`${dir}/big`, /^Cannot read --key \S+\/big: larger than 3 bytes$/],
      [`${dir}/latin1`, /^Cannot read --key \S+\/latin1: not UTF-8 text$/],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(readUserFile(path, "--key", 3), { name: "InputError", message });
    }
  });
});

integrationTest(
  "a FIFO named as a key or a plan is refused at once, under the tasks' own permissions",
  ["mkfifo"],
  async () => {
    await withDir(async (dir) => {
      const fifo = `${dir}/fifo`;
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.ok(made.success, "mkfifo failed");
      await within(5000, async () => {
        await assert.rejects(readUserFile(fifo, "--key", 64), /: not a regular file$/);
      });
      const runs: [string, string[], RegExp][] = [
        ["verify_image.ts", ["127.0.0.1:1/x@sha256:" + "a".repeat(64), "--key", fifo], /--key/],
        ["tag_release.ts", ["--plan", fifo], /the plan/],
      ];
      for (const [file, args, what] of runs) {
        const result = await spawnTask(file, args, {
          env: { NO_COLOR: "1" },
          signal: AbortSignal.timeout(30_000),
        });
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /^error: Cannot read .* not a regular file$/m);
        assert.match(result.stderr, what);
      }
    });
  },
);
