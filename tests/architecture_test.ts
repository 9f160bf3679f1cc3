// The layout rules of docs/architecture.md, checked on the source: every import written in lib/
// and tasks/ (static, `export … from` and `await import()` with a literal path) is resolved to
// a file, and an import that crosses a rule fails here, naming the file and the import.
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Which domains each domain of lib/ may import (its own files are always allowed). The table
 * is the architecture: docs/architecture.md draws exactly these edges.
 */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  cli: ["core"],
  github: ["core"],
  matrix: ["core", "cli", "github"],
  registry: ["core", "github", "matrix"],
  coreos: ["core", "cli", "matrix", "registry"],
  build: ["core", "cli", "github", "matrix", "registry", "coreos"],
  signing: ["core", "github", "registry"],
  cleanup: ["core", "cli", "github"],
};

/** A file's import specifiers: static, re-exports, side-effect and literal dynamic imports. */
function importsOf(source: string): string[] {
  const code = source.split("\n").filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line)).join("\n");
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;
  for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** The domain of a file under lib/ (`lib/<domain>/x.ts`), undefined for anything else. */
function domainOf(path: string): string | undefined {
  const parts = path.split("/");
  return parts[0] === "lib" && parts.length === 3 ? parts[1] : undefined;
}

interface Edge {
  file: string; // relative to the repository
  specifier: string;
  target: string; // relative to the repository, or the bare specifier (npm:, node:, mapped)
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

async function edgesOf(dirs: string[]): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const dir of dirs) {
    for (const file of await filesUnder(dir)) {
      const source = await Deno.readTextFile(join(ROOT, file));
      for (const specifier of importsOf(source)) {
        const target = specifier.startsWith(".")
          ? relative(ROOT, join(ROOT, dirname(file), specifier))
          : specifier;
        edges.push({ file, specifier, target });
      }
    }
  }
  return edges;
}

/** Every rule an import breaks, one line each (empty: the import is allowed). */
function violations(edge: Edge, allowed = ALLOWED): string[] {
  const where = `${edge.file} imports "${edge.specifier}"`;
  const out: string[] = [];
  const relativeImport = edge.specifier.startsWith(".");
  if (relativeImport && edge.target.startsWith("..")) out.push(`${where}: outside the repository`);
  if (edge.file.startsWith("tasks/") && edge.target.startsWith("tests/")) {
    out.push(`${where}: tasks/ never import tests/`);
  }
  if (!edge.file.startsWith("lib/")) return out;
  if (relativeImport && !edge.target.startsWith("lib/")) {
    out.push(`${where}: lib/ imports only lib/ (and packages), never tasks/, tests/ or bench/`);
    return out;
  }
  const from = domainOf(edge.file);
  const to = domainOf(edge.target);
  if (from === undefined || to === undefined || from === to) return out;
  if (!(from in allowed)) out.push(`${where}: lib/${from}/ is not a domain in the table`);
  else if (!allowed[from]!.includes(to)) {
    const may = allowed[from]!.length ? allowed[from]!.join(", ") : "no other domain";
    out.push(`${where}: lib/${from}/ may import ${may}, not lib/${to}/`);
  }
  return out;
}

/** A cycle in a domain graph, as `a → b → a`, or undefined. */
function cycleIn(graph: Record<string, readonly string[]>): string | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") {
      return [...path.slice(path.indexOf(node)), node].join(" → ");
    }
    state.set(node, "open");
    path.push(node);
    for (const next of graph[node] ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of Object.keys(graph)) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

Deno.test("every import in lib/ and tasks/ keeps to the domain rules of docs/architecture.md", async () => {
  const edges = await edgesOf(["lib", "tasks"]);
  assert.ok(edges.length > 100, `only ${edges.length} imports found: the parser broke`);
  const broken = edges.flatMap((edge) => violations(edge));
  assert.deepEqual(broken, [], `imports that cross a rule:\n${broken.join("\n")}`);
});

Deno.test("every file of lib/ is in a domain folder of the table", async () => {
  const files = await filesUnder("lib");
  const stray = files.filter((file) => {
    const domain = domainOf(file);
    return domain === undefined || !(domain in ALLOWED);
  });
  assert.deepEqual(stray, [], "lib/ files outside the domains of tests/architecture_test.ts");
  for (const domain of Object.keys(ALLOWED)) {
    assert.ok(files.some((file) => domainOf(file) === domain), `lib/${domain}/ is empty`);
  }
});

Deno.test("the base domain imports no other domain, lib/registry/ only the base and its two sources", () => {
  assert.deepEqual(ALLOWED.core, []);
  // GitHub for the registry token, matrix.yaml (lazily) for the publish registry that may get it.
  assert.deepEqual([...ALLOWED.registry!].sort(), ["core", "github", "matrix"]);
  for (const [domain, imports] of Object.entries(ALLOWED)) {
    if (domain !== "core") assert.ok(imports.includes("core"), `${domain} may not use the base?`);
  }
});

Deno.test("no cycle between domains: neither in the table nor in the imports", async () => {
  assert.equal(cycleIn(ALLOWED), undefined);
  const actual: Record<string, string[]> = {};
  for (const edge of await edgesOf(["lib"])) {
    const from = domainOf(edge.file);
    const to = domainOf(edge.target);
    if (from && to && from !== to) (actual[from] ??= []).push(to);
  }
  assert.equal(cycleIn(actual), undefined);
  // And the table has no edge nobody uses: it states the architecture, not a wish.
  const unused = Object.entries(ALLOWED).flatMap(([from, tos]) =>
    tos.filter((to) => !actual[from]?.includes(to)).map((to) => `${from} → ${to}`)
  );
  assert.deepEqual(unused, [], "allowed edges no import uses (tighten the table)");
});

Deno.test("the rules see what they must: a bad import of each kind is caught", () => {
  const bad = (file: string, specifier: string) => {
    const target = relative(ROOT, join(ROOT, dirname(file), specifier));
    return violations({ file, specifier, target });
  };
  assert.equal(bad("lib/core/errors.ts", "../registry/registry.ts").length, 1);
  assert.equal(bad("lib/registry/registry.ts", "../build/podman.ts").length, 1);
  assert.equal(bad("lib/build/build.ts", "../../tasks/build.ts").length, 1);
  assert.equal(bad("lib/cli/cli.ts", "../../tests/helpers/server.ts").length, 1);
  assert.equal(bad("tasks/build.ts", "../tests/helpers/server.ts").length, 1);
  assert.deepEqual(bad("lib/build/build.ts", "../coreos/discover.ts"), []);
  assert.deepEqual(bad("tasks/build.ts", "../lib/build/build_run.ts"), []);
  assert.equal(cycleIn({ a: ["b"], b: ["c"], c: ["a"] }), "a → b → c → a");
  assert.deepEqual(
    importsOf(
      'import { a } from "./a.ts";\nexport { b } from "./b.ts";\n// import("./no.ts")\n' +
        'const c = await import("./c.ts");\nimport "./d.ts";\nimport type { E } from "./e.ts";',
    ),
    ["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts"],
  );
});

Deno.test("docs/architecture.md draws exactly the table's edges", async () => {
  const doc = await Deno.readTextFile(join(ROOT, "docs/architecture.md"));
  const block = doc.match(/```mermaid\n([\s\S]*?)```/)?.[1];
  assert.ok(block, "docs/architecture.md has no mermaid diagram");
  const drawn = [...block.matchAll(/^\s*(\w+)\s*-->\s*(\w+)\s*$/gm)].map((m) =>
    `${m[1]} → ${m[2]}`
  );
  const table = Object.entries(ALLOWED).flatMap(([from, tos]) =>
    tos.map((to) => `${from} → ${to}`)
  );
  assert.deepEqual(drawn.sort(), table.sort());
});
