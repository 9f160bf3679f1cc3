import assert from "node:assert/strict";
import fc from "fast-check";
import { CheckError, InputError } from "../../lib/core/errors.ts";
import { parseMatrix } from "../../lib/matrix/matrix_schema.ts";
import {
  addRelease,
  describeDifferences,
  matrixReport,
  type ReleaseEntry,
  releaseFromSource,
} from "../../lib/matrix/matrix_edit.ts";
import { trackedSeries } from "../../lib/matrix/matrix.ts";
import { compareZfsTags, seriesOfTag } from "../../lib/core/patterns.ts";
import { insertedLines } from "../helpers/zfs_tarballs.ts";

// A fixed copy (unpinned entries, series comments): the repository's matrix.yaml changes.
const original = await Deno.readTextFile(new URL("../fixtures/matrix_edit.yaml", import.meta.url));
const SHA = "ab".repeat(32);

function entry(tag: string, maxKernel = "7.3"): ReleaseEntry {
  return { tag, "max-kernel": maxKernel, "min-kernel": "4.18", sha256: SHA };
}

const entryLines = (tag: string, max = "7.3") => [
  `    - tag: ${tag}`,
  `      max-kernel: "${max}"`,
  `      min-kernel: "4.18"`,
  `      sha256: ${SHA}`,
];

Deno.test("addRelease() inserts a new entry in version order and changes no other line", async (t) => {
  const cases: [string, string, string][] = [
    // tag, the line before the new entry, the line after it
    ["zfs-2.4.9", '      max-kernel: "7.2"', ""],
    ["zfs-2.3.10", '      max-kernel: "7.2"', "    # 2.4"],
    ["zfs-2.5.0", '      max-kernel: "7.2"', ""],
    ["zfs-2.2.6", "    # 2.2", "    - tag: zfs-2.2.7"],
  ];
  for (const [tag, before, after] of cases) {
    await t.step(tag, () => {
      const result = addRelease(original, entry(tag));
      assert.equal(result.change, "added");
      assert.deepEqual(insertedLines(original, result.text), entryLines(tag));
      const lines = result.text.split("\n");
      const at = lines.indexOf(`    - tag: ${tag}`);
      assert.equal(lines[at - 1], before);
      assert.equal(lines[at + 4], after);
      const releases = parseMatrix(result.text).zfs.releases.map((r) => r.tag);
      assert.deepEqual(releases, [...releases].sort(compareZfsTags), "still in version order");
    });
  }
  await t.step("a new first release of a series takes the series comment with it", () => {
    const withoutFirst = original.replace(
      / {4}# 2\.4\n {4}- tag: zfs-2\.4\.0\n {6}max-kernel: "6\.18"\n {6}sha256: [0-9a-f]+\n/,
      "    # 2.4\n",
    );
    assert.notEqual(withoutFirst, original);
    const result = addRelease(withoutFirst, entry("zfs-2.4.0", "6.18"));
    const lines = result.text.split("\n");
    const at = lines.indexOf("    - tag: zfs-2.4.0");
    assert.equal(lines[at - 1], "    # 2.4");
    assert.equal(lines[at + 4], "    - tag: zfs-2.4.1");
    assert.deepEqual(insertedLines(withoutFirst, result.text), entryLines("zfs-2.4.0", "6.18"));
  });
  await t.step("10 sorts after 9", () => {
    const nine = addRelease(original, entry("zfs-2.4.9")).text;
    const ten = addRelease(nine, entry("zfs-2.4.10")).text;
    const lines = ten.split("\n");
    assert.ok(lines.indexOf("    - tag: zfs-2.4.10") > lines.indexOf("    - tag: zfs-2.4.9"));
  });
});

Deno.test("addRelease() of the same values changes nothing", () => {
  const once = addRelease(original, entry("zfs-2.4.9")).text;
  const twice = addRelease(once, entry("zfs-2.4.9"));
  assert.equal(twice.change, "unchanged");
  assert.equal(twice.text, once);
  assert.deepEqual(twice.differences, []);
});

Deno.test("addRelease() completes an entry that lacks min-kernel or sha256", () => {
  const result = addRelease(original, entry("zfs-2.4.4", "7.2"));
  assert.equal(result.change, "completed");
  assert.deepEqual(insertedLines(original, result.text), entryLines("zfs-2.4.4", "7.2").slice(2));
});

Deno.test("addRelease() refuses different values unless forced, and says what differs", () => {
  const refused = addRelease(original, entry("zfs-2.4.2", "7.1"));
  assert.equal(refused.change, "conflict");
  assert.equal(refused.text, original);
  assert.deepEqual(describeDifferences(refused.differences), [
    'max-kernel: "7.0" → "7.1"',
    'min-kernel: (none) → "4.18"',
    `sha256: "d03c3edd320993bb04d6ec2c8c7300b87487c7b10ff5742f13a437a5164ba718" → "${SHA}"`,
  ]);
  const forced = addRelease(original, entry("zfs-2.4.2", "7.1"), { force: true });
  assert.equal(forced.change, "replaced");
  const release = parseMatrix(forced.text).zfs.releases.find((r) => r.tag === "zfs-2.4.2");
  assert.deepEqual(release, entry("zfs-2.4.2", "7.1"));
  // Only the three lines of that entry differ; the kernel stays quoted.
  const changed = forced.text.split("\n").filter((line, i) => line !== original.split("\n")[i]);
  assert.deepEqual(changed.slice(0, 2), ['      max-kernel: "7.1"', '      min-kernel: "4.18"']);
});

Deno.test("addRelease() refuses a matrix.yaml that is already invalid", () => {
  assert.throws(
    () => addRelease(original.replace('series: "2.4"', "series: two"), entry("zfs-2.4.9")),
    InputError,
  );
});

Deno.test("addRelease() keeps every original line, in order, whatever releases are added", () => {
  const tag = fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 0, max: 5 }), fc.nat(30))
    .map(([a, b, c]) => `zfs-${a}.${b}.${c}`);
  fc.assert(
    fc.property(fc.uniqueArray(tag, { maxLength: 8 }), (tags) => {
      let text = original;
      for (const t of tags) {
        const result = addRelease(text, entry(t));
        assert.notEqual(result.change, "replaced");
        text = result.text;
      }
      // The original lines are a subsequence of the result: nothing removed or rewritten...
      const lines = text.split("\n");
      let i = 0;
      for (const line of original.split("\n")) {
        while (i < lines.length && lines[i] !== line) i++;
        assert.ok(i < lines.length, `lost line ${JSON.stringify(line)}`);
        i++;
      }
      // ...and the releases stay in version order.
      const releases = parseMatrix(text).zfs.releases.map((r) => r.tag);
      assert.deepEqual(releases, [...releases].sort(compareZfsTags));
    }),
    { numRuns: 60 },
  );
});

Deno.test("releaseFromSource() takes the kernel range from META and rejects what is wrong", async (t) => {
  const url = "http://127.0.0.1:1/zfs-2.4.9.tar.gz";
  const meta = { name: "zfs", version: "2.4.9", linuxMinimum: "4.18", linuxMaximum: "7.3" };
  assert.deepEqual(releaseFromSource("zfs-2.4.9", { url, sha256: SHA, meta }), entry("zfs-2.4.9"));
  const bad: [string, Parameters<typeof releaseFromSource>[1]["meta"], string][] = [
    ["no META", undefined, "No META file at the top of"],
    ["no Linux-Maximum", { ...meta, linuxMaximum: undefined }, "has no Linux-Maximum"],
    ["malformed Linux-Maximum", { ...meta, linuxMaximum: "7.x" }, 'Linux-Maximum is "7.x"'],
    ["malformed Linux-Minimum", { ...meta, linuxMinimum: "four" }, 'Linux-Minimum is "four"'],
    ["another version", { ...meta, version: "2.4.8" }, 'Version "2.4.8", not 2.4.9'],
    ["no Version", { ...meta, version: undefined }, "has no Version"],
    ["another project's Name", { ...meta, name: "spl" }, 'Name "spl", not "zfs"'],
    ["no Name", { ...meta, name: undefined }, 'Name null, not "zfs"'],
  ];
  for (const [name, m, message] of bad) {
    await t.step(name, () => {
      assert.throws(
        () => releaseFromSource("zfs-2.4.9", { url, sha256: SHA, meta: m }),
        (error: unknown) =>
          error instanceof CheckError && error.message.includes(message) &&
          error.message.includes(url),
      );
    });
  }
});

Deno.test("matrixReport() lists published releases of the tracked series that are missing", () => {
  const matrix = parseMatrix(original);
  const release = (tag_name: string, extra = {}) => ({
    tag_name,
    draft: false,
    prerelease: false,
    ...extra,
  });
  const report = matrixReport(matrix, [
    release("zfs-2.4.10"),
    release("zfs-2.4.5"),
    release("zfs-2.4.6", { draft: true }),
    release("zfs-2.4.7-rc1", { prerelease: true }),
    release("zfs-2.5.0-rc1", { prerelease: true }),
    release("zfs-2.3.10"), // another series
    release("zfs-2.4.4"), // already listed
    release("zfs-2.4.5"), // duplicate
  ]);
  assert.deepEqual(report, {
    series: ["2.4"],
    missing: ["zfs-2.4.5", "zfs-2.4.10"],
    unpinned: [
      "zfs-2.2.9",
      "zfs-2.2.10",
      "zfs-2.2.11",
      "zfs-2.3.6",
      "zfs-2.3.7",
      "zfs-2.3.8",
      "zfs-2.3.9",
      "zfs-2.4.3",
      "zfs-2.4.4",
    ],
  });
});

Deno.test("trackedSeries() adds the series an enabled target overrides", () => {
  const matrix = parseMatrix(original);
  matrix.targets[1]!.series = "2.3";
  assert.deepEqual(trackedSeries(matrix), ["2.4"]); // that target is disabled
  matrix.targets[1]!.enabled = true;
  assert.deepEqual(trackedSeries(matrix), ["2.4", "2.3"]);
  assert.equal(seriesOfTag("zfs-2.3.10"), "2.3");
});
