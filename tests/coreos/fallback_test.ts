import assert from "node:assert/strict";
import { RemoteError } from "../../lib/core/errors.ts";
import { FALLBACK_MAX_WALK, lastCompatibleRelease } from "../../lib/coreos/fallback.ts";
import { loadMatrix } from "../../lib/matrix/matrix.ts";
import { parseMatrix } from "../../lib/matrix/matrix_schema.ts";
import { digestOf, fcosBuilds, type StandInRelease, testMatrix } from "../helpers/release_index.ts";
import { withServer } from "../helpers/server.ts";

const matrix = await loadMatrix(new URL("../../matrix.yaml", import.meta.url).pathname);

/** `count` daily releases from 2026-03-01 on, each with the kernel `kernelOf(index)`. */
function stream(count: number, kernelOf: (index: number) => string | undefined): StandInRelease[] {
  return Array.from({ length: count }, (_, i) => {
    const day = new Date(Date.UTC(2026, 2, 1 + i)).toISOString().slice(0, 10).replaceAll("-", "");
    const kernel = kernelOf(i);
    return { version: `44.${day}.3.0`, kernels: { x86_64: kernel } };
  });
}

const options = { matrix, stream: "stable", arch: "x86_64" as const, series: "2.4" };

Deno.test("lastCompatibleRelease() finds the newest release whose kernel crosses back under max-kernel", async () => {
  // 2.4.4 supports up to 7.2: releases 0-5 have 7.2, 6-9 have 7.3
  const releases = stream(10, (i) => i < 6 ? "7.2.4-100.fc44.x86_64" : "7.3.1-100.fc44.x86_64");
  await withServer(fcosBuilds({ stable: releases }), async (server) => {
    const result = await lastCompatibleRelease({ ...options, base: server.url });
    assert.equal(result.fallback?.release, releases[5]!.version);
    assert.equal(result.fallback?.kernelVersion, "7.2.4-100.fc44.x86_64");
    assert.equal(result.fallback?.zfsTag, "zfs-2.4.4");
    assert.equal(result.fallback?.imageTag, "zfs-2.4.4_kernel-7.2.4-100.fc44.x86_64");
    assert.equal(
      result.fallback?.image,
      `quay.io/fedora/fedora-coreos@${digestOf("stable", releases[5]!.version, "x86_64")}`,
    );
    assert.equal(result.walked, 5);
    assert.equal(result.capped, false);
    // the index once, then at most the releases walked plus one batch in flight
    const metas = server.requests.filter((r) => r.path.endsWith("commitmeta.json"));
    assert.ok(metas.length >= 5 && metas.length <= 8, `${metas.length} commitmeta reads`);
  });
});

Deno.test("lastCompatibleRelease() skips builds the server has no metadata for (403 AccessDenied)", async () => {
  const releases = stream(
    6,
    (i) => i === 0 ? "6.17.7-300.fc43.x86_64" : i < 3 ? undefined : "7.9.1-100.fc44.x86_64",
  );
  await withServer(fcosBuilds({ stable: releases }), async (server) => {
    const result = await lastCompatibleRelease({ ...options, base: server.url });
    assert.equal(result.fallback?.release, releases[0]!.version);
    assert.equal(result.walked, 6);
  });
});

Deno.test("lastCompatibleRelease() starts below the release the target already is", async () => {
  const releases = stream(4, () => "6.17.7-300.fc43.x86_64");
  await withServer(fcosBuilds({ stable: releases }), async (server) => {
    const result = await lastCompatibleRelease({
      ...options,
      base: server.url,
      before: releases[2]!.version,
    });
    assert.equal(result.fallback?.release, releases[1]!.version);
  });
});

Deno.test("lastCompatibleRelease() on a stream where nothing is supported answers none, bounded by the cap", async (t) => {
  await t.step("fewer releases than the cap: all walked, not capped", async () => {
    const releases = stream(7, () => "7.9.1-100.fc44.x86_64");
    await withServer(fcosBuilds({ stable: releases }), async (server) => {
      const result = await lastCompatibleRelease({ ...options, base: server.url });
      assert.deepEqual(result, { walked: 7, capped: false });
    });
  });
  await t.step("more releases than the cap: stops at the cap and says so", async () => {
    const releases = stream(FALLBACK_MAX_WALK + 12, () => "7.9.1-100.fc44.x86_64");
    await withServer(fcosBuilds({ stable: releases }), async (server) => {
      const result = await lastCompatibleRelease({ ...options, base: server.url });
      assert.deepEqual(result, { walked: FALLBACK_MAX_WALK, capped: true });
      const metas = server.requests.filter((r) => r.path.endsWith("commitmeta.json"));
      assert.equal(metas.length, FALLBACK_MAX_WALK);
    });
  });
  await t.step("a smaller maxWalk is honoured", async () => {
    const releases = stream(10, () => "7.9.1-100.fc44.x86_64");
    await withServer(fcosBuilds({ stable: releases }), async (server) => {
      const result = await lastCompatibleRelease({ ...options, base: server.url, maxWalk: 3 });
      assert.deepEqual(result, { walked: 3, capped: true });
    });
  });
});

Deno.test("lastCompatibleRelease() uses only pinned releases of the series", async () => {
  const releases = stream(3, () => "7.1.1-100.fc44.x86_64");
  await withServer(fcosBuilds({ stable: releases }), async (server) => {
    // only 2.4.2 (max 7.0) published: 7.1 is not supported
    const none = await lastCompatibleRelease({
      ...options,
      base: server.url,
      published: ["zfs-2.4.2"],
    });
    assert.equal(none.fallback, undefined);
    const some = await lastCompatibleRelease({
      ...options,
      base: server.url,
      published: ["zfs-2.4.4", "zfs-2.4.2"],
    });
    assert.equal(some.fallback?.zfsTag, "zfs-2.4.4");
  });
});

Deno.test("lastCompatibleRelease() by default uses only the series' pinned releases of matrix.yaml", async () => {
  // a 2.3 series whose one pinned release (max 6.12) supports none of these kernels, beside
  // pinned zfs-2.4.x releases that do: a 2.3 target must not be offered a 2.4 release
  const twoSeries = parseMatrix(
    testMatrix().replace(
      "  releases:\n",
      `  releases:\n    - tag: zfs-2.3.9\n      max-kernel: "6.12"\n      sha256: ${
        "d".repeat(64)
      }\n`,
    ),
  );
  const releases = stream(3, () => "6.19.1-100.fc43.x86_64");
  await withServer(fcosBuilds({ stable: releases }), async (server) => {
    const result = await lastCompatibleRelease({
      ...options,
      matrix: twoSeries,
      series: "2.3",
      base: server.url,
    });
    assert.equal(result.fallback, undefined, JSON.stringify(result.fallback));
    const own = await lastCompatibleRelease({ ...options, matrix: twoSeries, base: server.url });
    assert.equal(own.fallback?.zfsTag, "zfs-2.4.2");
  });
});

Deno.test("lastCompatibleRelease() fails with the URL when the release index is missing", async () => {
  await withServer(fcosBuilds({}), async (server) => {
    await assert.rejects(
      lastCompatibleRelease({ ...options, base: server.url }),
      (e) => e instanceof RemoteError && e.status === 403 && e.message.includes("releases.json"),
    );
  });
});
