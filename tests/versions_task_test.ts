import assert from "node:assert/strict";
import { RELEASES, releasesHandler } from "./helpers/fcos_fixtures.ts";
import { runTaskFile, type TaskResult } from "./helpers/run_task.ts";
import { json, withServer } from "./helpers/server.ts";

function assertOneLineError(result: TaskResult, code: number, ...parts: (string | RegExp)[]) {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  for (const part of parts) {
    if (typeof part === "string") {
      assert.ok(result.stderr.includes(part), `${part} in ${result.stderr}`);
    } else assert.match(result.stderr, part);
  }
}

Deno.test("a ZFS tag that is not of the strict pattern exits 2 before anything runs", async (t) => {
  for (const file of ["versions.ts", "check_compatibility.ts"]) {
    await t.step(file, async () => {
      // GITHUB_API_URL points nowhere: a look-up would fail with exit 1, not 2.
      const result = await runTaskFile(file, ["--zfs", "zfs-2.x; rm -rf /"], {
        GITHUB_API_URL: "http://127.0.0.1:1",
      });
      assertOneLineError(result, 2, "Invalid ZFS release tag", "zfs-2.x; rm -rf /");
      assert.equal(result.stdout, "");
    });
  }
});

Deno.test("bad --kernel, --arch, --image and --series exit 2", async () => {
  assertOneLineError(await runTaskFile("check_compatibility.ts", ["--kernel", "6.x"]), 2, "kernel");
  assertOneLineError(await runTaskFile("kernel_version.ts", ["--arch", "ppc"]), 2, "arch");
  assertOneLineError(
    await runTaskFile("kernel_version.ts", ["--image", "x:$(id)"]),
    2,
    "image reference",
  );
  assertOneLineError(await runTaskFile("zfs_version.ts", ["--series", "2"]), 2, "ZFS series");
});

Deno.test("check-compatibility exits 0 when the release supports the kernel", async () => {
  const result = await runTaskFile("check_compatibility.ts", [
    "--zfs",
    "zfs-2.4.2",
    "--kernel",
    "6.18",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /zfs-2\.4\.2 supports kernel 6\.18/);
});

Deno.test("check-compatibility exits 1 naming both versions, the max and the newest supporting release", async () => {
  const result = await runTaskFile("check_compatibility.ts", [
    "--zfs",
    "2.4.0",
    "--kernel",
    "6.19.2-200.fc43.x86_64",
  ]);
  assertOneLineError(result, 1, "zfs-2.4.0", "6.19.2-200.fc43.x86_64", "6.18", "zfs-2.4.4");
});

Deno.test("check-compatibility exits 1 for an unknown release and says how to add it", async () => {
  const result = await runTaskFile("check_compatibility.ts", [
    "--zfs",
    "zfs-2.4.99",
    "--kernel",
    "6.1",
  ]);
  assertOneLineError(result, 1, "zfs-2.4.99", "deno task matrix add zfs-2.4.99");
});

Deno.test("check-compatibility --json prints the verdict", async () => {
  const result = await runTaskFile("check_compatibility.ts", [
    "--zfs",
    "zfs-2.3.5",
    "--kernel",
    "6.18",
    "--json",
  ]);
  assert.equal(result.code, 1);
  const verdict = JSON.parse(result.stdout);
  assert.equal(verdict.compatible, false);
  assert.equal(verdict["max-kernel"], "6.17");
  assert.equal(verdict["newest-supporting"], "zfs-2.4.4");
});

Deno.test("a malformed matrix.yaml exits 2 naming the file and the line", async (t) => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    const good = await Deno.readTextFile(new URL("../matrix.yaml", import.meta.url));
    const cases: [string, string, RegExp][] = [
      [
        "a max kernel that is not N.N",
        good.replace('max-kernel: "6.18"', 'max-kernel: "six"'),
        /:\d+: .*max-kernel/,
      ],
      ["a YAML syntax error", good.replace("zfs:\n", "zfs: [\n"), /:\d+: /],
      [
        "a duplicate release",
        good.replace("tag: zfs-2.4.3", "tag: zfs-2.4.2"),
        /:\d+: duplicate release zfs-2\.4\.2/,
      ],
    ];
    for (const [name, text, expected] of cases) {
      await t.step(name, async () => {
        await Deno.writeTextFile(file, text);
        // With a good matrix.yaml these would exit 0 and 1 (unreachable registry).
        const runs = [
          ["check_compatibility.ts", ["--zfs", "zfs-2.4.2", "--kernel", "6.1"]],
          ["versions.ts", ["--zfs", "zfs-2.4.2", "--image", "127.0.0.1:1/x:1"]],
        ] as const;
        for (const [task, args] of runs) {
          const result = await runTaskFile(task, [...args], { MATRIX_FILE: file });
          assertOneLineError(result, 2, file, expected);
        }
      });
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("zfs-version prints just the newest tag of the series, from every page", async () => {
  await withServer(releasesHandler(RELEASES, 3), async (server) => {
    const env = { GITHUB_API_URL: server.url };
    const result = await runTaskFile("zfs_version.ts", [], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "zfs-2.4.4\n");
    const older = await runTaskFile("zfs_version.ts", ["--series", "2.2", "--json"], env);
    assert.deepEqual(JSON.parse(older.stdout), {
      "zfs-tag": "zfs-2.2.11",
      "zfs-version": "2.2.11",
    });
  });
});

Deno.test("zfs-version exits 1 with the URL and status when GitHub keeps failing", async () => {
  await withServer(() => json({ message: "Server Error" }, { status: 503 }), async (server) => {
    const result = await runTaskFile("zfs_version.ts", [], { GITHUB_API_URL: server.url });
    assertOneLineError(result, 1, `${server.url}/repos/openzfs/zfs/releases`, "HTTP 503");
  });
});

Deno.test("kernel-version exits 1 with the URL when the registry is unreachable", async () => {
  const result = await runTaskFile("kernel_version.ts", ["--image", "127.0.0.1:1/fcos:stable"]);
  assertOneLineError(result, 1, "http://127.0.0.1:1/v2/fcos/manifests/stable");
});

Deno.test("every version task has --help", async () => {
  for (
    const file of [
      "versions.ts",
      "zfs_version.ts",
      "kernel_version.ts",
      "kernel_major_minor.ts",
      "fedora_version.ts",
      "check_compatibility.ts",
    ]
  ) {
    const result = await runTaskFile(file, ["--help"]);
    assert.equal(result.code, 0, file);
    assert.match(result.stdout, /Usage: deno task /);
  }
});
