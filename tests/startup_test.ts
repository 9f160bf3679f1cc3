// Start-up stays fast (bench/startup_bench.ts measures it): what a task imports statically is
// what `--help` and a bad flag load, so the heavy modules must be imported only where used.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** lib/ modules a task may import only with `await import()`, and why each is heavy. */
const LAZY = [
  "cleanup_refs.ts",
  "containerfile.ts", // dockerfile-ast
  "discover.ts", // registry, CoreOS, tar
  "forecast.ts",
  "matrix_edit.ts", // yaml
  "matrix_schema.ts", // yaml and zod: loaded only on a matrix cache miss
  "packages.ts", // zod
  "podman.ts",
  "progress.ts",
  "registry.ts", // node:crypto
  "tar.ts", // modern-tar
  "tarball.ts",
];

interface Dependency {
  code?: { specifier?: string };
  isDynamic?: boolean;
}

/** The modules a file loads before its first line runs: its static (not dynamic) imports. */
async function staticImports(file: string): Promise<{ lib: string[]; npm: string[] }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: Dependency[] }[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0) {
    const specifier = queue.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (dependency.isDynamic || !target) continue;
      if (target.startsWith("npm:")) npm.add(/^npm:(@?[^@]+)/.exec(target)![1]!);
      else queue.push(target);
    }
  }
  const lib = [...seen].filter((s) => s.includes("/lib/")).map((s) => s.split("/").pop()!);
  return { lib: lib.sort(), npm: [...npm].sort() };
}

Deno.test("no task imports a heavy module or an npm package but commander before parsing", async (t) => {
  const files = [...Deno.readDirSync(`${ROOT}tasks`)].map((e) => e.name).filter((n) =>
    n.endsWith(".ts")
  ).sort();
  assert.ok(files.length >= 17);
  for (const file of files) {
    await t.step(file, async () => {
      const { lib, npm } = await staticImports(`tasks/${file}`);
      assert.deepEqual(lib.filter((name) => LAZY.includes(name)), [], `${file} imports statically`);
      assert.deepEqual(npm, ["@commander-js/extra-typings"], file);
    });
  }
});

Deno.test("lib/matrix/matrix.ts loads neither yaml nor zod: only a cache miss imports the schema", async () => {
  const { lib, npm } = await staticImports("lib/matrix/matrix.ts");
  assert.deepEqual(npm, []);
  assert.ok(!lib.includes("matrix_schema.ts"));
});
