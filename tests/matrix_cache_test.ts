// loadMatrix() caches the validated matrix (lib/matrix.ts): a hit needs byte-identical text and
// the same schema source, and any doubt about the cache file (corrupt, torn, a folder, a FIFO,
// unwritable) falls back to parsing, with every matrix.yaml guarantee kept.
import assert from "node:assert/strict";
import { InputError } from "../lib/errors.ts";
import { loadMatrix, MATRIX_CACHE_SOURCES, matrixCacheKey } from "../lib/matrix.ts";
import { parseMatrix } from "../lib/matrix_schema.ts";

const MATRIX = await Deno.readTextFile(new URL("../matrix.yaml", import.meta.url));

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

/** A cache file in the format lib/matrix.ts writes: key, checksum of the body, JSON body. */
async function cacheFile(key: string, body: string): Promise<string> {
  return `${key}\n${await sha256Hex(body)}\n${body}`;
}

Deno.test("matrixCacheKey() hashes the text and every source a parse depends on", async () => {
  const names = MATRIX_CACHE_SOURCES.map((url) => url.pathname.split("/").at(-1));
  assert.deepEqual(names, ["matrix_schema.ts", "patterns.ts", "errors.ts", "deno.lock"]);
  assert.notEqual(await matrixCacheKey(MATRIX), await matrixCacheKey(`${MATRIX}\n`));
  // A rule changed in lib/patterns.ts (not in the schema file) is a miss.
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
