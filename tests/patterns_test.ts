import assert from "node:assert/strict";
import { InputError } from "../lib/errors.ts";
import {
  arch,
  compareMajorMinor,
  compareZfsTags,
  imageRef,
  imageTag,
  kernelMajorMinor,
  kernelVersion,
  toZfsTag,
  zfsTag,
  zfsVersionOf,
} from "../lib/patterns.ts";

Deno.test("compareMajorMinor() compares numerically: 7.0 > 6.19 > 6.9", () => {
  assert.ok(compareMajorMinor("7.0", "6.19") > 0);
  assert.ok(compareMajorMinor("6.19", "6.9") > 0);
  assert.ok(compareMajorMinor("6.9", "6.19") < 0);
  assert.equal(compareMajorMinor("6.17", "6.17"), 0);
});

Deno.test("compareZfsTags() orders releases numerically", () => {
  const sorted = ["zfs-2.2.10", "zfs-2.4.0", "zfs-2.2.9", "zfs-2.3.10", "zfs-2.3.9"].sort(
    compareZfsTags,
  );
  assert.deepEqual(sorted, ["zfs-2.2.9", "zfs-2.2.10", "zfs-2.3.9", "zfs-2.3.10", "zfs-2.4.0"]);
});

Deno.test("kernelMajorMinor() takes a full kernel version or a major.minor", () => {
  assert.equal(kernelMajorMinor("6.17.7-300.fc43.x86_64"), "6.17");
  assert.equal(kernelMajorMinor("7.0.1-100.fc44.aarch64"), "7.0");
  assert.equal(kernelMajorMinor("6.18"), "6.18");
});

Deno.test("imageTag() builds zfs-<zfs-version>_kernel-<kernel-version>", () => {
  assert.equal(
    imageTag("2.4.2", "6.15.4-200.fc42.x86_64"),
    "zfs-2.4.2_kernel-6.15.4-200.fc42.x86_64",
  );
  assert.equal(zfsVersionOf("zfs-2.4.2"), "2.4.2");
  assert.equal(toZfsTag("2.4.2"), "zfs-2.4.2");
  assert.equal(toZfsTag("zfs-2.4.2"), "zfs-2.4.2");
});

Deno.test("strict patterns reject shell characters and near misses", async (t) => {
  const rejects: [string, (v: string) => unknown, string][] = [
    ["ZFS tag with a command", zfsTag, "zfs-2.x; rm -rf /"],
    ["ZFS tag with a suffix", zfsTag, "zfs-2.4.2-rc1"],
    ["ZFS tag with a newline", zfsTag, "zfs-2.4.2\n"],
    ["kernel with a command", kernelVersion, "6.17.7-300.fc43.x86_64;id"],
    ["kernel without arch", kernelVersion, "6.17.7-300.fc43"],
    ["kernel with spaces", kernelMajorMinor, "6.17 "],
    ["image with a command", imageRef, "quay.io/fedora/fedora-coreos:stable$(id)"],
    ["image with upper-case path", imageRef, "quay.io/Fedora/x:1"],
    ["arch", arch, "amd64"],
  ];
  for (const [name, check, value] of rejects) {
    await t.step(name, () => assert.throws(() => check(value), InputError));
  }
});

Deno.test("imageRef() accepts registry hosts with ports, tags and digests", () => {
  for (
    const ref of [
      "quay.io/fedora/fedora-coreos:stable",
      "127.0.0.1:5000/fcos:stable",
      "localhost:5000/a/b@sha256:" + "a".repeat(64),
      "ghcr.io/owner/fedora-zfs-kmods:zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64",
    ]
  ) assert.equal(imageRef(ref), ref);
});
