import assert from "node:assert/strict";
import { inspectImage } from "../lib/registry/registry.ts";
import { release, RELEASES, releasesHandler } from "./helpers/fcos_fixtures.ts";
import { fcosBuilds, type StandInRelease } from "./helpers/release_index.ts";
import { buildAndPush, startRegistry } from "./helpers/registry.ts";
import { runTaskFile, type TaskResult } from "./helpers/run_task.ts";
import { json, withServer } from "./helpers/server.ts";
import { integrationTest } from "./helpers/tools.ts";

function assertOneLineError(result: TaskResult, code: number, ...parts: (string | RegExp)[]) {
  assert.equal(result.code, code, result.stderr);
  // A retry says so on its own line (lib/core/http.ts); the error itself is one line.
  const lines = result.stderr.trim().split("\n").filter((line) => !line.startsWith("retrying "));
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
  assert.match(result.stdout, /^✓ zfs-2\.4\.2 supports 6\.18 \(6\.18 ≤ 7\.0\)$/m);
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

Deno.test("check-compatibility without --zfs checks the release versions and build choose", async (t) => {
  const good = await Deno.readTextFile(new URL("../matrix.yaml", import.meta.url));
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    // zfs-2.4.4 is published but not pinned: a build stays on zfs-2.4.3, and so does the check.
    await Deno.writeTextFile(
      file,
      good.replace(/(tag: zfs-2\.4\.4\n(?:.*\n)*?) +sha256: [0-9a-f]{64}\n/, "$1"),
    );
    await withServer(releasesHandler(RELEASES, 100), async (github) => {
      const env = { GITHUB_API_URL: github.url, MATRIX_FILE: file, GITHUB_ACTIONS: "false" };
      await t.step("the newest pinned release, not the newest published one", async () => {
        const result = await runTaskFile(
          "check_compatibility.ts",
          ["--kernel", "6.17", "--json"],
          env,
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(JSON.parse(result.stdout)["zfs-tag"], "zfs-2.4.3");
        assert.match(result.stderr, /^warning: .*zfs-2\.4\.4 \(no sha256\).*using zfs-2\.4\.3/m);
      });
      await t.step("under GitHub Actions the warning is an annotation", async () => {
        const result = await runTaskFile("check_compatibility.ts", ["--kernel", "6.17"], {
          ...env,
          GITHUB_ACTIONS: "true",
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /^::warning title=ZFS release not pinned::Newer zfs-2\.4 /m);
        assert.doesNotMatch(result.stderr, /^warning:/m, "not twice");
      });
      await t.step(
        "an incompatible kernel is an ::error:: annotation under GitHub Actions",
        async () => {
          const result = await runTaskFile("check_compatibility.ts", ["--kernel", "7.9"], {
            ...env,
            GITHUB_ACTIONS: "true",
          });
          assert.equal(result.code, 1, result.stderr);
          assert.match(result.stderr, /^::error title=Kernel not supported::/m);
          assert.doesNotMatch(result.stderr, /^error:/m);
        },
      );
    });
  } finally {
    await Deno.remove(file);
  }
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

Deno.test("zfs-version --latest prints just the newest tag of the series, from every page", async () => {
  await withServer(releasesHandler(RELEASES, 3), async (server) => {
    const env = { GITHUB_API_URL: server.url };
    const result = await runTaskFile("zfs_version.ts", ["--latest"], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "zfs-2.4.4\n");
    const older = await runTaskFile(
      "zfs_version.ts",
      ["--latest", "--series", "2.2", "--json"],
      env,
    );
    assert.deepEqual(JSON.parse(older.stdout), {
      "zfs-tag": "zfs-2.2.11",
      "zfs-version": "2.2.11",
    });
  });
});

Deno.test("zfs-version exits 1 with the URL and status when GitHub keeps failing", async () => {
  await withServer(() => json({ message: "Server Error" }, { status: 503 }), async (server) => {
    const result = await runTaskFile("zfs_version.ts", [], { GITHUB_API_URL: server.url });
    assertOneLineError(
      result,
      1,
      `${server.url}/repos/openzfs/zfs/releases`,
      /^retrying GET .* \(attempt 2 of 2\): HTTP 503$/m,
      /^error: .*\(HTTP 503\) after 2 attempts$/m,
    );
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

/**
 * Values of `versions --json`, the plan of `build --dry-run` and what `zfs-version` prints, run
 * on the same stand-ins.
 */
async function versionsAndBuild(args: string[], env: Record<string, string>) {
  const versions = await runTaskFile("versions.ts", [...args, "--json"], env);
  const build = await runTaskFile("build.ts", [...args, "--dry-run"], env);
  const zfsVersion = await runTaskFile("zfs_version.ts", args, env);
  return {
    versions,
    values: versions.code === 0 ? JSON.parse(versions.stdout) as Record<string, unknown> : {},
    build,
    buildZfs: /^(?:ZFS release:|zfs release) +(zfs-[\d.]+) /m.exec(build.stdout)?.[1],
    zfsVersion: zfsVersion.code === 0 ? zfsVersion.stdout.trim() : zfsVersion.stderr,
  };
}

const KERNEL_617 = "6.17.7-300.fc43.x86_64";
const KERNEL_71 = "7.1.2-100.fc44.x86_64";
const KERNEL_73 = "7.3.1-100.fc44.x86_64";
const RELEASE_617 = "43.20251110.3.1";
const RELEASE_71 = "44.20260215.3.0";
const RELEASE_73 = "44.20260301.3.0";

integrationTest(
  "versions and build --dry-run choose the same ZFS release in every case",
  ["docker-registry", "podman"],
  async (t) => {
    const registry = await startRegistry();
    const name = `agree-${crypto.randomUUID().slice(0, 8)}`;
    const image = (release: string, kernel: string) =>
      "FROM scratch\nCOPY etc /etc\n" +
      Object.entries({
        "ostree.linux": kernel,
        "com.coreos.stream": "stable",
        "org.opencontainers.image.version": release,
      }).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}\n`).join("");
    const file = { "etc/os-release": "NAME=Fedora\n" };
    const refs = {
      k617: `${registry.host}/${name}:${RELEASE_617}`,
      k71: `${registry.host}/${name}:${RELEASE_71}`,
      k73: `${registry.host}/${name}:${RELEASE_73}`,
    };
    const matrixFile = await Deno.makeTempFile({ suffix: ".yaml" });
    try {
      await Promise.all([
        buildAndPush(refs.k617, image(RELEASE_617, KERNEL_617), file),
        buildAndPush(refs.k71, image(RELEASE_71, KERNEL_71), file),
        buildAndPush(refs.k73, image(RELEASE_73, KERNEL_73), file),
      ]);
      const digest = async (ref: string) => (await inspectImage(ref, "x86_64")).manifestDigest;
      const repository = `${registry.host}/${name}`;
      const stable: StandInRelease[] = [
        [RELEASE_617, KERNEL_617, refs.k617],
        [RELEASE_71, KERNEL_71, refs.k71],
        [RELEASE_73, KERNEL_73, refs.k73],
      ].map(([version, kernel]) => ({ version: version!, kernels: { x86_64: kernel } }));
      for (const [index, ref] of [refs.k617, refs.k71, refs.k73].entries()) {
        stable[index]!.digests = { x86_64: await digest(ref) };
        stable[index]!.repository = repository;
      }
      const good = await Deno.readTextFile(new URL("../matrix.yaml", import.meta.url));
      await withServer(fcosBuilds({ stable }), async (fcos) => {
        // a GitHub stand-in with `releases`, and the environment that points the tasks at both
        const withGithub = (
          releases: unknown[],
          action: (env: Record<string, string>) => Promise<void>,
        ) =>
          withServer(
            releasesHandler(releases, 100),
            (github) =>
              action({
                FCOS_BUILDS_URL: fcos.url,
                GITHUB_API_URL: github.url,
                MATRIX_FILE: matrixFile,
              }),
          );
        const cases = async (
          name: string,
          releases: unknown[],
          matrix: string,
          check: (r: Awaited<ReturnType<typeof versionsAndBuild>>) => void,
          ref = refs.k617,
        ) => {
          await t.step(name, async () => {
            await Deno.writeTextFile(matrixFile, matrix);
            await withGithub(releases, async (env) => {
              const result = await versionsAndBuild(["--image", ref], env);
              check(result);
            });
          });
        };

        await cases("the newest release is pinned: both use it", RELEASES, good, (r) => {
          assert.equal(r.versions.code, 0, r.versions.stderr);
          assert.equal(r.build.code, 0, r.build.stderr);
          assert.equal(r.values["zfs-tag"], "zfs-2.4.4");
          assert.equal(r.values["zfs-latest"], "zfs-2.4.4");
          assert.equal(r.values["zfs-pinned"], true);
          assert.equal(r.buildZfs, "zfs-2.4.4");
          assert.equal(r.zfsVersion, "zfs-2.4.4");
          assert.doesNotMatch(r.versions.stderr + r.build.stderr, /warning/);
        });

        await cases(
          "the newest release is unpinned: both use the newest pinned one and warn",
          RELEASES,
          good.replace(/(tag: zfs-2\.4\.4\n(?:.*\n)*?) +sha256: [0-9a-f]{64}\n/, "$1"),
          (r) => {
            assert.equal(r.versions.code, 0, r.versions.stderr);
            assert.equal(r.build.code, 0, r.build.stderr);
            assert.equal(r.values["zfs-tag"], "zfs-2.4.3");
            assert.equal(r.values["zfs-latest"], "zfs-2.4.4");
            assert.equal(r.values["zfs-pinned"], false);
            assert.equal(r.buildZfs, "zfs-2.4.3");
            // zfs-version says what a build uses, not the newest published release
            assert.equal(r.zfsVersion, "zfs-2.4.3");
            for (const stderr of [r.versions.stderr, r.build.stderr]) {
              assert.match(stderr, /warning: .*zfs-2\.4\.4 \(no sha256\).*using zfs-2\.4\.3/);
              assert.match(stderr, /deno task matrix add zfs-2\.4\.4/);
            }
          },
        );

        await cases(
          "a newer release not in matrix.yaml at all: both warn and stay on the pinned one",
          [release("zfs-2.4.5"), ...RELEASES],
          good,
          (r) => {
            assert.equal(r.values["zfs-tag"], "zfs-2.4.4");
            assert.equal(r.values["zfs-latest"], "zfs-2.4.5");
            assert.equal(r.buildZfs, "zfs-2.4.4");
            assert.match(r.build.stderr, /zfs-2\.4\.5 \(not in matrix\.yaml\)/);
          },
        );

        await cases(
          "the newest pinned release is too old for the kernel: both refuse; versions names the fallback",
          RELEASES,
          good,
          (r) => {
            assert.equal(r.versions.code, 0, r.versions.stderr);
            assert.equal(r.values.compatible, false);
            assert.equal(r.values["zfs-tag"], "zfs-2.4.4");
            assert.equal(r.values["fallback-release"], RELEASE_71);
            assert.equal(r.values["fallback-kernel-version"], KERNEL_71);
            assert.equal(r.values["fallback-zfs-tag"], "zfs-2.4.4");
            assert.equal(r.values["fallback-image-tag"], `zfs-2.4.4_kernel-${KERNEL_71}`);
            assert.match(String(r.values["fallback-image"]), /@sha256:[0-9a-f]{64}$/);
            assert.equal(r.build.code, 1);
            assert.equal(r.buildZfs, undefined);
            assert.match(r.build.stderr, /No pinned zfs-2\.4 release supports 7\.3\.1/);
            assert.match(r.versions.stderr, /No pinned zfs-2\.4 release supports 7\.3\.1/);
            assert.ok(
              r.versions.stderr.includes(
                `pin FROM ${repository}:${RELEASE_71} with kmods tag zfs-2.4.4_kernel-${KERNEL_71}`,
              ),
              r.versions.stderr,
            );
          },
          refs.k73,
        );

        await t.step(
          "--zfs with an unpinned release: versions, check-compatibility and build all refuse",
          async () => {
            await Deno.writeTextFile(
              matrixFile,
              good.replace(/(tag: zfs-2\.4\.4\n(?:.*\n)*?) +sha256: [0-9a-f]{64}\n/, "$1"),
            );
            const env = { FCOS_BUILDS_URL: fcos.url, MATRIX_FILE: matrixFile };
            const args = ["--image", refs.k617, "--zfs", "zfs-2.4.4"];
            const versions = await runTaskFile("versions.ts", [...args, "--json"], env);
            const check = await runTaskFile("check_compatibility.ts", [...args, "--json"], env);
            const build = await runTaskFile("build.ts", [...args, "--dry-run"], env);
            for (const result of [versions, check]) {
              assert.equal(JSON.parse(result.stdout).compatible, false, result.stderr);
            }
            assert.equal(versions.code, 0, "versions reports, it does not refuse");
            for (const result of [versions, check, build]) {
              assert.equal(result.code, result === versions ? 0 : 1, result.stderr);
              assert.match(
                result.stderr,
                /zfs-2\.4\.4 .*pins no sha256 for zfs-2\.4\.4.*`deno task matrix add zfs-2\.4\.4`/,
              );
            }
            assert.doesNotMatch(build.stdout, /zfs release/i);
          },
        );

        await t.step("versions --all-targets gives the nightly plan the fallback", async () => {
          await Deno.writeTextFile(
            matrixFile,
            good.replaceAll("quay.io/fedora/fedora-coreos:stable", refs.k73),
          );
          await withGithub(RELEASES, async (env) => {
            const result = await runTaskFile("versions.ts", ["--all-targets", "--json"], env);
            assert.equal(result.code, 0, result.stderr);
            const [target] = JSON.parse(result.stdout) as Record<string, unknown>[];
            assert.equal(target!.compatible, false);
            assert.equal(target!["fallback-release"], RELEASE_71);
            assert.equal(target!["fallback-image-tag"], `zfs-2.4.4_kernel-${KERNEL_71}`);
            assert.match(result.stderr, /the nightly build uses 44\.20260215\.3\.0 instead/);
          });
        });

        await t.step("build --dry-run of the fallback image plans the fallback tag", async () => {
          await Deno.writeTextFile(matrixFile, good);
          await withGithub(RELEASES, async (env) => {
            const versions = await runTaskFile("versions.ts", ["--image", refs.k73, "--json"], env);
            const fallback = JSON.parse(versions.stdout);
            const build = await runTaskFile(
              "build.ts",
              ["--image", fallback["fallback-image"], "--dry-run"],
              env,
            );
            assert.equal(build.code, 0, build.stderr);
            assert.ok(build.stdout.includes(`:${fallback["fallback-image-tag"]}`), build.stdout);
          });
        });
      });
    } finally {
      await Deno.remove(matrixFile);
      await registry.stop();
    }
  },
);

Deno.test("zfs-version exits 1 with one line when the releases page holds null or malformed items", async (t) => {
  for (const [what, items] of [["null", [null]], ["no tag_name", [{ draft: false }]]] as const) {
    await t.step(what, async () => {
      await withServer(
        releasesHandler([...RELEASES.slice(0, 2), ...items], 100),
        async (github) => {
          const result = await runTaskFile("zfs_version.ts", [], { GITHUB_API_URL: github.url });
          assertOneLineError(result, 1, "Malformed release in the answer", "item 2");
        },
      );
    });
  }
});
