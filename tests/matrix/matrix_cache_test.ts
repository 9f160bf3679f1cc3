// loadMatrix() caches the validated matrix (lib/matrix/matrix.ts): a hit needs byte-identical text and
// the same schema source, and any doubt about the cache file (corrupt, torn, a folder, a FIFO,
// unwritable) falls back to parsing, with every matrix.yaml guarantee kept.
import assert from "node:assert/strict";
import { InputError } from "../../lib/core/errors.ts";
import {
  loadMatrix,
  type Matrix,
  MATRIX_CACHE_SOURCES,
  matrixCacheKey,
  matrixShapeProblem,
} from "../../lib/matrix/matrix.ts";
import { parseMatrix } from "../../lib/matrix/matrix_schema.ts";
import { spawnTask } from "../helpers/run_task.ts";
import { withTimeout } from "../helpers/server.ts";

const MATRIX = await Deno.readTextFile(new URL("../../matrix.yaml", import.meta.url));

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A temporary folder with matrix.yaml (the given text) and an empty cache folder path. */
async function withFolder(
  fn: (paths: { file: string; cache: string; dir: string }) => Promise<void>,
  text = MATRIX,
) {
  const dir = await Deno.makeTempDir({ prefix: "matrix-cache-" });
  try {
    await Deno.writeTextFile(`${dir}/matrix.yaml`, text);
    await fn({ file: `${dir}/matrix.yaml`, cache: `${dir}/cache`, dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A cache file in the format lib/matrix/matrix.ts writes: key, checksum of the body, JSON body. */
async function cacheFile(key: string, body: string): Promise<string> {
  return `${key}\n${await sha256Hex(body)}\n${body}`;
}

Deno.test("matrixCacheKey() hashes the text and every source a parse depends on", async () => {
  const names = MATRIX_CACHE_SOURCES.map((url) => url.pathname.split("/").at(-1));
  assert.deepEqual(names, ["matrix_schema.ts", "patterns.ts", "errors.ts", "deno.lock"]);
  assert.notEqual(await matrixCacheKey(MATRIX), await matrixCacheKey(`${MATRIX}\n`));
  // A rule changed in lib/core/patterns.ts (not in the schema file) is a miss.
  await withFolder(async ({ dir }) => {
    const sources = await Promise.all(MATRIX_CACHE_SOURCES.map(async (url, i) => {
      const copy = new URL(`file://${dir}/source-${i}`);
      await Deno.writeTextFile(copy, await Deno.readTextFile(url));
      return copy;
    }));
    const before = await matrixCacheKey(MATRIX, sources);
    assert.equal(before, await matrixCacheKey(MATRIX));
    const patterns = sources[1]!;
    await Deno.writeTextFile(
      patterns,
      (await Deno.readTextFile(patterns)).replace("export const", "export  const"),
    );
    assert.notEqual(await matrixCacheKey(MATRIX, sources), before);
  });
});

Deno.test("loadMatrix() writes the cache on a miss and reads it on a hit", async () => {
  await withFolder(async ({ file, cache }) => {
    const parsed = parseMatrix(MATRIX, file);
    assert.deepEqual(await loadMatrix(file, cache), parsed);
    const written = await Deno.readTextFile(`${cache}/matrix.json`);
    assert.ok(written.startsWith(`${await matrixCacheKey(MATRIX)}\n`));
    assert.deepEqual([...Deno.readDirSync(cache)].map((e) => e.name), ["matrix.json"]);

    // A hit returns what the cache holds (a parse would not rename the publish image), which
    // proves the parse was skipped; the result equals the parse for an untouched cache.
    assert.deepEqual(await loadMatrix(file, cache), parsed);
    const marked = { ...parsed, publish: { ...parsed.publish, image: "ghcr.io/o/from-cache" } };
    const key = await matrixCacheKey(MATRIX);
    await Deno.writeTextFile(`${cache}/matrix.json`, await cacheFile(key!, JSON.stringify(marked)));
    assert.equal((await loadMatrix(file, cache)).publish.image, "ghcr.io/o/from-cache");

    // One byte more in matrix.yaml: another key, so a parse, and the cache follows the file.
    await Deno.writeTextFile(file, `${MATRIX}\n`);
    assert.deepEqual(await loadMatrix(file, cache), parsed);
    assert.ok(
      (await Deno.readTextFile(`${cache}/matrix.json`))
        .startsWith(`${await matrixCacheKey(`${MATRIX}\n`)}\n`),
    );
  });
});

Deno.test("loadMatrix() parses again whenever the cache file is in doubt, never crashing", async (t) => {
  const key = (await matrixCacheKey(MATRIX))!;
  const body = JSON.stringify(parseMatrix(MATRIX));
  const cases: [string, () => Promise<string>][] = [
    ["random bytes", () => Promise.resolve("\u0000\u00ff garbage")],
    ["empty", () => Promise.resolve("")],
    ["truncated", async () => (await cacheFile(key, body)).slice(0, 200)],
    [
      "the body edited, checksum kept",
      async () => (await cacheFile(key, body)).replace('"series":"2.4"', '"series":"9.9"'),
    ],
    ["another key", () => cacheFile("0".repeat(64), body)],
    ["JSON that does not parse, checksum matching", () => cacheFile(key, "{not json")],
    ["JSON that is not an object", () => cacheFile(key, "42")],
  ];
  for (const [name, content] of cases) {
    await t.step(name, async () => {
      await withFolder(async ({ file, cache }) => {
        await Deno.mkdir(cache);
        await Deno.writeTextFile(`${cache}/matrix.json`, await content());
        assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
        // The parse replaced the bad file with a good one.
        assert.equal(await Deno.readTextFile(`${cache}/matrix.json`), await cacheFile(key, body));
      });
    });
  }
  await t.step("a folder where the cache file goes", async () => {
    await withFolder(async ({ file, cache }) => {
      await Deno.mkdir(`${cache}/matrix.json`, { recursive: true });
      assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
      assert.deepEqual([...Deno.readDirSync(cache)].map((e) => e.name), ["matrix.json"]);
    });
  });
  await t.step("a FIFO where the cache file goes (never blocks)", async () => {
    await withFolder(async ({ file, cache }) => {
      await Deno.mkdir(cache);
      const made = await new Deno.Command("mkfifo", { args: [`${cache}/matrix.json`] }).output();
      assert.ok(made.success, "mkfifo");
      assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
    });
  });
  await t.step("a symlink to a valid cache file elsewhere is not followed", async () => {
    await withFolder(async ({ file, cache, dir }) => {
      await Deno.mkdir(cache);
      const marked = { ...parseMatrix(MATRIX), publish: { image: "ghcr.io/o/x", cache: "x" } };
      await Deno.writeTextFile(`${dir}/elsewhere`, await cacheFile(key, JSON.stringify(marked)));
      await Deno.symlink(`${dir}/elsewhere`, `${cache}/matrix.json`);
      assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
    });
  });
  await t.step("a cache folder that cannot be created (a file is in the way)", async () => {
    await withFolder(async ({ file, cache }) => {
      await Deno.writeTextFile(cache, "in the way");
      assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
      assert.equal(await Deno.readTextFile(cache), "in the way");
    });
  });
});

Deno.test("loadMatrix() never caches an invalid matrix: its errors keep their line numbers", async () => {
  const broken = MATRIX.replace(/max-kernel: "6\.12"/, 'max-kernel: "six"');
  assert.notEqual(broken, MATRIX);
  await withFolder(async ({ file, cache }) => {
    for (let run = 0; run < 2; run++) {
      await assert.rejects(
        loadMatrix(file, cache),
        (error: Error) =>
          error instanceof InputError && /matrix\.yaml:\d+: "zfs\.releases\.\d+\.max-kernel"/
            .test(error.message),
      );
    }
    assert.equal(await Deno.stat(cache).catch(() => undefined), undefined, "nothing cached");
  }, broken);
});

Deno.test("loadMatrix() keeps the file checks on a cache hit (regular file, size cap)", async () => {
  await withFolder(async ({ file, cache, dir }) => {
    await loadMatrix(file, cache); // now cached
    await Deno.remove(file);
    await Deno.mkdir(file);
    await assert.rejects(loadMatrix(file, cache), /not a regular file/);
    await assert.rejects(loadMatrix(`${dir}/none.yaml`, cache), /Cannot read .*none\.yaml/);
  });
});

// Issue 17.9: the cache is checked for the shape parseMatrix() returns (matrixShapeProblem), so
// an edited entry can neither make an invalid matrix.yaml pass nor crash a task.

/** The broken matrix.yaml of these tests, and its data as the YAML says (max-kernel "six"). */
const BROKEN = MATRIX.replace(/max-kernel: "6\.12"/, 'max-kernel: "six"');
function brokenData(): Matrix {
  const data = parseMatrix(MATRIX);
  const release = data.zfs.releases.find((r) => r["max-kernel"] === "6.12")!;
  release["max-kernel"] = "six";
  return data;
}

Deno.test("17.9 loadMatrix() refuses an invalid matrix.yaml whatever a cache entry for it says", async () => {
  assert.notEqual(BROKEN, MATRIX);
  const key = (await matrixCacheKey(BROKEN))!;
  await withFolder(async ({ file, cache }) => {
    await Deno.mkdir(cache);
    await Deno.writeTextFile(
      `${cache}/matrix.json`,
      await cacheFile(key, JSON.stringify(brokenData())),
    );
    await assert.rejects(
      loadMatrix(file, cache),
      (error: Error) =>
        error instanceof InputError &&
        /matrix\.yaml:\d+: "zfs\.releases\.\d+\.max-kernel"/.test(error.message),
    );
  }, BROKEN);
});

Deno.test("17.9 loadMatrix() drops a cache body of the wrong shape and parses, never crashing", async (t) => {
  const key = (await matrixCacheKey(MATRIX))!;
  const good = parseMatrix(MATRIX);
  const target = good.targets[0]!;
  const release = good.zfs.releases[0]!;
  const bodies: [string, unknown][] = [
    ["no targets", { ...good, targets: [] }],
    ["targets not a list", { ...good, targets: "x" }],
    ["a target without enabled", { ...good, targets: [{ ...target, enabled: undefined }] }],
    ["no target enabled", {
      ...good,
      targets: good.targets.map((x) => ({ ...x, enabled: false })),
    }],
    ["a target image that is no reference", { ...good, targets: [{ ...target, image: "a b" }] }],
    ["an unknown arch", { ...good, targets: [{ ...target, arch: "sparc" }] }],
    ["a target without its runner", { ...good, targets: [{ ...target, runner: undefined }] }],
    ["a runner label with a space", { ...good, targets: [{ ...target, runner: "a b" }] }],
    ["runners for an unknown arch", { ...good, runners: { sparc: "ubuntu-24.04" } }],
    ["a runners label with a newline", { ...good, runners: { x86_64: "a\nb" } }],
    ["zfs missing", { targets: good.targets, publish: good.publish }],
    ["a release tag that is no tag", {
      ...good,
      zfs: { ...good.zfs, releases: [{ ...release, tag: "../x" }] },
    }],
    ["a duplicate release", { ...good, zfs: { ...good.zfs, releases: [release, release] } }],
    ["an unknown key", { ...good, extra: 1 }],
    ["publish.image not a string", { ...good, publish: { ...good.publish, image: 5 } }],
    ["null", null],
    ["a list", [good]],
  ];
  for (const [name, body] of bodies) {
    await t.step(name, async () => {
      assert.notEqual(matrixShapeProblem(body), undefined);
      await withFolder(async ({ file, cache }) => {
        await Deno.mkdir(cache);
        await Deno.writeTextFile(
          `${cache}/matrix.json`,
          await cacheFile(key, JSON.stringify(body)),
        );
        assert.deepEqual(await loadMatrix(file, cache), parseMatrix(MATRIX, file));
      });
    });
  }
  assert.equal(matrixShapeProblem(good), undefined);
  assert.equal(
    matrixShapeProblem({ ...good, runners: { aarch64: "ubuntu-24.04-arm" } }),
    undefined,
  );
});

Deno.test("17.9 kernel-version: a forged cache entry is neither a TypeError nor a pass", async (t) => {
  // The project's own .cache/ is what a task reads; entries are keyed by text, so a test's
  // entry disturbs no other test (one that rewrites it meanwhile only makes this a miss).
  const cacheDir = new URL("../../.cache/", import.meta.url);
  const local = MATRIX.replaceAll("quay.io/", "127.0.0.1:9/");
  await withTimeout(120_000, async (signal) => {
    for (
      const [name, text, body, code, pattern] of [
        [
          "a body of the wrong shape",
          local,
          { ...parseMatrix(local), targets: [] },
          1,
          /127\.0\.0\.1:9/,
        ],
        [
          "an entry for an invalid file",
          BROKEN,
          brokenData(),
          2,
          /matrix\.yaml:\d+: "zfs\.releases/,
        ],
      ] as const
    ) {
      await t.step(name, async () => {
        await withFolder(async ({ file }) => {
          await Deno.mkdir(cacheDir, { recursive: true });
          const key = (await matrixCacheKey(text))!;
          await Deno.writeTextFile(
            new URL("matrix.json", cacheDir),
            await cacheFile(key, JSON.stringify(body)),
          );
          const result = await spawnTask("kernel_version.ts", [], {
            cwd: new URL("../..", import.meta.url),
            signal,
            env: {
              PATH: Deno.env.get("PATH") ?? "",
              HOME: Deno.env.get("HOME") ?? "",
              NO_COLOR: "1",
              MATRIX_FILE: file,
              HTTP_RETRIES: "0",
              HTTP_TIMEOUT_MS: "2000",
              FCOS_BUILDS_URL: "http://127.0.0.1:9",
              GITHUB_ACTIONS: "false",
            },
          });
          assert.equal(result.code, code, result.stderr);
          assert.doesNotMatch(result.stderr, /TypeError|unexpected failure|\n\s+at /);
          assert.match(result.stderr, pattern);
          assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        }, text);
      });
    }
  });
});
