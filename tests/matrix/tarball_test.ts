import assert from "node:assert/strict";
import { CheckError, InputError, RemoteError } from "../../lib/core/errors.ts";
import { hashTarball, parseMeta, zfsSourceUrl } from "../../lib/matrix/tarball.ts";
import { runTaskFile } from "../helpers/run_task.ts";
import { withServer } from "../helpers/server.ts";
import { chunked, gitArchiveTarball, metaText } from "../helpers/zfs_tarballs.ts";

/** Deterministic filler that gzip cannot shrink much, so truncation cuts real data. */
function noise(length: number): string {
  let x = 12345;
  let out = "";
  while (out.length < length) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += x.toString(36);
  }
  return out.slice(0, length);
}

const good = await gitArchiveTarball("zfs-2.4.9", {
  META: metaText("2.4.9"),
  "module/zfs/spa.c": noise(300_000),
});
const noMeta = await gitArchiveTarball("zfs-2.4.8", { "README.md": "no META here\n" });
const tarballs: Record<string, Uint8Array<ArrayBuffer>> = {
  "/zfs-2.4.9.tar.gz": good,
  "/zfs-2.4.8.tar.gz": noMeta,
  "/zfs-2.4.6.tar.gz": good.slice(0, Math.floor(good.length / 2)),
  "/zfs-2.4.5.tar.gz": new TextEncoder().encode("<html>Not a tarball</html>\n".repeat(50)),
};

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Serves the tarballs in 1000-byte chunks, as a slow network would. */
function serveTarballs(request: Request): Response {
  const body = tarballs[new URL(request.url).pathname];
  if (!body) return new Response("Not Found", { status: 404 });
  return new Response(chunked(body, 1000), {
    headers: { "content-type": "application/x-gzip", "content-length": String(body.length) },
  });
}

function isError(type: new (...args: never[]) => Error, ...parts: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    for (const part of parts) {
      assert.ok(error.message.includes(part), `"${error.message}" lacks "${part}"`);
    }
    return true;
  };
}

Deno.test("zfsSourceUrl() is GitHub's archive tarball unless ZFS_SOURCE_URL says otherwise", () => {
  const saved = Deno.env.get("ZFS_SOURCE_URL");
  try {
    Deno.env.delete("ZFS_SOURCE_URL");
    assert.equal(
      zfsSourceUrl("zfs-2.4.4"),
      "https://github.com/openzfs/zfs/archive/refs/tags/zfs-2.4.4.tar.gz",
    );
    Deno.env.set("ZFS_SOURCE_URL", "http://127.0.0.1:9/mirror/");
    assert.equal(zfsSourceUrl("zfs-2.4.4"), "http://127.0.0.1:9/mirror/zfs-2.4.4.tar.gz");
    assert.throws(() => zfsSourceUrl("zfs-2.4.4/../x"), InputError);
  } finally {
    if (saved === undefined) Deno.env.delete("ZFS_SOURCE_URL");
    else Deno.env.set("ZFS_SOURCE_URL", saved);
  }
});

Deno.test("parseMeta() reads the kernel range and version of a real META file", () => {
  assert.deepEqual(parseMeta(metaText("2.4.4", "7.2")), {
    name: "zfs",
    version: "2.4.4",
    linuxMinimum: "4.18",
    linuxMaximum: "7.2",
  });
  assert.equal(parseMeta(metaText("2.4.4", null)).linuxMaximum, undefined);
});

Deno.test("hashTarball() hashes the whole download and reads META in the same pass", async () => {
  await withServer(serveTarballs, async (server) => {
    const result = await hashTarball("zfs-2.4.9", { baseUrl: server.url });
    assert.equal(result.url, `${server.url}/zfs-2.4.9.tar.gz`);
    assert.equal(result.sha256, await sha256Hex(good));
    assert.equal(result.bytes, good.length);
    assert.deepEqual(result.meta, {
      name: "zfs",
      version: "2.4.9",
      linuxMinimum: "4.18",
      linuxMaximum: "7.3",
    });
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("hashTarball() reports a tarball without META as such", async () => {
  await withServer(serveTarballs, async (server) => {
    const result = await hashTarball("zfs-2.4.8", { baseUrl: server.url });
    assert.equal(result.meta, undefined);
    assert.equal(result.sha256, await sha256Hex(noMeta));
  });
});

Deno.test("hashTarball() fails on a truncated or non-gzip download, naming the URL", async (t) => {
  await withServer(serveTarballs, async (server) => {
    await t.step("truncated", async () => {
      await assert.rejects(
        () => hashTarball("zfs-2.4.6", { baseUrl: server.url }),
        isError(CheckError, "Not a complete gzip tar archive", `${server.url}/zfs-2.4.6.tar.gz`),
      );
    });
    await t.step("not gzip", async () => {
      await assert.rejects(
        () => hashTarball("zfs-2.4.5", { baseUrl: server.url }),
        isError(CheckError, "Not a complete gzip tar archive", "zfs-2.4.5.tar.gz"),
      );
    });
  });
});

Deno.test("hashTarball() turns a 404 into a RemoteError with the URL and status", async () => {
  await withServer(serveTarballs, async (server) => {
    await assert.rejects(
      () => hashTarball("zfs-9.9.9", { baseUrl: server.url, retries: 0 }),
      (error: unknown) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.status, 404);
        assert.equal(error.url, `${server.url}/zfs-9.9.9.tar.gz`);
        return true;
      },
    );
  });
});

Deno.test("zfs-tarball-hash prints the sha256 of the tarball at ZFS_SOURCE_URL", async (t) => {
  await withServer(serveTarballs, async (server) => {
    const env = { ZFS_SOURCE_URL: server.url };
    await t.step("plain: only the hash on stdout", async () => {
      const result = await runTaskFile("zfs_tarball_hash.ts", ["zfs-2.4.9"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${await sha256Hex(good)}\n`);
      assert.equal(
        result.stderr.split("\n").at(-2),
        "zfs-2.4.9 is not in matrix.yaml: add it with `deno task matrix add zfs-2.4.9`",
      );
    });
    await t.step("--json", async () => {
      const result = await runTaskFile("zfs_tarball_hash.ts", ["zfs-2.4.9", "--json"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), {
        "zfs-tag": "zfs-2.4.9",
        url: `${server.url}/zfs-2.4.9.tar.gz`,
        sha256: await sha256Hex(good),
        bytes: good.length,
        "max-kernel": "7.3",
        "min-kernel": "4.18",
        pin: "absent",
        "pinned-sha256": null,
      });
    });
    await t.step("the bare version 2.4.9 is the tag zfs-2.4.9", async () => {
      const result = await runTaskFile("zfs_tarball_hash.ts", ["2.4.9", "--json"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout)["zfs-tag"], "zfs-2.4.9");
      assert.equal(server.requests.at(-1)?.path, "/zfs-2.4.9.tar.gz");
    });
    for (
      const [what, pinned, code, said] of [
        [
          "the sha256 matrix.yaml pins: exit 0",
          await sha256Hex(good),
          0,
          /^✓ the sha256 matrix\.yaml pins for zfs-2\.4\.9$/m,
        ],
        [
          "another sha256 than matrix.yaml pins: exit 1",
          "a".repeat(64),
          1,
          /^error: matrix\.yaml pins another sha256 for zfs-2\.4\.9: a{64} \(the download is [0-9a-f]{64}\): a build of zfs-2\.4\.9 refuses this tarball$/m,
        ],
      ] as const
    ) {
      await t.step(what, async () => {
        const matrix = await Deno.makeTempFile({ suffix: ".yaml" });
        try {
          const text = await Deno.readTextFile(new URL("../../matrix.yaml", import.meta.url));
          await Deno.writeTextFile(
            matrix,
            text.replace(
              /^( +)- tag: zfs-2\.4\.4\n/m,
              `$1- tag: zfs-2.4.9\n$1  max-kernel: "7.3"\n$1  sha256: ${pinned}\n$&`,
            ),
          );
          const result = await runTaskFile("zfs_tarball_hash.ts", ["zfs-2.4.9"], {
            ...env,
            MATRIX_FILE: matrix,
          });
          assert.equal(result.code, code, result.stderr);
          assert.equal(result.stdout, `${await sha256Hex(good)}\n`);
          assert.match(result.stderr, said);
        } finally {
          await Deno.remove(matrix);
        }
      });
    }
    await t.step("404: exit 1 naming the URL", async () => {
      const result = await runTaskFile("zfs_tarball_hash.ts", ["zfs-9.9.9"], env);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /zfs-9\.9\.9\.tar\.gz \(HTTP 404\)/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    });
    await t.step("a tag with shell characters: exit 2, nothing downloaded", async () => {
      const before = server.requests.length;
      const result = await runTaskFile("zfs_tarball_hash.ts", ["zfs-2.4.9;rm -rf x"], env);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /Invalid ZFS release tag/);
      assert.equal(server.requests.length, before);
    });
  });
});
