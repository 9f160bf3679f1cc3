// The edges of the tasks: hostile image content, bad paths and numbers, podman calls to a
// registry that never answers, and text from servers on the terminal and in step summaries.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { textTable } from "../lib/cli/cli.ts";
import { runsTable, type WorkflowRun } from "../lib/github/gh.ts";
import { safeArchivePath } from "../lib/build/rpms.ts";
import { runTaskFile, taskCommandLine } from "./helpers/run_task.ts";
import { withServer, withTimeout } from "./helpers/server.ts";
import { integrationTest } from "./helpers/tools.ts";

/** The tag that marks a kmods image (IMAGE_TAG): list-rpms and extract-rpms want one. */
const KMODS_TAG = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";

const oneErrorLine = (stderr: string) => {
  assert.equal(stderr.match(/^error:/gm)?.length, 1, stderr);
  assert.doesNotMatch(stderr, /\n\s+at |unexpected failure/, stderr);
};

/** A TCP server that accepts connections and never answers: a registry that hangs. */
async function withSilentServer<T>(action: (host: string) => Promise<T>): Promise<T> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const connection of listener) held.push(connection);
    } catch {
      // closed
    }
  })();
  try {
    return await action(`127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  } finally {
    listener.close();
    for (const connection of held) connection.close();
    await accepting;
  }
}

Deno.test("safeArchivePath() keeps paths inside the folder they are copied into", () => {
  assert.equal(safeArchivePath("./debug/zfs-debuginfo.rpm"), "debug/zfs-debuginfo.rpm");
  assert.equal(safeArchivePath("/zfs.rpm"), "zfs.rpm");
  for (const bad of ["../etc/passwd.rpm", "a/../../b.rpm", "a//b.rpm", "./", "a/./b", "x\n.rpm"]) {
    assert.equal(safeArchivePath(bad), undefined, bad);
  }
});

Deno.test("extract-rpms refuses a --dest it cannot use before pulling anything", async (t) => {
  await withServer(() => new Response("", { status: 500 }), async (server) => {
    const image = `127.0.0.1:${server.port}/kmods:zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64`;
    const file = await Deno.makeTempFile();
    try {
      const cases: [string, string, RegExp][] = [
        ["empty", "", /Invalid --dest: empty/],
        ["blank", "  ", /Invalid --dest: empty/],
        ["under /proc", "/proc/x", /Invalid --dest: cannot write the folder \/proc\/x/],
        ["under a file", `${file}/x`, /Invalid --dest: cannot write the folder/],
        ["a file", file, /--dest is not a folder/],
      ];
      for (const [name, dest, message] of cases) {
        await t.step(name, async () => {
          const result = await runTaskFile("extract_rpms.ts", [image, "--dest", dest]);
          assert.equal(result.code, 2, result.stderr);
          assert.match(result.stderr, message);
          oneErrorLine(result.stderr);
        });
      }
      assert.equal(server.requests.length, 0, "no registry request");
    } finally {
      await Deno.remove(file);
    }
  });
});

Deno.test("list-rpms and extract-rpms refuse a target image as the kmods image, before any request", async (t) => {
  await withServer(() => new Response("", { status: 500 }), async (server) => {
    const target = `127.0.0.1:${server.port}/fedora/fedora-coreos:stable`;
    for (const file of ["list_rpms.ts", "extract_rpms.ts"]) {
      for (const image of [target, `${target}@sha256:${"0".repeat(64)}`]) {
        await t.step(`${file} ${image.slice(-20)}`, async () => {
          const dir = await Deno.makeTempDir();
          try {
            const result = await runTaskFile(
              file,
              [image, "--dest", `${dir}/d`].slice(
                0,
                file === "list_rpms.ts" ? 1 : 3,
              ),
            );
            assert.equal(result.code, 2, result.stderr);
            assert.match(result.stderr, /Not a kmods image: .*zfs-<version>_kernel-<kernel>/);
            // The hint names the flag that takes a target image.
            assert.ok(result.stderr.includes(`use --image ${image}`), result.stderr);
            oneErrorLine(result.stderr);
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        });
      }
    }
    const kmods = `127.0.0.1:${server.port}/kmods@sha256:${"0".repeat(64)}`;
    for (const file of ["list_rpms.ts", "extract_rpms.ts"]) {
      for (const extra of [["--image", target], ["--arch", "aarch64"], ["--zfs", "zfs-2.4.2"]]) {
        await t.step(`${file} KMODS-IMAGE ${extra[0]}: one or the other`, async () => {
          const result = await runTaskFile(file, [kmods, ...extra]);
          assert.equal(result.code, 2, result.stderr);
          assert.match(
            result.stderr,
            /^error: Give the kmods image or --image\/--arch\/--zfs, not both$/m,
          );
          oneErrorLine(result.stderr);
          // refused before extract-rpms makes its --dest folder (./rpms)
          assert.equal(
            await Deno.stat(new URL("../rpms", import.meta.url)).catch(() => undefined),
            undefined,
          );
        });
      }
    }
    assert.equal(server.requests.length, 0, "nothing pulled or asked");
  });
});

Deno.test("workflow-status --limit beyond the range exits 2 naming the range", async () => {
  for (const limit of ["99999999999999999999999", "1001", "0"]) {
    const result = await runTaskFile("workflow_status.ts", ["--limit", limit]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Invalid limit: .*\(expected a whole number from 1 to 1000\)/);
    oneErrorLine(result.stderr);
  }
});

Deno.test("build refuses half a signing pair and a bad isolation before any discovery", async (t) => {
  await withServer(() => new Response("", { status: 500 }), async (server) => {
    const image = `127.0.0.1:${server.port}/fedora/fedora-coreos:stable`;
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      [
        "--secret-key alone",
        ["--secret-key", "/etc/hostname"],
        {},
        /--secret-key needs --secret-cert/,
      ],
      [
        "--secret-cert alone",
        ["--secret-cert", "/etc/hostname"],
        {},
        /--secret-cert needs --secret-key/,
      ],
      [
        "--isolation bogus",
        ["--isolation", "bogus"],
        {},
        /Allowed choices are chroot, oci, rootless/,
      ],
      ["BUILD_ISOLATION=bogus", [], { BUILD_ISOLATION: "bogus" }, /from env 'BUILD_ISOLATION'/],
    ];
    for (const [name, args, env, message] of cases) {
      await t.step(name, async () => {
        const result = await runTaskFile("build.ts", ["--image", image, "--dry-run", ...args], env);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
        assert.doesNotMatch(result.stderr, /\n\s+at |unexpected failure/);
      });
    }
    assert.equal(server.requests.length, 0, "nothing was discovered");
  });
});

Deno.test("the runs table strips escape sequences a workflow title could carry", () => {
  const run: WorkflowRun = {
    databaseId: 1,
    status: "completed",
    conclusion: "success",
    createdAt: "2026-11-01T00:00:00Z",
    displayTitle: "\x1b]0;owned\x07\x1b[2J\x1b[31mNightly\x1b[0m\rbuild\u202e",
    url: "https://github.com/o/r/actions/runs/1",
    event: "schedule",
  };
  const { header, rows } = runsTable([run]);
  const text = textTable(header, rows);
  // deno-lint-ignore no-control-regex -- finding them is the point
  assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
  assert.match(text, /Nightly build/);
});

Deno.test("a bad PODMAN_TIMEOUT_MS is a usage error naming the range", async () => {
  await withSilentServer(async (host) => {
    for (const value of ["abc", "-5", "1e99", "999", "86400001"]) {
      const result = await runTaskFile("list_rpms.ts", [`${host}/x:${KMODS_TAG}`], {
        PODMAN_TIMEOUT_MS: value,
      });
      assert.equal(result.code, 2, `${value}: ${result.stderr}`);
      assert.match(result.stderr, /Invalid PODMAN_TIMEOUT_MS: .*from 1000 to 86400000/);
    }
  });
});

integrationTest(
  "list-rpms gives up on a registry that never answers after PODMAN_TIMEOUT_MS",
  [
    "podman",
  ],
  // Its own time limit: a regression fails the test instead of hanging CI.
  (t) =>
    withTimeout(150_000, async () => {
      await withSilentServer(async (host) => {
        const image = `${host}/kmods:${KMODS_TAG}`;
        await t.step("quiet off a terminal, one line, exit 1", async () => {
          const started = Date.now();
          const result = await runTaskFile("list_rpms.ts", [image], {
            PODMAN_TIMEOUT_MS: "2000",
          });
          assert.equal(result.code, 1, result.stderr);
          assert.match(
            result.stderr,
            /^error: podman pull timed out after 2 s \(raise PODMAN_TIMEOUT_MS/m,
          );
          assert.doesNotMatch(result.stderr, /Trying to pull/, "no progress off a terminal");
          oneErrorLine(result.stderr);
          assert.ok(Date.now() - started < 60_000, "bounded by the setting, not by podman");
        });
        await t.step("podman's progress on a terminal", async () => {
          const command = taskCommandLine("list_rpms.ts", [image]);
          const output = await new Deno.Command("script", {
            args: ["-qec", command, "/dev/null"],
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            env: { PODMAN_TIMEOUT_MS: "2000", NO_COLOR: "1" },
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(output.stdout);
          assert.equal(output.code, 1, text);
          assert.match(text, /Trying to pull/);
          assert.match(text, /timed out after 2 s/);
        });
      });
    }),
);

integrationTest(
  "extract-rpms and list-rpms take only regular files: a symlinked .rpm is neither copied nor listed",
  [
    "podman",
  ],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "edges-" });
    const image = `localhost/edges-symlink-${crypto.randomUUID().slice(0, 8)}:${KMODS_TAG}`;
    try {
      await Deno.mkdir(`${dir}/ctx/layout/debug`, { recursive: true });
      await Deno.writeTextFile(`${dir}/ctx/layout/zfs-2.4.2-1.x86_64.rpm`, "rpm\n");
      await Deno.writeTextFile(`${dir}/ctx/layout/debug/zfs-debuginfo-2.4.2-1.x86_64.rpm`, "d\n");
      await Deno.symlink("/etc/passwd", `${dir}/ctx/layout/evil.rpm`);
      await Deno.symlink("/etc", `${dir}/ctx/layout/other`);
      await Deno.writeTextFile(`${dir}/ctx/Containerfile`, "FROM scratch\nCOPY layout/ /\n");
      const built = await new Deno.Command("podman", {
        // --layers=false: a cache lookup fails when another test's podman rmi removes a layer
        args: ["build", "--isolation", "chroot", "--layers=false", "-q", "-t", image, `${dir}/ctx`],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));

      const listed = await runTaskFile("list_rpms.ts", [image, "--json"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(JSON.parse(listed.stdout).groups, [
        { folder: "/", rpms: ["zfs-2.4.2-1.x86_64.rpm"] },
        { folder: "debug", rpms: ["zfs-debuginfo-2.4.2-1.x86_64.rpm"] },
      ]);

      // A symlink already in --dest under a copied name is replaced, never written through.
      const dest = `${dir}/out`;
      await Deno.mkdir(dest);
      const victim = `${dir}/victim`;
      await Deno.writeTextFile(victim, "untouched");
      await Deno.symlink(victim, `${dest}/zfs-2.4.2-1.x86_64.rpm`);
      const extracted = await runTaskFile("extract_rpms.ts", [image, "--dest", dest]);
      assert.equal(extracted.code, 0, extracted.stderr);
      assert.doesNotMatch(extracted.stdout, /evil/);
      assert.deepEqual(
        [...Deno.readDirSync(dest)].map((e) => `${e.name} ${e.isFile ? "file" : "dir"}`).sort(),
        ["debug dir", "zfs-2.4.2-1.x86_64.rpm file"],
      );
      assert.equal(await Deno.readTextFile(`${dest}/zfs-2.4.2-1.x86_64.rpm`), "rpm\n");
      assert.equal(await Deno.readTextFile(victim), "untouched");
    } finally {
      await new Deno.Command("podman", {
        args: ["rmi", "-f", image],
        stdout: "null",
        stderr: "null",
      })
        .output();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("check-container --tag takes the bare ZFS version: 2.4.4_kernel-… is zfs-2.4.4_kernel-…", async () => {
  await withServer(() => new Response("", { status: 404 }), async (registry) => {
    const host = new URL(registry.url).host;
    const result = await runTaskFile("check_container.ts", [
      "--tag",
      `${host}/o/n:2.4.4_kernel-6.17.7-300.fc43.x86_64`,
      "--json",
    ]);
    assert.equal(result.code, 1, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json["image-tag"], "zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64");
    assert.equal(json["container-exists"], false);
    assert.ok(
      registry.requests.some((r) =>
        r.path === "/v2/o/n/manifests/zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64"
      ),
      JSON.stringify(registry.requests),
    );
  });
});

Deno.test("--arch amd64 and arm64 are taken as x86_64 and aarch64", async () => {
  // An unreachable registry: the arch is accepted (exit 1 from the look-up, not 2 for usage).
  for (const given of ["amd64", "arm64"]) {
    const result = await runTaskFile("kernel_version.ts", [
      "--image",
      "127.0.0.1:1/fcos:stable",
      "--arch",
      given,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.doesNotMatch(result.stderr, /Invalid arch/);
  }
  const bad = await runTaskFile("kernel_version.ts", ["--arch", "x86"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expected x86_64 or aarch64; amd64, arm64 accepted/);
});
