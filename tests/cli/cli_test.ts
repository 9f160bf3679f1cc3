import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import {
  assertOutputsWritable,
  describeOption,
  escapeMarkdown,
  kmodsImageArgument,
  markdownTable,
  problemLine,
  runTask,
  sanitizeTerminal,
  targetImageArgument,
  taskCommand,
  textTable,
  userPath,
  wholeNumber,
  writeGithubOutput,
} from "../../lib/cli/cli.ts";
import { CheckError, InputError, RemoteError, UsageError } from "../../lib/core/errors.ts";
import { cellText, renderResult, timeText, verdictLine } from "../../lib/cli/render.ts";
import { runTaskFile } from "../helpers/run_task.ts";
import { withServer } from "../helpers/server.ts";

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

Deno.test("markdownTable() makes hostile cells inert: no image, link, HTML, code or new row", () => {
  const hostile =
    "![x](https://evil.example/p.png) [click](javascript:x) <img src=x> `code`\n| a |";
  const table = markdownTable(["tag"], [[hostile]]);
  const cell = table.split("\n")[2]!;
  assert.equal(table.split("\n").length, 4, "one header, one rule, one row");
  assert.ok(cell.startsWith("| ") && cell.endsWith(" |"));
  // Every character that opens an image, link, HTML tag, code span or cell is escaped.
  assert.doesNotMatch(cell.slice(2, -2), /(?<!\\)[![\]<>`|]/);
  assert.equal(
    escapeMarkdown("![x](u) <b> *a* _b_ ~c~ &amp;"),
    "\\!\\[x\\](u) \\<b\\> \\*a\\* \\_b\\_ \\~c\\~ \\&amp;",
  );
});

Deno.test("escapeMarkdown() keeps tags readable: zfs-2.4.2_kernel-… stays as it is", () => {
  const tag = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
  assert.equal(escapeMarkdown(tag), tag);
  assert.equal(escapeMarkdown("# heading"), "\\# heading");
  assert.equal(escapeMarkdown("1. item"), "1\\. item");
  assert.equal(escapeMarkdown("a\x1b[31mred\x1b[0m\r\nb"), "ared b");
});

Deno.test("sanitizeTerminal() shows control and bidi characters escaped, on one line", () => {
  // Colour only styles: dropped. Everything else a terminal would act on is shown.
  assert.equal(sanitizeTerminal("\x1b[2J\x1b[31mred\x1b[0m"), "\\x1b[2Jred");
  assert.equal(sanitizeTerminal("\x1b]0;pwned title\x07ok"), "\\x1b]0;pwned title\\x07ok");
  assert.equal(sanitizeTerminal("over\rwrite\x08\x00\x7f\x9b"), "over\\rwrite\\x08\\x00\\x7f\\x9b");
  assert.equal(sanitizeTerminal("a\u202eb\u2066c"), "a\\u202eb\\u2066c");
  assert.equal(sanitizeTerminal("line 1\nline 2\tx"), "line 1\\nline 2\tx");
});

Deno.test("textTable() strips control characters and handles 200,000 rows", () => {
  assert.equal(
    textTable(["a", "b"], [["\x1b[31mx\x1b[0m", "y\nz"]]),
    "a  b\nx  y z",
  );
  const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), "v"]);
  const text = textTable(["n", "value"], rows);
  assert.equal(text.split("\n").length, 200_001);
  assert.match(text, /^199999 {2}v$/m);
  const markdown = markdownTable(["n", "value"], rows);
  assert.equal(markdown.split("\n").length, 200_003);
});

Deno.test("wholeNumber() with a maximum names the accepted range", () => {
  const limit = wholeNumber("limit", 1, 1000);
  assert.equal(limit("1000"), 1000);
  for (const bad of ["1001", "99999999999999999999999", "1e3", " 5"]) {
    assert.throws(
      () => limit(bad),
      (e: unknown) => e instanceof UsageError && /from 1 to 1000/.test(e.message),
    );
  }
  assert.throws(() => wholeNumber("days", 0)("9".repeat(100000)), UsageError);
});

function withEnv(values: Record<string, string | undefined>, fn: () => void): void {
  const previous = Object.fromEntries(Object.keys(values).map((k) => [k, Deno.env.get(k)]));
  const set = (entries: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(entries)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  };
  set(values);
  try {
    fn();
  } finally {
    set(previous);
  }
}

Deno.test("assertOutputsWritable() names the output file that cannot be written", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string | undefined, string | undefined, RegExp | undefined][] = [
      ["both unset", undefined, undefined, undefined],
      ["both writable", `${dir}/out`, `${dir}/summary`, undefined],
      ["empty means unset", "", "", undefined],
      ["output in a missing folder", `${dir}/no/out`, undefined, /^Cannot write \$GITHUB_OUTPUT: /],
      ["summary is a folder", undefined, dir, /^Cannot write \$GITHUB_STEP_SUMMARY: /],
    ];
    for (const [name, output, summary, error] of cases) {
      await t.step(
        name,
        () =>
          withEnv({ GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary }, () => {
            if (error) {
              assert.throws(
                assertOutputsWritable,
                (e: unknown) => e instanceof UsageError && error.test(e.message),
              );
            } else assertOutputsWritable();
          }),
      );
    }
    await t.step(
      "a failed write later is a CheckError, not a crash",
      () =>
        withEnv({ GITHUB_OUTPUT: `${dir}/no/out` }, () => {
          assert.throws(() => writeGithubOutput({ a: 1 }), CheckError);
        }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("userPath() resolves against INIT_CWD (where deno task was started)", () => {
  withEnv({ INIT_CWD: "/home/user/project" }, () => {
    assert.equal(userPath("rpms"), "/home/user/project/rpms");
    assert.equal(userPath("/tmp/x"), "/tmp/x");
  });
  withEnv({ INIT_CWD: "relative/ignored" }, () => {
    assert.equal(userPath("rpms"), `${Deno.cwd()}/rpms`);
  });
  withEnv({ INIT_CWD: undefined }, () => assert.equal(userPath("a/../b"), `${Deno.cwd()}/b`));
});

Deno.test("problemLine() is a plain line off Actions and an escaped annotation under them", () => {
  assert.equal(problemLine("warning", "50% done", undefined, false), "warning: 50% done");
  assert.equal(problemLine("error", "bad\nthing", undefined, false), "error: bad\\nthing");
  assert.equal(
    problemLine("warning", "50% done\r\nnext\x1b]0;t\x07", "Pin: a,\nb", true),
    "::warning title=Pin%3A a%2C\\nb::50%25 done\\r\\nnext\\x1b]0;t\\x07",
  );
  assert.equal(problemLine("error", "x", undefined, true), "::error::x");
});

Deno.test("runTask() reports an error as an ::error:: annotation under GitHub Actions", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => lines.push(line);
  const previous = Deno.env.get("GITHUB_ACTIONS");
  try {
    Deno.env.set("GITHUB_ACTIONS", "true");
    assert.equal(await runTask(() => Promise.reject(new CheckError("No RPMs in x\ny"))), 1);
    Deno.env.set("GITHUB_ACTIONS", "false");
    assert.equal(await runTask(() => Promise.reject(new UsageError("bad flag"))), 2);
  } finally {
    console.error = original;
    if (previous === undefined) Deno.env.delete("GITHUB_ACTIONS");
    else Deno.env.set("GITHUB_ACTIONS", previous);
  }
  assert.deepEqual(lines, ["::error::No RPMs in x\\ny", "error: bad flag"]);
});

Deno.test("describeOption() writes choices, defaults and variables one way", () => {
  assert.equal(
    describeOption({ description: "folder", defaultValue: "./rpms" }),
    "folder (default: ./rpms)",
  );
  assert.equal(describeOption({ description: "a switch", defaultValue: false }), "a switch");
  assert.equal(
    describeOption({ description: "mode", argChoices: ["a", "b"], envVar: "MODE" }),
    "mode (one of: a, b; env: MODE)",
  );
  assert.equal(
    describeOption({ description: "n", defaultValue: 5, defaultValueDescription: "five" }),
    "n (default: five)",
  );
});

Deno.test("kmodsImageArgument() takes kmods tags and refuses target images with a hint", () => {
  const kmods = "ghcr.io/o/kmods:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64";
  assert.equal(kmodsImageArgument(kmods), kmods);
  assert.equal(
    kmodsImageArgument(`${kmods}@sha256:${"a".repeat(64)}`),
    `${kmods}@sha256:${"a".repeat(64)}`,
  );
  assert.equal(
    kmodsImageArgument("localhost:5000/k:zfs-2.4.2_kernel-6.15.4"),
    "localhost:5000/k:zfs-2.4.2_kernel-6.15.4",
  );
  // pinned by digest alone: one exact image, taken as the kmods image
  const pinned = `ghcr.io/o/kmods@sha256:${"b".repeat(64)}`;
  assert.equal(kmodsImageArgument(pinned), pinned);
  for (
    const target of [
      "quay.io/fedora/fedora-coreos:stable",
      "quay.io/fedora/fedora-coreos",
      `quay.io/fedora/fedora-coreos:stable@sha256:${"a".repeat(64)}`,
      "localhost:5000/zfs-2.4.2_kernel-6.15.4",
      "quay.io/x:zfs-2.4_kernel-6.15.4",
    ]
  ) {
    assert.throws(() => kmodsImageArgument(target), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /^Not a kmods image: .*use --image /);
      return true;
    }, target);
  }
  assert.throws(() => kmodsImageArgument("quay.io/x:$(id)"), UsageError);
});

Deno.test("renderResult() states a result once for every channel", async (t) => {
  const result = {
    values: { "zfs-tag": "zfs-2.4.4", compatible: true, targets: [{ a: 1 }], gone: null },
    outputs: ["zfs-tag", "compatible", "targets"],
    lines: ["✓ verdict"],
    table: { header: ["name", "value"], rows: [["zfs release", "zfs-2.4.4"]] },
    summaryTitle: "### Title",
    warnings: [{ message: "newer release | unpinned", title: "Not pinned" }],
    errors: ["broken\x1b[31m"],
    notes: ["pin this"],
  };
  await t.step("terminal: lines, then the table; stderr: warnings, errors, notes", () => {
    const out = renderResult(result, { actions: false });
    assert.equal(out.stdout, "✓ verdict\nname         value\nzfs release  zfs-2.4.4");
    assert.deepEqual(out.stderr, [
      "warning: newer release | unpinned",
      "error: broken",
      "pin this",
    ]);
    assert.equal(out.githubOutput, undefined);
    assert.equal(out.stepSummary, undefined);
  });
  await t.step("--json: the values, with their kebab-case keys", () => {
    const out = renderResult(result, { json: true, actions: false });
    assert.deepEqual(JSON.parse(out.stdout), result.values);
  });
  await t.step("--github-output: the named outputs (lists as JSON) and a Markdown summary", () => {
    const out = renderResult(result, { githubOutput: true, actions: true });
    assert.deepEqual(out.githubOutput, {
      "zfs-tag": "zfs-2.4.4",
      compatible: true,
      targets: '[{"a":1}]',
    });
    assert.equal(
      out.stepSummary,
      "### Title\n\n| name | value |\n| --- | --- |\n| zfs release | zfs-2.4.4 |\n",
    );
    assert.equal(out.stderr[0], "::warning title=Not pinned::newer release | unpinned");
    assert.equal(out.stderr[1], "::error::broken");
  });
  await t.step("without lines or a table: the values as name/value rows", () => {
    const out = renderResult({ values: { a: "1", b: true } }, { actions: false });
    assert.equal(out.stdout, "a  1\nb  true");
  });
});

Deno.test("verdictLine() leads with ✓ or ✗ and the comparison", () => {
  const base = { zfsTag: "zfs-2.4.4", kernel: "6.17.7-300.fc43.x86_64", kernelMajorMinor: "6.17" };
  assert.equal(
    verdictLine({ ...base, maxKernel: "7.2", compatible: true }),
    "✓ zfs-2.4.4 supports 6.17.7-300.fc43.x86_64 (6.17 ≤ 7.2)",
  );
  assert.equal(
    verdictLine({
      ...base,
      kernelMajorMinor: "7.3",
      kernel: "7.3.1",
      maxKernel: "7.2",
      compatible: false,
    }),
    "✗ zfs-2.4.4 does not support 7.3.1 (7.3 > 7.2)",
  );
  assert.equal(
    verdictLine({
      ...base,
      kernelMajorMinor: "4.1",
      kernel: "4.1",
      maxKernel: "7.2",
      minKernel: "4.18",
      compatible: false,
    }),
    "✗ zfs-2.4.4 does not support 4.1 (4.1 < 4.18, its min kernel)",
  );
  // in range but not compatible (no sha256 pinned): never a false "6.17 > 7.2"
  assert.equal(
    verdictLine({ ...base, maxKernel: "7.2", compatible: false }),
    "✗ zfs-2.4.4 supports 6.17.7-300.fc43.x86_64 (6.17 ≤ 7.2), but matrix.yaml pins no sha256 " +
      "for zfs-2.4.4",
  );
  assert.match(
    verdictLine({ ...base, maxKernel: null, compatible: false }),
    /^✗ .*not in matrix\.yaml/,
  );
});

Deno.test("timeText() prints every time one way, in UTC", () => {
  assert.equal(timeText("2025-11-20T04:05:06Z"), "2025-11-20 04:05 UTC");
  assert.equal(timeText("2025-11-20T06:05:06.5+02:00"), "2025-11-20 04:05 UTC");
  assert.equal(timeText("yesterday"), "yesterday");
});

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** `deno task <args>` started in `cwd`, as a user would (INIT_CWD is set by deno task itself). */
async function denoTaskIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", ...args],
    cwd,
    clearEnv: true, // an INIT_CWD inherited from `deno task test` would win over deno task's own
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      NO_COLOR: "1",
      HTTP_RETRIES: "0",
      PODMAN_TIMEOUT_MS: "5000",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("relative paths are relative to where deno task was started, not the project", async (t) => {
  await Deno.mkdir(`${ROOT}tests/fixtures/out`, { recursive: true });
  const sub = await Deno.makeTempDir({ dir: `${ROOT}tests/fixtures/out`, prefix: "init-cwd-" });
  try {
    // A matrix whose every image is a closed port: nothing reaches the internet.
    const matrix = (await Deno.readTextFile(`${ROOT}matrix.yaml`))
      .replace(/\b(?:quay\.io|ghcr\.io)\//g, "127.0.0.1:1/");
    await Deno.writeTextFile(`${sub}/closed.yaml`, matrix);
    // zfs-2.4.2 with max kernel 6.1: only this file says 6.17 is too new.
    await Deno.writeTextFile(
      `${sub}/old.yaml`,
      matrix.replace(/(tag: zfs-2\.4\.2\n\s+max-kernel: )"7\.0"/, '$1"6.1"'),
    );

    await t.step("MATRIX_FILE", async () => {
      const args = ["check-compatibility", "--zfs", "zfs-2.4.2", "--kernel", "6.17"];
      const here = await denoTaskIn(sub, args, { MATRIX_FILE: "old.yaml" });
      assert.equal(here.code, 1, here.stderr);
      assert.match(here.stderr, /zfs-2\.4\.2 does not support 6\.17 \(6\.17 > 6\.1\)/);
      const missing = await denoTaskIn(sub, args, { MATRIX_FILE: "nope.yaml" });
      assert.equal(missing.code, 2, missing.stderr);
      assert.ok(missing.stderr.includes(`${sub}/nope.yaml`), missing.stderr);
    });

    await t.step("--dest of extract-rpms", async () => {
      const image = "127.0.0.1:1/kmods:zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
      const result = await denoTaskIn(sub, ["extract-rpms", image, "--dest", "rpms"], {
        MATRIX_FILE: "closed.yaml",
      });
      assert.equal(result.code, 1, result.stderr); // nothing to pull from a closed port
      assert.ok((await Deno.stat(`${sub}/rpms`)).isDirectory, "created where deno task started");
      assert.equal(await Deno.stat(`${ROOT}rpms`).catch(() => undefined), undefined);
    });

    await t.step("--containerfile, --secret-key and --secret-cert of build", async () => {
      await Deno.writeTextFile(`${sub}/Containerfile`, "FROM scratch\n");
      await Deno.writeTextFile(`${sub}/key.pem`, "key\n");
      await Deno.writeTextFile(`${sub}/cert.der`, "cert\n");
      const build = (args: string[]) =>
        denoTaskIn(sub, ["build", "--dry-run", ...args], { MATRIX_FILE: "closed.yaml" });
      for (
        const [args, missing] of [
          [["--containerfile", "nope"], "--containerfile"],
          [["--secret-key", "nope", "--secret-cert", "cert.der"], "--secret-key"],
          [["--secret-key", "key.pem", "--secret-cert", "nope"], "--secret-cert"],
        ] as const
      ) {
        const result = await build([...args]);
        assert.equal(result.code, 2, result.stderr);
        assert.ok(
          result.stderr.includes(`${missing} is not a readable file: ${sub}/nope`),
          result.stderr,
        );
      }
      // All three found in the folder: the build goes on to discovery (a closed port: exit 1).
      const found = await build([
        "--containerfile",
        "Containerfile",
        "--secret-key",
        "key.pem",
        "--secret-cert",
        "cert.der",
      ]);
      assert.equal(found.code, 1, found.stderr);
      assert.doesNotMatch(found.stderr, /not a readable file/);
      assert.match(found.stderr, /127\.0\.0\.1:1/);
    });
  } finally {
    await Deno.remove(sub, { recursive: true });
  }
});

Deno.test("targetImageArgument() refuses a kmods image with the hint to pass it as the argument", () => {
  const kmods = "ghcr.io/o/n:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64";
  for (const ref of [kmods, `${kmods}@sha256:${"a".repeat(64)}`]) {
    assert.throws(() => targetImageArgument(ref), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /is a kmods image: pass it as the argument \(deno task list-rpms /);
      return true;
    });
  }
  assert.equal(
    targetImageArgument("quay.io/fedora/fedora-coreos:stable"),
    "quay.io/fedora/fedora-coreos:stable",
  );
  // a registry port is not a tag
  assert.equal(targetImageArgument("localhost:5000/fcos"), "localhost:5000/fcos");
});

Deno.test("list-rpms and extract-rpms --image <kmods image>: exit 2 with the hint, nothing read", async (t) => {
  await withServer(() => new Response("no", { status: 500 }), async (registry) => {
    const host = new URL(registry.url).host;
    const kmods = `${host}/o/n:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64`;
    for (const file of ["list_rpms.ts", "extract_rpms.ts"]) {
      await t.step(file, async () => {
        const result = await runTaskFile(
          file,
          ["--image", kmods, "--dest", "x"].slice(
            0,
            file === "list_rpms.ts" ? 2 : 4,
          ),
        );
        assert.equal(result.code, 2, result.stderr);
        assert.equal(
          result.stderr,
          `error: ${kmods} is a kmods image: pass it as the argument (deno task list-rpms ` +
            `${kmods}); --image takes the target image the modules are built for\n`,
        );
        assert.equal(registry.requests.length, 0);
      });
    }
  });
});

Deno.test("cellText() is yes/no for booleans and - for nothing", () => {
  assert.equal(cellText(true), "yes");
  assert.equal(cellText(false), "no");
  assert.equal(cellText(""), "-");
  assert.equal(cellText(null), "-");
  assert.equal(cellText(undefined), "-");
  assert.equal(cellText("zfs-2.4.4"), "zfs-2.4.4");
});
