// Real tar archives for tests: made with GNU tar and `git archive` (which writes the pax
// global header GitHub's archive tarballs carry), shaped like OpenZFS source tarballs.
import assert from "node:assert/strict";

/** The META file at the top of an OpenZFS source tree, in its real format. */
export function metaText(
  version: string,
  linuxMaximum: string | null = "7.3",
  linuxMinimum = "4.18",
): string {
  return [
    "Meta:          1",
    "Name:          zfs",
    "Branch:        1.0",
    `Version:       ${version}`,
    "Release:       1",
    "Release-Tags:  relext",
    "License:       CDDL",
    "Author:        OpenZFS",
    ...(linuxMaximum === null ? [] : [`Linux-Maximum: ${linuxMaximum}`]),
    `Linux-Minimum: ${linuxMinimum}`,
    "",
  ].join("\n");
}

async function run(cmd: string, args: string[], cwd: string): Promise<Uint8Array<ArrayBuffer>> {
  const output = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: {
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  }).output();
  if (!output.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return output.stdout;
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = `${root}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
}

/**
 * A gzipped source tarball like GitHub's archive of `zfsTag`: `git archive` of a commit
 * holding `files`, under the prefix `zfs-<tag>/`, with git's pax global header.
 */
export async function gitArchiveTarball(
  zfsTag: string,
  files: Record<string, string>,
): Promise<Uint8Array<ArrayBuffer>> {
  const dir = await Deno.makeTempDir({ prefix: "zfs-src-" });
  try {
    await writeTree(dir, files);
    await run("git", ["init", "-q", "."], dir);
    await run("git", ["add", "-A"], dir);
    await run("git", ["commit", "-q", "-m", zfsTag], dir);
    return await run(
      "git",
      ["archive", "--format=tar.gz", `--prefix=zfs-${zfsTag}/`, "HEAD"],
      dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An uncompressed tar of `files` (and their folders) made by GNU tar in `format`. */
export async function gnuTar(
  files: Record<string, string>,
  format: "gnu" | "pax" | "ustar" = "gnu",
  extraArgs: string[] = [],
): Promise<Uint8Array<ArrayBuffer>> {
  const dir = await Deno.makeTempDir({ prefix: "tar-src-" });
  try {
    await writeTree(dir, files);
    const top = [...new Set(Object.keys(files).map((p) => p.split("/")[0]!))].sort();
    return await run(
      "tar",
      [`--format=${format}`, "--sort=name", ...extraArgs, "-cf", "-", ...top],
      dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A stream that delivers `bytes` in chunks of `size` (to cross every block boundary). */
export function chunked(
  bytes: Uint8Array<ArrayBuffer>,
  size: number,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

/**
 * A line diff for a pure insertion: the lines `after` adds to `before`, failing when any line
 * of `before` was changed or removed (they must be `after` minus one contiguous block).
 */
export function insertedLines(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  let start = 0;
  while (start < a.length && a[start] === b[start]) start++;
  const added = b.length - a.length;
  assert.ok(added >= 0, "lines were removed");
  assert.deepEqual(b.slice(start + added), a.slice(start), "lines after the insertion changed");
  return b.slice(start, start + added);
}
