import assert from "node:assert/strict";
import { CheckError } from "../lib/errors.ts";
import { tarEntries, type TarEntry } from "../lib/tar.ts";
import { chunked, gitArchiveTarball, gnuTar, metaText } from "./helpers/zfs_tarballs.ts";

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

Deno.test("tarEntries() releases the stream at the end marker and cancels it when left early", async (t) => {
  await t.step("end marker: what follows can still be read", async () => {
    const tar = await gnuTar({ "t/a": "a" });
    const stream = chunked(tar, 512);
    await listing(stream);
    const reader = stream.getReader(); // throws if the generator kept its lock
    let rest = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value.length;
    assert.ok(rest > 0, "GNU tar pads its output to 10 KiB; the padding is left unread");
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
