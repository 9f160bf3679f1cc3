import assert from "node:assert/strict";
import { defaultTarget, findRelease, loadMatrix } from "../../lib/matrix/matrix.ts";
import { DEFAULT_RUNNERS, parseMatrix } from "../../lib/matrix/matrix_schema.ts";
import { InputError } from "../../lib/core/errors.ts";

const text = await Deno.readTextFile(new URL("../../matrix.yaml", import.meta.url));

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

Deno.test("parseMatrix() gives every target a runner: its own, its arch's, else the default", async (t) => {
  const runnerOf = (matrixText: string, name: string) =>
    parseMatrix(matrixText, "m.yaml").targets.find((target) => target.name === name)!.runner;
  const withoutRunners = text.replace(/^runners:\n( {2}.*\n)+/m, "");
  assert.notEqual(withoutRunners, text, "matrix.yaml no longer has a runners section");

  await t.step("defaults: ubuntu-24.04, ubuntu-24.04-arm", () => {
    assert.equal(runnerOf(withoutRunners, "coreos-stable-x86_64"), DEFAULT_RUNNERS.x86_64);
    assert.equal(runnerOf(withoutRunners, "coreos-stable-aarch64"), "ubuntu-24.04-arm");
    assert.equal(DEFAULT_RUNNERS.x86_64, "ubuntu-24.04");
  });
  await t.step("per arch", () => {
    const custom = text.replace("aarch64: ubuntu-24.04-arm", "aarch64: arm64-large");
    assert.equal(runnerOf(custom, "coreos-stable-aarch64"), "arm64-large");
    assert.equal(runnerOf(custom, "coreos-stable-x86_64"), "ubuntu-24.04");
  });
  await t.step("per target, over the arch's", () => {
    const custom = text.replace(
      "name: coreos-testing-x86_64\n",
      "name: coreos-testing-x86_64\n    runner: self-hosted-fedora\n",
    );
    assert.equal(runnerOf(custom, "coreos-testing-x86_64"), "self-hosted-fedora");
    assert.equal(runnerOf(custom, "coreos-stable-x86_64"), "ubuntu-24.04");
  });
  await t.step("a label that is not one, or an unknown arch, is refused with its line", () => {
    for (
      const bad of [
        text.replace("x86_64: ubuntu-24.04\n", 'x86_64: "ubuntu; rm -rf /"\n'),
        text.replace(
          "name: coreos-stable-x86_64\n",
          "name: coreos-stable-x86_64\n    runner: ''\n",
        ),
        text.replace(
          "  aarch64: ubuntu-24.04-arm\n",
          "  aarch64: ubuntu-24.04-arm\n  ppc64le: p\n",
        ),
      ]
    ) {
      assert.throws(
        () => parseMatrix(bad, "m.yaml"),
        (e) =>
          e instanceof InputError && /m\.yaml:\d+: "(runners|targets\.\d+\.runner)/.test(e.message),
      );
    }
  });
});
