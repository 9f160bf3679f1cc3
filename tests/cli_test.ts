import assert from "node:assert/strict";
import { markdownTable, runTask, taskCommand, wholeNumber, writeGithubOutput } from "../lib/cli.ts";
import { CheckError, InputError, RemoteError, UsageError } from "../lib/errors.ts";

Deno.test("runTask() maps errors to exit codes: usage and input 2, failures 1", async () => {
  const quiet = console.error;
  console.error = () => {};
  try {
    assert.equal(await runTask(() => Promise.resolve()), 0);
    assert.equal(await runTask(() => Promise.resolve(1)), 1);
    assert.equal(await runTask(() => Promise.reject(new UsageError("bad flag"))), 2);
    assert.equal(await runTask(() => Promise.reject(new InputError("bad yaml"))), 2);
    assert.equal(await runTask(() => Promise.reject(new CheckError("incompatible"))), 1);
    assert.equal(await runTask(() => Promise.reject(new RemoteError("http://x", 500, "down"))), 1);
    assert.equal(await runTask(() => Promise.reject(new TypeError("bug"))), 1);
  } finally {
    console.error = quiet;
  }
});

Deno.test("taskCommand() exits 2 on an unknown flag and 0 on --help", async () => {
  const silence = { writeErr: () => {}, writeOut: () => {} };
  const run = (args: string[]) =>
    runTask(async () => {
      await taskCommand("x", "test").configureOutput(silence).parseAsync(args, { from: "user" });
    });
  assert.equal(await run(["--nope"]), 2);
  assert.equal(await run(["--help"]), 0);
});

Deno.test("wholeNumber() rejects negatives, fractions and words", () => {
  const days = wholeNumber("retention days", 0);
  assert.equal(days("0"), 0);
  assert.equal(days("90"), 90);
  for (const bad of ["-1", "1.5", "ninety", ""]) assert.throws(() => days(bad), UsageError);
  assert.throws(() => wholeNumber("min-versions", 1)("0"), UsageError);
});

Deno.test("writeGithubOutput() appends key=value lines and heredocs for multi-line values", async () => {
  const file = await Deno.makeTempFile();
  const previous = Deno.env.get("GITHUB_OUTPUT");
  Deno.env.set("GITHUB_OUTPUT", file);
  try {
    assert.ok(writeGithubOutput({ "zfs-tag": "zfs-2.4.2", compatible: true }));
    writeGithubOutput({ table: "a\nb" });
    const text = await Deno.readTextFile(file);
    assert.match(
      text,
      /^zfs-tag=zfs-2\.4\.2\ncompatible=true\ntable<<(EOF_[0-9a-f-]+)\na\nb\n\1\n$/,
    );
  } finally {
    if (previous === undefined) Deno.env.delete("GITHUB_OUTPUT");
    else Deno.env.set("GITHUB_OUTPUT", previous);
    await Deno.remove(file);
  }
});

Deno.test("markdownTable() escapes pipes", () => {
  assert.equal(
    markdownTable(["a", "b"], [["x|y", "z"]]),
    "| a | b |\n| --- | --- |\n| x\\|y | z |\n",
  );
});
