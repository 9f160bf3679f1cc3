import assert from "node:assert/strict";
import { parseMatrix } from "../lib/matrix/matrix_schema.ts";
import { OUTPUTS } from "../tasks/matrix.ts";
import { runTaskFile } from "./helpers/run_task.ts";
import { json, withServer } from "./helpers/server.ts";
import { gitArchiveTarball, gnuTar, insertedLines, metaText } from "./helpers/zfs_tarballs.ts";

// A fixed copy (with unpinned entries): the repository's matrix.yaml changes over time.
const original = await Deno.readTextFile(new URL("./fixtures/matrix_edit.yaml", import.meta.url));

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const source = (tag: string, max: string | null = "7.3") =>
  gitArchiveTarball(tag, {
    META: metaText(tag.slice(4), max),
    "module/zfs/spa.c": "x\n".repeat(9000),
  });

// What the mirror at ZFS_SOURCE_URL serves; tests swap entries to change what a tag answers.
const tarballs = new Map<string, Uint8Array<ArrayBuffer>>([
  ["zfs-2.4.9", await source("zfs-2.4.9")],
  ["zfs-2.4.4", await source("zfs-2.4.4", "7.2")],
  ["zfs-2.4.8", await gitArchiveTarball("zfs-2.4.8", { "README.md": "no META\n" })],
  ["zfs-2.4.7", await source("zfs-2.4.7", "seven")],
  // GNU tar instead of git archive: no pax global header, same layout
  ["zfs-2.4.5", await gzip(await gnuTar({ "zfs-zfs-2.4.5/META": metaText("2.4.5", "7.3") }))],
]);
const full = await source("zfs-2.4.6");
tarballs.set("zfs-2.4.6", full.slice(0, Math.floor(full.length * 0.6)));

function mirror(request: Request): Response {
  const match = /^\/(zfs-[\d.]+)\.tar\.gz$/.exec(new URL(request.url).pathname);
  const body = match && tarballs.get(match[1]!);
  return body ? new Response(body) : new Response("Not Found", { status: 404 });
}

/** Runs `matrix …` against a temporary copy of matrix.yaml; returns the result and the file. */
async function matrixTask(args: string[], env: Record<string, string>, file: string) {
  const result = await runTaskFile("matrix.ts", args, { MATRIX_FILE: file, ...env });
  return { ...result, text: await Deno.readTextFile(file) };
}

async function withMatrixCopy(fn: (file: string) => Promise<void>, text = original) {
  const dir = await Deno.makeTempDir({ prefix: "matrix-" });
  try {
    await Deno.writeTextFile(`${dir}/matrix.yaml`, text);
    await fn(`${dir}/matrix.yaml`);
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(leftovers, ["matrix.yaml"], "no temporary file left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("matrix add writes only the new entry's lines, from the tarball's own META and hash", async (t) => {
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      const env = { ZFS_SOURCE_URL: server.url };
      const sha256 = await sha256Hex(tarballs.get("zfs-2.4.9")!);
      await t.step("add a new release", async () => {
        const result = await matrixTask(["add", "zfs-2.4.9"], env, file);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^Added zfs-2\.4\.9 to .*max kernel 7\.3, min kernel 4\.18/);
        assert.deepEqual(insertedLines(original, result.text), [
          "    - tag: zfs-2.4.9",
          '      max-kernel: "7.3"',
          '      min-kernel: "4.18"',
          `      sha256: ${sha256}`,
        ]);
        const release = parseMatrix(result.text).zfs.releases.at(-1);
        assert.deepEqual(release, {
          tag: "zfs-2.4.9",
          "max-kernel": "7.3",
          "min-kernel": "4.18",
          sha256,
        });
      });
      const afterAdd = await Deno.readTextFile(file);
      await t.step("the same again: the file stays byte-identical", async () => {
        const result = await matrixTask(["add", "zfs-2.4.9"], env, file);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /already in .* with the same values/);
        assert.equal(result.text, afterAdd);
      });
      await t.step("the bare version 2.4.9 is the same release", async () => {
        const result = await matrixTask(["add", "2.4.9"], env, file);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /already in .* with the same values/);
        assert.equal(result.text, afterAdd);
      });
      await t.step("different values: refused with the difference, nothing written", async () => {
        tarballs.set("zfs-2.4.9", await source("zfs-2.4.9", "7.4"));
        const result = await matrixTask(["add", "zfs-2.4.9"], env, file);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /already in .* with different values/);
        assert.match(result.stderr, /max-kernel: "7\.3" → "7\.4"/);
        assert.match(result.stderr, /--force/);
        assert.equal(result.text, afterAdd);
      });
      await t.step("--force replaces the values", async () => {
        const result = await matrixTask(["add", "zfs-2.4.9", "--force", "--json"], env, file);
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout);
        assert.equal(report.change, "replaced");
        assert.equal(report["max-kernel"], "7.4");
        assert.equal(report.sha256, await sha256Hex(tarballs.get("zfs-2.4.9")!));
        const release = parseMatrix(result.text).zfs.releases.at(-1);
        assert.equal(release?.["max-kernel"], "7.4");
        assert.equal(release?.sha256, report.sha256);
        assert.equal(result.text.split("\n").length, afterAdd.split("\n").length);
      });
    }));
});

Deno.test("matrix add pins the hash of an entry that has none", async () => {
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      const result = await matrixTask(["add", "zfs-2.4.4"], { ZFS_SOURCE_URL: server.url }, file);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(insertedLines(original, result.text), [
        '      min-kernel: "4.18"',
        `      sha256: ${await sha256Hex(tarballs.get("zfs-2.4.4")!)}`,
      ]);
    }));
});

Deno.test("matrix add --sha256 checks the download against a hash from elsewhere", async (t) => {
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      const env = { ZFS_SOURCE_URL: server.url };
      const actual = await sha256Hex(tarballs.get("zfs-2.4.5")!);
      await t.step("mismatch: exit 1, nothing written", async () => {
        const result = await matrixTask(
          ["add", "zfs-2.4.5", "--sha256", "0".repeat(64)],
          env,
          file,
        );
        assert.equal(result.code, 1);
        assert.match(result.stderr, new RegExp(`sha256 mismatch .*downloaded ${actual}`));
        assert.equal(result.text, original);
      });
      await t.step("match (any case): written", async () => {
        const result = await matrixTask(
          ["add", "zfs-2.4.5", "--sha256", actual.toUpperCase()],
          env,
          file,
        );
        assert.equal(result.code, 0, result.stderr);
        assert.ok(result.text.includes(`sha256: ${actual}`));
      });
    }));
});

Deno.test("matrix add refuses bad input and broken tarballs without touching matrix.yaml", async (t) => {
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      const env = { ZFS_SOURCE_URL: server.url };
      const cases: [string, string[], number, RegExp][] = [
        ["a tag that is not zfs-N.N.N", ["add", "zfs-2.4"], 2, /Invalid ZFS release tag/],
        ["a tag with shell characters", ["add", "zfs-2.4.9$(id)"], 2, /Invalid ZFS release tag/],
        ["a bad --sha256", ["add", "zfs-2.4.9", "--sha256", "xyz"], 2, /Invalid sha256/],
        [
          "a tarball that is not there",
          ["add", "zfs-2.4.3"],
          1,
          new RegExp(`${server.url}/zfs-2\\.4\\.3\\.tar\\.gz \\(HTTP 404\\)`),
        ],
        ["no META", ["add", "zfs-2.4.8"], 1, /No META file at the top of .*zfs-2\.4\.8\.tar\.gz/],
        ["a malformed Linux-Maximum", ["add", "zfs-2.4.7"], 1, /Linux-Maximum is "seven"/],
        ["a truncated tarball", ["add", "zfs-2.4.6"], 1, /Not a complete gzip tar archive/],
      ];
      for (const [name, args, code, message] of cases) {
        await t.step(name, async () => {
          const before = server.requests.length;
          const result = await matrixTask(args, env, file);
          assert.equal(result.code, code, result.stderr);
          assert.match(result.stderr, message);
          assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
          assert.equal(result.text, original);
          if (code === 2) assert.equal(server.requests.length, before, "nothing downloaded");
        });
      }
    }));
});

Deno.test("matrix add refuses to download when matrix.yaml is invalid", async () => {
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      const result = await matrixTask(["add", "zfs-2.4.9"], { ZFS_SOURCE_URL: server.url }, file);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /Cannot parse .*matrix\.yaml:\d+/);
      assert.equal(server.requests.length, 0);
    }, original.replace('max-kernel: "6.12"', 'max-kernel: "six"')));
});

// GitHub's releases list, newest first, in two pages joined by a Link header.
const releases = [
  { tag_name: "zfs-2.4.10", draft: false, prerelease: false },
  { tag_name: "zfs-2.5.0-rc1", draft: false, prerelease: true },
  { tag_name: "zfs-2.4.6", draft: true, prerelease: false },
  { tag_name: "zfs-2.3.10", draft: false, prerelease: false },
  { tag_name: "zfs-2.4.5", draft: false, prerelease: false },
  { tag_name: "zfs-2.4.4", draft: false, prerelease: false },
  { tag_name: "zfs-2.4.3", draft: false, prerelease: false },
].map((r) => ({ ...r, published_at: "2026-11-01T00:00:00Z", assets: [] }));

function github(request: Request, server: { url: string }): Response {
  const url = new URL(request.url);
  if (url.pathname !== "/repos/openzfs/zfs/releases") return json({}, { status: 404 });
  if (url.searchParams.get("page") === "2") return json(releases.slice(4));
  return json(releases.slice(0, 4), {
    headers: { link: `<${server.url}/repos/openzfs/zfs/releases?per_page=100&page=2>; rel="next"` },
  });
}

Deno.test("matrix check lists missing releases of the tracked series and unpinned entries", async (t) => {
  await withServer(github, (server) =>
    withMatrixCopy(async (file) => {
      const env = { GITHUB_API_URL: server.url };
      const unpinned = [
        "zfs-2.2.9",
        "zfs-2.2.10",
        "zfs-2.2.11",
        "zfs-2.3.6",
        "zfs-2.3.7",
        "zfs-2.3.8",
        "zfs-2.3.9",
        "zfs-2.4.3",
        "zfs-2.4.4",
      ];
      await t.step("--json", async () => {
        const result = await matrixTask(["check", "--json"], env, file);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout), {
          series: ["2.4"],
          missing: ["zfs-2.4.5", "zfs-2.4.10"],
          unpinned,
        });
        assert.equal(server.requests.filter((r) => r.path.includes("page=2")).length, 1);
      });
      await t.step("--github-output", async () => {
        const dir = await Deno.makeTempDir();
        try {
          const output = `${dir}/output`;
          const summary = `${dir}/summary`;
          const result = await matrixTask(["check", "--github-output"], {
            ...env,
            GITHUB_OUTPUT: output,
            GITHUB_STEP_SUMMARY: summary,
          }, file);
          assert.equal(result.code, 0, result.stderr);
          const lines = (await Deno.readTextFile(output)).trim().split("\n");
          assert.deepEqual(lines, [
            'missing=["zfs-2.4.5","zfs-2.4.10"]',
            "missing-count=2",
            `unpinned=${JSON.stringify(unpinned)}`,
          ]);
          assert.deepEqual(lines.map((l) => l.split("=")[0]), [...OUTPUTS]);
          assert.match(
            await Deno.readTextFile(summary),
            /\| zfs-2\.4\.5 \| missing from matrix\.yaml \|/,
          );
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
      await t.step("for people", async () => {
        const result = await matrixTask(["check"], env, file);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /matrix\.yaml is valid: 20 releases, tracked series 2\.4/);
        assert.match(result.stdout, /Missing \(published on GitHub\): zfs-2\.4\.5, zfs-2\.4\.10/);
        assert.match(result.stdout, /deno task matrix add <tag>/);
      });
    }));
});

Deno.test("matrix check: exit 2 for an invalid matrix.yaml, exit 1 when GitHub fails", async (t) => {
  await t.step("invalid matrix.yaml", async () => {
    await withServer(github, (server) =>
      withMatrixCopy(async (file) => {
        const result = await matrixTask(["check"], { GITHUB_API_URL: server.url }, file);
        assert.equal(result.code, 2);
        assert.match(result.stderr, /Cannot parse .*duplicate release zfs-2\.4\.2/);
        assert.equal(server.requests.length, 0);
      }, original.replace("    - tag: zfs-2.4.3", "    - tag: zfs-2.4.2")));
  });
  await t.step("GitHub answers 500", async () => {
    await withServer(
      () => json({ message: "boom" }, { status: 500 }),
      (server) =>
        withMatrixCopy(async (file) => {
          const result = await matrixTask(["check"], { GITHUB_API_URL: server.url }, file);
          assert.equal(result.code, 1);
          assert.match(result.stderr, /repos\/openzfs\/zfs\/releases\?per_page=100 \(HTTP 500\)/);
        }),
    );
  });
});

// A mirror that holds every answer until `count` downloads are waiting, then answers them all:
// the runs then edit matrix.yaml at the same moment, the case a lost update needs.
function barrierMirror(count: number) {
  let waiting: (() => void)[] = [];
  return async (request: Request): Promise<Response> => {
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length >= count) {
        for (const release of waiting) release();
        waiting = [];
      }
    });
    return mirror(request);
  };
}

Deno.test("matrix add: concurrent runs all land (matrix.yaml is locked for the edit)", async () => {
  tarballs.set("zfs-2.4.9", await source("zfs-2.4.9"));
  tarballs.set("zfs-2.4.10", await source("zfs-2.4.10"));
  tarballs.set("zfs-2.3.10", await source("zfs-2.3.10"));
  const tags = ["zfs-2.4.9", "zfs-2.4.10", "zfs-2.3.10"];
  await withServer(barrierMirror(tags.length), (server) =>
    withMatrixCopy(async (file) => {
      const env = { ZFS_SOURCE_URL: server.url, MATRIX_FILE: file };
      const results = await Promise.all(
        tags.map((tag) => runTaskFile("matrix.ts", ["add", tag], env)),
      );
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      const known = parseMatrix(await Deno.readTextFile(file)).zfs.releases.map((r) => r.tag);
      for (const tag of tags) assert.ok(known.includes(tag), `${tag} was lost`);
    }));
});

Deno.test("matrix add through a symlinked MATRIX_FILE writes the target and keeps its mode", async () => {
  await withServer(mirror, async (server) => {
    const dir = await Deno.makeTempDir({ prefix: "matrix-link-" });
    try {
      const target = `${dir}/real.yaml`;
      const link = `${dir}/matrix.yaml`;
      await Deno.writeTextFile(target, original);
      await Deno.chmod(target, 0o640);
      await Deno.symlink(target, link);
      const result = await matrixTask(["add", "zfs-2.4.9"], { ZFS_SOURCE_URL: server.url }, link);
      assert.equal(result.code, 0, result.stderr);
      assert.ok((await Deno.lstat(link)).isSymlink, "the link is still a link");
      assert.equal(await Deno.readLink(link), target);
      assert.match(await Deno.readTextFile(target), /- tag: zfs-2\.4\.9\n/);
      assert.equal((await Deno.stat(target)).mode! & 0o777, 0o640);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "matrix.yaml",
        "real.yaml",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("matrix add refuses a META that is not OpenZFS's or has no Version", async (t) => {
  const withMeta = (tag: string, meta: string) =>
    gitArchiveTarball(tag, { META: meta, "module/zfs/spa.c": "x\n" });
  tarballs.set(
    "zfs-2.4.11",
    await withMeta("zfs-2.4.11", metaText("2.4.11").replace("zfs", "spl")),
  );
  tarballs.set(
    "zfs-2.4.12",
    await withMeta("zfs-2.4.12", metaText("2.4.12").replace(/^Version:.*\n/m, "")),
  );
  await withServer(mirror, (server) =>
    withMatrixCopy(async (file) => {
      for (
        const [tag, message] of [
          ["zfs-2.4.11", /META in .* says Name "spl", not "zfs"/],
          ["zfs-2.4.12", /META in .* has no Version/],
        ] as const
      ) {
        await t.step(tag, async () => {
          const result = await matrixTask(["add", tag], { ZFS_SOURCE_URL: server.url }, file);
          assert.equal(result.code, 1, result.stderr);
          assert.match(result.stderr, message);
          assert.equal(result.stderr.match(/^error:/gm)?.length, 1, result.stderr);
          assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
          assert.equal(result.text, original);
        });
      }
    }));
});

Deno.test("a MATRIX_FILE that is not a sane matrix file is refused at once (exit 2)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "matrix-bad-" });
  try {
    const bomb = `${dir}/bomb.yaml`;
    const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${`*a${i - 1},`.repeat(10)}]`);
    await Deno.writeTextFile(bomb, lines.join("\n") + "\n");
    const huge = `${dir}/huge.yaml`;
    await Deno.writeTextFile(huge, `# ${"x".repeat(2 * 1024 * 1024)}\n${original}`);
    const cases: [string, string, RegExp][] = [
      ["/dev/zero", "/dev/zero", /Cannot read \/dev\/zero: not a regular file/],
      ["a folder", dir, /not a regular file/],
      ["a YAML alias bomb", bomb, /Cannot parse .*bomb\.yaml: Excessive alias count/],
      ["a 2 MiB file", huge, /more than the 1048576 a matrix file may have/],
      ["a missing file", `${dir}/none.yaml`, /Cannot read .*none\.yaml/],
    ];
    for (const [name, file, message] of cases) {
      await t.step(name, async () => {
        const result = await runTaskFile("matrix.ts", ["check"], {
          MATRIX_FILE: file,
          GITHUB_API_URL: "http://127.0.0.1:9",
        });
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("matrix show lists every release with its kernel range and pin, without the network", async (t) => {
  // The fixture has releases without sha256 (2.2.9) and without min-kernel; no GitHub at :9.
  const env = { GITHUB_API_URL: "http://127.0.0.1:9", ZFS_SOURCE_URL: "http://127.0.0.1:9" };
  const expected = parseMatrix(original);
  await withMatrixCopy(async (file) => {
    await t.step("a table, oldest first, the tracked series marked", async () => {
      const result = await matrixTask(["show"], env, file);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      const lines = result.stdout.trimEnd().split("\n");
      // the header counts the tracked series' releases, the other series apart
      const tracked = expected.zfs.releases.filter((r) => r.tag.startsWith("zfs-2.4."));
      const others = expected.zfs.releases.length - tracked.length;
      assert.ok(others > 0 && tracked.length > 0, "the fixture has both");
      const pinned = tracked.filter((r) => r.sha256).length;
      assert.equal(
        lines[0],
        `Tracked series 2.4: ${tracked.length} releases, ${pinned} pinned; ` +
          `other series: ${others} releases`,
      );
      assert.match(lines[1]!, /^zfs release\s+min kernel\s+max kernel\s+pinned\s+series$/);
      assert.match(lines[2]!, /^zfs-2\.2\.7\s+-\s+6\.12\s+yes\s+2\.2$/);
      assert.ok(lines.some((l) => /^zfs-2\.2\.9\s+-\s+6\.17\s+no\s+2\.2$/.test(l)), result.stdout);
      assert.ok(lines.some((l) => /^zfs-2\.4\.\d+\s.*\s2\.4 \(tracked\)$/.test(l)), result.stdout);
      assert.equal(lines.length, 2 + expected.zfs.releases.length);
    });
    await t.step("--json: the series and one object per release", async () => {
      const result = await matrixTask(["show", "--json"], env, file);
      assert.equal(result.code, 0, result.stderr);
      const shown = JSON.parse(result.stdout);
      assert.deepEqual(shown.series, ["2.4"]);
      assert.equal(shown.releases.length, expected.zfs.releases.length);
      assert.deepEqual(shown.releases[0], {
        "zfs-tag": "zfs-2.2.7",
        series: "2.2",
        "min-kernel": null,
        "max-kernel": "6.12",
        pinned: true,
        tracked: false,
      });
      const tags = shown.releases.map((r: { "zfs-tag": string }) => r["zfs-tag"]);
      assert.deepEqual(
        tags,
        [...tags].sort((a, b) => {
          const [x, y] = [a, b].map((tag) => tag.slice(4).split(".").map(Number));
          return x![0]! - y![0]! || x![1]! - y![1]! || x![2]! - y![2]!;
        }),
      );
    });
  });
  await t.step("an invalid matrix.yaml: exit 2 with the line", async () => {
    await withMatrixCopy(async (file) => {
      const result = await matrixTask(["show"], env, file);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /matrix\.yaml:\d+: .*max-kernel/);
    }, original.replace('max-kernel: "6.12"', 'max-kernel: "six"'));
  });
});
