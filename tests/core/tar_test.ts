import assert from "node:assert/strict";
import { CheckError } from "../../lib/core/errors.ts";
import { tarEntries, type TarEntry } from "../../lib/core/tar.ts";
import { chunked, gitArchiveTarball, gnuTar, metaText } from "../helpers/zfs_tarballs.ts";
import { integrationTest } from "../helpers/tools.ts";

const decoder = new TextDecoder();

/** An assert.rejects() check: the error's class and a part of its message. */
function isError(type: new (...args: never[]) => Error, part: string) {
  return (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assert.ok(error.message.includes(part), `"${error.message}" lacks "${part}"`);
    return true;
  };
}

async function listing(stream: ReadableStream<Uint8Array>, readAll = true) {
  const entries: { name: string; type: string; size: number; body?: string }[] = [];
  for await (const entry of tarEntries(stream)) {
    const body = readAll && entry.type === "file" ? decoder.decode(await entry.read()) : undefined;
    entries.push({ name: entry.name, type: entry.type, size: entry.size, body });
  }
  return entries;
}

Deno.test("tarEntries() yields folders and files with their bodies, in archive order", async () => {
  const tar = await gnuTar({ "top/a.txt": "alpha\n", "top/sub/b.txt": "x".repeat(1500) });
  assert.deepEqual(await listing(chunked(tar, 7)), [
    { name: "top", type: "directory", size: 0, body: undefined },
    { name: "top/a.txt", type: "file", size: 6, body: "alpha\n" },
    { name: "top/sub", type: "directory", size: 0, body: undefined },
    { name: "top/sub/b.txt", type: "file", size: 1500, body: "x".repeat(1500) },
  ]);
});

Deno.test("tarEntries() skips bodies that are not read", async () => {
  const tar = await gnuTar({ "t/1": "one".repeat(400), "t/2": "two", "t/3": "three".repeat(300) });
  const seen: string[] = [];
  for await (const entry of tarEntries(chunked(tar, 100))) {
    if (entry.name === "t/2") seen.push(decoder.decode(await entry.read()));
    else seen.push(entry.name);
  }
  assert.deepEqual(seen, ["t", "t/1", "two", "t/3"]);
});

Deno.test("tarEntries() never stalls when skipped bodies sit between streamed ones", async (t) => {
  // extract-rpms streams the RPMs of `podman export` and skips the rest (install-zfs.sh, …):
  // modern-tar 0.8.6 stalls when an unread body is cancelled while a small chunk is pending,
  // and the task then ended silently with exit 0 half-way (seen under load in the suite).
  const files: Record<string, string> = {};
  for (const folder of ["a", "b", "c", "d"]) {
    files[`k/${folder}/x/skip.sh`] = "#!/bin/sh\n".repeat(300);
    files[`k/${folder}/one.rpm`] = folder.repeat(2000);
    files[`k/${folder}/two.txt`] = "skip".repeat(700);
  }
  const tar = await gnuTar(files);
  for (const size of [1, 7, 100, 512, 513, 4096]) {
    await t.step(`chunks of ${size} bytes`, async () => {
      const copied: string[] = [];
      for await (const entry of tarEntries(chunked(tar, size))) {
        if (!entry.name.endsWith(".rpm")) continue;
        let text = "";
        await entry.stream().pipeTo(
          new WritableStream({ write: (chunk) => void (text += decoder.decode(chunk)) }),
        );
        copied.push(`${entry.name}:${text.length}`);
      }
      assert.deepEqual(copied, ["a", "b", "c", "d"].map((f) => `k/${f}/one.rpm:2000`));
    });
  }
});

Deno.test("tarEntries() reads names longer than 100 bytes in every format", async (t) => {
  const long = `top/${"d".repeat(90)}/${"f".repeat(60)}.txt`;
  for (const format of ["gnu", "pax", "ustar"] as const) {
    await t.step(format, async () => {
      const tar = await gnuTar({ [long]: "deep" }, format);
      const files = (await listing(chunked(tar, 512))).filter((e) => e.type === "file");
      assert.deepEqual(files, [{ name: long, type: "file", size: 4, body: "deep" }]);
    });
  }
});

Deno.test("tarEntries() reports symlinks as other", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/target`, "t");
    await Deno.symlink("target", `${dir}/link`);
    const { stdout } = await new Deno.Command("tar", {
      args: ["-cf", "-", "-C", dir, "link", "target"],
      stdout: "piped",
    }).output();
    const entries = await listing(chunked(stdout, 4096), false);
    assert.deepEqual(entries.map((e) => [e.name, e.type]), [["link", "other"], ["target", "file"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarEntries() hides git archive's pax global header", async () => {
  const gz = await gitArchiveTarball("zfs-2.4.9", { META: metaText("2.4.9"), "module/x.c": "" });
  const stream = chunked(gz, 1000).pipeThrough(new DecompressionStream("gzip"));
  const entries = await listing(stream);
  assert.deepEqual(entries.map((e) => e.name), [
    "zfs-zfs-2.4.9",
    "zfs-zfs-2.4.9/META",
    "zfs-zfs-2.4.9/module",
    "zfs-zfs-2.4.9/module/x.c",
  ]);
  assert.deepEqual(entries[1]!.body, metaText("2.4.9"));
});

Deno.test("tarEntries() fails on a truncated archive", async (t) => {
  const tar = await gnuTar({ "t/big": "b".repeat(5000) });
  for (const cut of [700, 1024 + 100, 2048]) {
    await t.step(`cut at ${cut} bytes`, async () => {
      await assert.rejects(
        () => listing(chunked(tar.slice(0, cut), 300)),
        isError(CheckError, "Truncated tar archive"),
      );
    });
  }
});

Deno.test("tarEntries() rejects data that is not a tar archive", async () => {
  const junk = new TextEncoder().encode("<html>not found</html>".padEnd(2000, " "));
  await assert.rejects(() => listing(chunked(junk, 512)), isError(CheckError, "checksum mismatch"));
});

Deno.test("tarEntries() reads the stream to its end, then releases it; leaving early cancels it", async (t) => {
  await t.step(
    "end marker: the zero padding after it is consumed and the lock released",
    async () => {
      const tar = await gnuTar({ "t/a": "a" });
      let pulled = 0;
      const source = chunked(tar, 512).getReader();
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await source.read();
          if (done) return controller.close();
          pulled += value.length;
          controller.enqueue(value);
        },
      });
      await listing(stream);
      assert.equal(pulled, tar.length, "GNU tar pads its output to 10 KiB; all of it is read");
      const reader = stream.getReader(); // throws if the generator kept its lock
      assert.equal((await reader.read()).done, true);
    },
  );
  await t.step("data after the end marker that is not padding is refused", async () => {
    const tar = await gnuTar({ "t/a": "a" });
    const extra = new Uint8Array([...tar, ...new TextEncoder().encode("trailing junk")]);
    await assert.rejects(() => listing(chunked(extra, 512)), isError(CheckError, "Malformed tar"));
  });
  await t.step("break: the source is cancelled", async () => {
    const tar = await gnuTar({ "t/a": "a", "t/b": "b" });
    let cancelled = false;
    const source = chunked(tar, 512).getReader();
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await source.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const _ of tarEntries(stream)) break;
    assert.ok(cancelled);
  });
});

Deno.test("a tar entry cannot be read once the next one is current", async () => {
  const tar = await gnuTar({ "t/a": "a", "t/b": "b" });
  const entries: TarEntry[] = [];
  for await (const entry of tarEntries(chunked(tar, 512))) entries.push(entry);
  await assert.rejects(() => entries[1]!.read(), isError(Error, "no longer current"));
});

/** What GNU tar itself lists for an archive: the reference every format test compares with. */
async function gnuListing(archive: Uint8Array<ArrayBuffer>): Promise<string[]> {
  const child = new Deno.Command("tar", { args: ["-tf", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(archive);
  await writer.close();
  const { stdout } = await child.output();
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean).map((n) =>
    n.replace(/\/+$/, "")
  );
}

/** A tree with long names, a symlink and an empty folder, packed by GNU tar in `format`. */
async function treeArchive(format: string): Promise<Uint8Array<ArrayBuffer>> {
  const dir = await Deno.makeTempDir({ prefix: "tar-fmt-" });
  try {
    const deep = `${dir}/top/${"d".repeat(120)}`;
    await Deno.mkdir(deep, { recursive: true });
    await Deno.mkdir(`${dir}/top/empty`);
    await Deno.writeTextFile(`${deep}/${"f".repeat(110)}.txt`, "deep");
    await Deno.writeTextFile(`${dir}/top/usr-lib-modules.txt`, "x".repeat(700));
    await Deno.symlink("usr-lib-modules.txt", `${dir}/top/link`);
    const { success, stdout } = await new Deno.Command("tar", {
      args: [`--format=${format}`, "--sort=name", "-cf", "-", "top"],
      cwd: dir,
      stdout: "piped",
    }).output();
    assert.ok(success, `tar --format=${format} failed`);
    return stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tarEntries() lists what GNU tar lists for gnu, oldgnu, pax and posix archives", async (t) => {
  for (const format of ["gnu", "oldgnu", "pax", "posix"]) {
    await t.step(format, async () => {
      const archive = await treeArchive(format);
      const names = (await listing(chunked(archive, 333), false)).map((e) => e.name);
      assert.deepEqual(names, await gnuListing(archive));
      assert.ok(names.some((n) => n.endsWith(`${"f".repeat(110)}.txt`)), names.join("\n"));
    });
  }
});

Deno.test("tarEntries() passes an error of the source stream on unchanged", async () => {
  const gz = await gitArchiveTarball("zfs-2.4.9", { META: metaText("2.4.9") });
  const broken = gz.slice(0, 20); // a gzip stream cut inside its header
  const stream = chunked(broken, 10).pipeThrough(new DecompressionStream("gzip"));
  await assert.rejects(() => listing(stream), (error: unknown) => {
    assert.ok(!(error instanceof CheckError), `expected the gunzip error, got ${error}`);
    return true;
  });
});

integrationTest(
  "tarEntries() lists what GNU tar lists for podman export output",
  ["podman", "tar"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "tar-podman-" });
    const image = `localhost/tar-test:${crypto.randomUUID().slice(0, 8)}`;
    const podman = (args: string[]) =>
      new Deno.Command("podman", { args, stdout: "piped", stderr: "piped" }).output();
    let container = "";
    try {
      await Deno.mkdir(`${dir}/ctx/usr/lib/modules/6.17.7-300.fc43.x86_64`, { recursive: true });
      await Deno.writeTextFile(`${dir}/ctx/usr/lib/modules/6.17.7-300.fc43.x86_64/vmlinuz`, "k");
      await Deno.writeTextFile(`${dir}/ctx/${"n".repeat(150)}.rpm`, "rpm".repeat(300));
      await Deno.writeTextFile(`${dir}/Containerfile`, "FROM scratch\nCOPY ctx/ /\n");
      // --layers=false: a cache lookup fails when another test's podman rmi removes a layer
      const built = await podman([
        "build",
        "--isolation",
        "chroot",
        "--layers=false",
        "-q",
        "-t",
        image,
        dir,
      ]);
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const created = await podman(["create", image, "/none"]);
      assert.ok(created.success, new TextDecoder().decode(created.stderr));
      container = new TextDecoder().decode(created.stdout).trim();
      const exported = await podman(["export", container]);
      assert.ok(exported.success, new TextDecoder().decode(exported.stderr));
      const names = (await listing(chunked(exported.stdout, 4096), false)).map((e) => e.name);
      assert.deepEqual(names, await gnuListing(exported.stdout));
      assert.ok(names.includes("usr/lib/modules/6.17.7-300.fc43.x86_64/vmlinuz"), names.join("\n"));
      assert.ok(names.includes(`${"n".repeat(150)}.rpm`), names.join("\n"));
    } finally {
      if (container) await podman(["rm", "--force", container]);
      await podman(["rmi", "--force", image]);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("copyEntry() streams a large file to disk, never holding it whole", async (t) => {
  const { copyEntry } = await import("../../lib/build/podman.ts");
  const size = 24 * 1024 * 1024;
  const body = "0123456789abcdef".repeat(size / 16);
  const tar = await gnuTar({ "usr/big.rpm": body });
  const dest = await Deno.makeTempDir({ prefix: "copy-entry-" });
  try {
    await t.step("the body goes through stream(), whole and intact", async () => {
      let largestChunk = 0;
      for await (const entry of tarEntries(chunked(tar, 64 * 1024))) {
        // read() would allocate entry.size at once: a hostile multi-GB .rpm must not do that
        const streamOnly: TarEntry = {
          ...entry,
          read: () => Promise.reject(new Error("read() holds the whole file in memory")),
          stream: () =>
            entry.stream().pipeThrough(
              new TransformStream({
                transform(chunk, controller) {
                  largestChunk = Math.max(largestChunk, chunk.length);
                  controller.enqueue(chunk);
                },
              }),
            ),
        };
        await copyEntry(streamOnly, dest, () => true);
      }
      assert.ok(largestChunk > 0 && largestChunk <= 1024 * 1024, `chunk of ${largestChunk}`);
      assert.equal((await Deno.stat(`${dest}/usr/big.rpm`)).size, size);
      assert.equal(await Deno.readTextFile(`${dest}/usr/big.rpm`), body);
    });
    await t.step("a stream cut inside the file fails in one line, no temporary left", async () => {
      await Deno.remove(`${dest}/usr`, { recursive: true });
      await assert.rejects(async () => {
        for await (const entry of tarEntries(chunked(tar.slice(0, 4 * 1024 * 1024), 65536))) {
          await copyEntry(entry, dest, () => true);
        }
      }, isError(CheckError, "Truncated tar archive: the stream ended inside usr/big.rpm"));
      assert.deepEqual([...Deno.readDirSync(`${dest}/usr`)], []);
    });
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
});
