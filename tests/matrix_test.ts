import assert from "node:assert/strict";
import { defaultTarget, findRelease, loadMatrix } from "../lib/matrix.ts";
import { parseMatrix } from "../lib/matrix_schema.ts";
import { InputError } from "../lib/errors.ts";

const text = await Deno.readTextFile(new URL("../matrix.yaml", import.meta.url));

Deno.test("matrix.yaml in the repository is valid and knows every release of 2.2, 2.3 and 2.4", async () => {
  const matrix = await loadMatrix();
  assert.equal(findRelease(matrix, "zfs-2.4.2")?.sha256?.slice(0, 8), "d03c3edd");
  assert.equal(findRelease(matrix, "zfs-2.3.9")?.["max-kernel"], "7.2");
  assert.equal(matrix.zfs.releases.length, 20);
  assert.equal(defaultTarget(matrix).image, "quay.io/fedora/fedora-coreos:stable");
});

Deno.test("parseMatrix() names the file, the line and what is wrong", async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      "a max kernel that is not N.N",
      text.replace('max-kernel: "7.2"', 'max-kernel: "7.x"'),
      /^Cannot parse m\.yaml:\d+: "zfs\.releases\.\d+\.max-kernel" is not a kernel major\.minor/,
    ],
    ["a missing key", text.replace('series: "2.4"\n', ""), /m\.yaml:\d+: "zfs\.series" is missing/],
    [
      "a duplicate release",
      text.replace("tag: zfs-2.4.3", "tag: zfs-2.4.2"),
      /m\.yaml:\d+: duplicate release zfs-2\.4\.2 \(first at line \d+\)/,
    ],
    [
      "a sha256 that is not 64 hex",
      text.replace("sha256: d03c", "sha256: zz"),
      /m\.yaml:\d+: "zfs\.releases\.\d+\.sha256" is not 64 lower-case hex/,
    ],
    ["YAML syntax", `${text}\n  bad: [`, /m\.yaml:\d+: /],
    [
      "an unknown key",
      text.replace("enabled: true", "enabled: true\n    colour: red"),
      /m\.yaml:\d+: /,
    ],
  ];
  for (const [name, bad, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => parseMatrix(bad, "m.yaml"),
        (e) => e instanceof InputError && pattern.test(e.message),
      );
    });
  }
});

Deno.test("parseMatrix() reports the line of the offending entry", () => {
  const bad = text.replace('max-kernel: "7.2"', 'max-kernel: "7.x"');
  const line = bad.split("\n").findIndex((l) => l.includes('"7.x"')) + 1;
  assert.throws(
    () => parseMatrix(bad, "m.yaml"),
    (e: Error) => e.message.includes(`m.yaml:${line}:`),
  );
});
