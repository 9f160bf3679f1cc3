import assert from "node:assert/strict";
import { checkCompatibility } from "../../lib/matrix/compat.ts";
import { InputError } from "../../lib/core/errors.ts";
import { loadMatrix } from "../../lib/matrix/matrix.ts";
import { parseMatrix } from "../../lib/matrix/matrix_schema.ts";

const matrix = await loadMatrix(new URL("../../matrix.yaml", import.meta.url).pathname);

Deno.test("checkCompatibility() accepts a kernel up to the release's max-kernel", () => {
  const result = checkCompatibility(matrix, "zfs-2.4.2", "7.0");
  assert.equal(result.compatible, true);
  assert.equal(result.known, true);
  assert.equal(result.maxKernel, "7.0");
  assert.equal(checkCompatibility(matrix, "zfs-2.4.2", "6.17.7-300.fc43.x86_64").compatible, true);
});

Deno.test("checkCompatibility() compares major.minor numerically (7.0 > 6.19 > 6.9)", async (t) => {
  await t.step("6.19 is above 6.18", () => {
    assert.equal(checkCompatibility(matrix, "zfs-2.4.0", "6.19").compatible, false);
  });
  await t.step("6.9 is below 6.18 although it sorts after it as text", () => {
    assert.equal(checkCompatibility(matrix, "zfs-2.4.0", "6.9").compatible, true);
  });
  await t.step("7.0 is above 6.19", () => {
    assert.equal(
      checkCompatibility(matrix, "zfs-2.4.1", "7.0.1-100.fc44.x86_64").compatible,
      false,
    );
  });
});

Deno.test("checkCompatibility() names both versions, the max and the newest supporting release", () => {
  const result = checkCompatibility(matrix, "zfs-2.4.0", "6.19.2-200.fc43.x86_64");
  assert.equal(result.compatible, false);
  assert.equal(result.newestSupporting, "zfs-2.4.4");
  for (const part of ["zfs-2.4.0", "6.19.2-200.fc43.x86_64", "6.18", "zfs-2.4.4"]) {
    assert.ok(result.message.includes(part), `${part} in ${result.message}`);
  }
  assert.doesNotMatch(result.message, /no sha256 pinned yet/);
  // Without a pinned sha256 a build would refuse zfs-2.4.4: the message says how to pin it.
  const unpinned = {
    ...matrix,
    zfs: {
      ...matrix.zfs,
      releases: matrix.zfs.releases.map((r) =>
        r.tag === "zfs-2.4.4" ? { tag: r.tag, "max-kernel": r["max-kernel"] } : r
      ),
    },
  };
  assert.match(
    checkCompatibility(unpinned, "zfs-2.4.0", "6.19").message,
    /no sha256 pinned yet: `deno task matrix add zfs-2\.4\.4`/,
  );
  // a supporting release without a sha256 is what build refuses: not compatible either
  const refused = checkCompatibility(unpinned, "zfs-2.4.4", "6.19");
  assert.equal(refused.compatible, false);
  assert.match(
    refused.message,
    /^zfs-2\.4\.4 supports 6\.19 \(6\.19 ≤ .*\), but matrix\.yaml pins no sha256/,
  );
  const pinned = checkCompatibility(matrix, "zfs-2.3.5", "6.19");
  assert.match(pinned.message, /supports it is zfs-2\.4\.4/);
});

Deno.test("checkCompatibility() says no release supports a kernel above every max", () => {
  const result = checkCompatibility(matrix, "zfs-2.4.4", "7.3");
  assert.equal(result.compatible, false);
  assert.equal(result.newestSupporting, undefined);
  assert.match(result.message, /no release in matrix.yaml supports it/);
});

Deno.test("checkCompatibility() fails safe on an unknown release and says how to add it", () => {
  const result = checkCompatibility(matrix, "zfs-2.9.0", "6.1");
  assert.equal(result.known, false);
  assert.equal(result.compatible, false);
  assert.equal(result.maxKernel, null);
  assert.match(result.message, /deno task matrix add zfs-2\.9\.0/);
});

Deno.test("checkCompatibility() picks the newest supporting release across series", () => {
  const small = parseMatrix(`
zfs:
  series: "2.3"
  releases:
    - {tag: zfs-2.3.9, max-kernel: "7.2"}
    - {tag: zfs-2.4.0, max-kernel: "6.18"}
    - {tag: zfs-2.3.5, max-kernel: "6.17"}
targets:
  - {name: a, image: "quay.io/x/y:stable", stream: stable, arch: x86_64, enabled: true}
publish: {image: "ghcr.io/o/i", cache: "ghcr.io/o/c"}
`);
  assert.equal(checkCompatibility(small, "zfs-2.3.5", "7.1").newestSupporting, "zfs-2.3.9");
  assert.equal(checkCompatibility(small, "zfs-2.3.5", "6.18").newestSupporting, "zfs-2.4.0");
});

Deno.test("checkCompatibility() rejects malformed tags and kernels", () => {
  assert.throws(() => checkCompatibility(matrix, "zfs-2.x; rm -rf /", "6.1"), InputError);
  assert.throws(() => checkCompatibility(matrix, "zfs-2.4.2", "six"), InputError);
});

Deno.test("checkCompatibility() refuses a kernel below the release's min-kernel", () => {
  const result = checkCompatibility(matrix, "zfs-2.4.2", "4.14");
  assert.equal(result.compatible, false);
  assert.match(
    result.message,
    /^zfs-2\.4\.2 does not support 4\.14 \(4\.14 < 4\.18, its min kernel\): /,
  );
  assert.equal(checkCompatibility(matrix, "zfs-2.4.2", "4.18").compatible, true);
});

Deno.test("matrix.yaml pins every release with its min-kernel", () => {
  for (const release of matrix.zfs.releases) {
    assert.match(release.sha256 ?? "", /^[0-9a-f]{64}$/, `${release.tag} is pinned`);
    assert.equal(release["min-kernel"], "4.18", release.tag);
  }
});

Deno.test("checkCompatibility() words its verdict the one way of docs/vocabulary.md", () => {
  assert.equal(
    checkCompatibility(matrix, "zfs-2.4.2", "6.18").verdict,
    "✓ zfs-2.4.2 supports 6.18 (6.18 ≤ 7.0)",
  );
  assert.equal(
    checkCompatibility(matrix, "zfs-2.4.2", "7.1.2-200.fc44.x86_64").verdict,
    "✗ zfs-2.4.2 does not support 7.1.2-200.fc44.x86_64 (7.1 > 7.0)",
  );
  assert.equal(
    checkCompatibility(matrix, "zfs-2.4.99", "6.1").verdict,
    "✗ zfs-2.4.99 is not in matrix.yaml: its max kernel is unknown",
  );
});
