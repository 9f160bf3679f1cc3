import assert from "node:assert/strict";
import fc from "fast-check";
import { InputError } from "../../lib/core/errors.ts";
import {
  arch,
  compareMajorMinor,
  compareZfsTags,
  imageRef,
  imageTag,
  kernelMajorMinor,
  kernelVersion,
  toImageTag,
  toZfsTag,
  zfsTag,
  zfsVersionOf,
} from "../../lib/core/patterns.ts";

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
    ["arch", arch, "x86-64"],
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

Deno.test("imageRef() follows the distribution spec's name rules and limits", async (t) => {
  const rejects: [string, string, RegExp][] = [
    ["a port out of range", "localhost:99999/x:y", /port 99999 is out of range \(1-65535\)/],
    ["port 0", "127.0.0.1:0/x:y", /port 0 is out of range/],
    ["an upper-case path", "UPPER/case:tag", /path component "UPPER" is not lower-case/],
    ["a tag starting with a dot", "quay.io/x:.tag", /the tag is not/],
    ["a 129-character tag", `quay.io/x:${"t".repeat(129)}`, /the tag is not/],
    ["a digest that is not sha256", "quay.io/x@sha512:abc", /sha256:<64 hex digits>/],
    ["a path that climbs", "quay.io/../x:y", /path component "\.\." is not/],
    ["an empty path component", "quay.io//x:y", /path component "" is not/],
    ["a host with a bad character", "qu_ay.io/x:y", /registry host "qu_ay\.io" is not a host/],
    ["a 256-character name", `quay.io/${"a".repeat(248)}:y`, /name is longer than 255/],
    ["empty", "", /empty/],
  ];
  for (const [name, value, message] of rejects) {
    await t.step(name, () =>
      assert.throws(
        () => imageRef(value),
        (e: unknown) => e instanceof InputError && message.test(e.message),
      ));
  }
  await t.step("a 255-character name and separators __ and -- are fine", () => {
    const name = `quay.io/${"a".repeat(247)}`;
    assert.equal(name.length, 255);
    assert.equal(imageRef(`${name}:y`), `${name}:y`);
    assert.equal(imageRef("quay.io/a__b--c.d/e:f"), "quay.io/a__b--c.d/e:f");
    assert.equal(imageRef("[::1]:5000/x:y"), "[::1]:5000/x:y");
  });
});

Deno.test("imageRef() refuses a 100,000-character reference at once, with a short message", () => {
  for (
    const value of [
      `quay.io/${"a".repeat(100_000)}:y`,
      `${"a-".repeat(50_000)}!`,
      `quay.io/${"a.".repeat(50_000)}`,
      `x:${"1".repeat(100_000)}`,
    ]
  ) {
    const started = performance.now();
    assert.throws(
      () => imageRef(value),
      (e: unknown) => e instanceof InputError && e.message.length < 300,
    );
    // Not a timing claim about speed, only "did not backtrack for seconds".
    assert.ok(performance.now() - started < 1000);
  }
});

Deno.test("imageRef() accepts well-formed names, and nothing with shell or upper case in the path", () => {
  // No "." in a component: a first component with a dot would be read as a registry host.
  const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:(?:_|__|-+)[a-z0-9]{1,8}){0,2}$/);
  const host = fc.constantFrom("", "quay.io/", "localhost:5000/", "127.0.0.1:65535/");
  fc.assert(
    fc.property(host, fc.array(component, { minLength: 1, maxLength: 4 }), (h, parts) => {
      const ref = `${h}${parts.join("/")}:tag`;
      if (ref.length - 4 > 255) return;
      assert.equal(imageRef(ref), ref);
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (value) => {
      try {
        imageRef(value);
        // Shell characters nowhere; upper case not in the path (a tag may have it: "a:A").
        assert.doesNotMatch(value, /[\s;$`'"\\]/);
        const path = value.replace(/^[^/]*[.:][^/]*\//, "").replace(/@.*$/, "").replace(
          /:[^/]*$/,
          "",
        );
        assert.doesNotMatch(path, /[A-Z]/);
      } catch (error) {
        assert.ok(error instanceof InputError);
      }
    }),
  );
});

Deno.test("arch() takes the OCI names amd64 and arm64 as aliases", () => {
  assert.equal(arch("amd64"), "x86_64");
  assert.equal(arch("arm64"), "aarch64");
  assert.equal(arch("x86_64"), "x86_64");
  assert.throws(() => arch("toString"), InputError);
  assert.throws(() => arch("AMD64"), /amd64, arm64 accepted/);
});

Deno.test("toImageTag() prefixes a bare ZFS version in a kmods tag, alone or in a reference", () => {
  assert.equal(
    toImageTag("2.4.4_kernel-6.17.7-300.fc43.x86_64"),
    "zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64",
  );
  assert.equal(
    toImageTag("ghcr.io/o/n:2.4.4_kernel-6.17.7-300.fc43.x86_64"),
    "ghcr.io/o/n:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64",
  );
  assert.equal(toImageTag("zfs-2.4.4_kernel-6.17.7"), "zfs-2.4.4_kernel-6.17.7");
  assert.equal(toImageTag("localhost:5000/x:latest"), "localhost:5000/x:latest");
});
