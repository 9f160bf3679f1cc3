import assert from "node:assert/strict";
import { CheckError, RemoteError } from "../../lib/core/errors.ts";
import fc from "fast-check";
import { supportsKernel } from "../../lib/matrix/compat.ts";
import { loadMatrix, type Matrix } from "../../lib/matrix/matrix.ts";
import { compareZfsTags } from "../../lib/core/patterns.ts";
import {
  chooseZfsRelease,
  newestOfSeries,
  newestZfsRelease,
} from "../../lib/matrix/zfs_releases.ts";
import { release, RELEASES, releasesHandler } from "../helpers/fcos_fixtures.ts";
import { json, withServer } from "../helpers/server.ts";

const fast = { backoffMs: 1, retries: 2, timeoutMs: 2_000, token: "t" };

Deno.test("newestOfSeries() skips drafts, prereleases and other series; compares numerically", () => {
  assert.equal(newestOfSeries(RELEASES, "2.4"), "zfs-2.4.4");
  assert.equal(newestOfSeries(RELEASES, "2.3"), "zfs-2.3.9");
  assert.equal(newestOfSeries(RELEASES, "2.2"), "zfs-2.2.11");
  assert.equal(newestOfSeries(RELEASES, "2.5"), undefined);
  assert.equal(newestOfSeries([release("zfs-2.2.9"), release("zfs-2.2.10")], "2.2"), "zfs-2.2.10");
  // 2.4 must not match zfs-2.40.x
  assert.equal(newestOfSeries([release("zfs-2.40.1")], "2.4"), undefined);
});

Deno.test("newestZfsRelease() reads every page before choosing", async () => {
  // The newest 2.2 release sits on the last page.
  const releases = [...RELEASES.filter((r) => r.tag_name !== "zfs-2.2.11"), release("zfs-2.2.12")];
  await withServer(releasesHandler(releases, 4), async (server) => {
    const tag = await newestZfsRelease("2.2", { ...fast, baseUrl: server.url });
    assert.equal(tag, "zfs-2.2.12");
    assert.equal(server.requests.length, Math.ceil(releases.length / 4));
    assert.equal(server.requests[0]!.headers.get("authorization"), "Bearer t");
  });
});

Deno.test("newestZfsRelease() retries a 5xx, then succeeds", async () => {
  let calls = 0;
  const pages = releasesHandler(RELEASES, 100);
  await withServer(
    (request) => ++calls === 1 ? new Response("", { status: 502 }) : pages(request),
    async (server) => {
      assert.equal(await newestZfsRelease("2.4", { ...fast, baseUrl: server.url }), "zfs-2.4.4");
      assert.equal(calls, 2);
    },
  );
});

Deno.test("newestZfsRelease() waits for retry-after on a 403 rate limit", async () => {
  let calls = 0;
  const pages = releasesHandler(RELEASES, 100);
  await withServer(
    (request) =>
      ++calls === 1
        ? json({ message: "API rate limit exceeded" }, {
          status: 403,
          headers: { "retry-after": "1", "x-ratelimit-remaining": "0" },
        })
        : pages(request),
    async (server) => {
      const started = Date.now();
      assert.equal(await newestZfsRelease("2.3", { ...fast, baseUrl: server.url }), "zfs-2.3.9");
      assert.ok(Date.now() - started >= 900, "waited for retry-after");
    },
  );
});

Deno.test("newestZfsRelease() gives up on a lasting rate limit with the URL and status", async () => {
  await withServer(
    () =>
      json({ message: "API rate limit exceeded" }, {
        status: 429,
        headers: { "retry-after": "0" },
      }),
    async (server) => {
      await assert.rejects(
        newestZfsRelease("2.4", { ...fast, baseUrl: server.url }),
        (e) =>
          e instanceof RemoteError && e.status === 429 &&
          e.message.includes("/repos/openzfs/zfs/releases"),
      );
      assert.equal(server.requests.length, 3);
    },
  );
});

Deno.test("newestZfsRelease() fails on a 404 without retrying", async () => {
  await withServer(() => json({ message: "Not Found" }, { status: 404 }), async (server) => {
    await assert.rejects(
      newestZfsRelease("2.4", { ...fast, baseUrl: server.url }),
      (e) => e instanceof RemoteError && e.status === 404 && /Not Found/.test(e.message),
    );
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("newestZfsRelease() fails when the series has no published release", async () => {
  await withServer(releasesHandler(RELEASES), async (server) => {
    await assert.rejects(newestZfsRelease("2.5", { ...fast, baseUrl: server.url }), CheckError);
  });
});

const matrix = await loadMatrix(new URL("../../matrix.yaml", import.meta.url).pathname);
/** matrix.yaml with the sha256 of some releases removed (not pinned). */
function unpinned(...tags: string[]): Matrix {
  return {
    ...matrix,
    zfs: {
      ...matrix.zfs,
      releases: matrix.zfs.releases.map((r) =>
        tags.includes(r.tag) ? { tag: r.tag, "max-kernel": r["max-kernel"] } : r
      ),
    },
  };
}
const SERIES_24 = ["zfs-2.4.4", "zfs-2.4.3", "zfs-2.4.2", "zfs-2.4.1", "zfs-2.4.0"];

Deno.test("chooseZfsRelease() takes the newest published release that is pinned and supports the kernel", async (t) => {
  await t.step("the newest is pinned and supports it", () => {
    const choice = chooseZfsRelease(matrix, {
      series: "2.4",
      published: SERIES_24,
      kernel: "6.17.7-300.fc43.x86_64",
    });
    assert.equal(choice.zfsTag, "zfs-2.4.4");
    assert.equal(choice.zfsLatest, "zfs-2.4.4");
    assert.equal(choice.zfsPinned, true);
    assert.equal(choice.compatible, true);
    assert.deepEqual(choice.warnings, []);
  });
  await t.step("the newest is unpinned: the newest pinned one, with a warning naming it", () => {
    const choice = chooseZfsRelease(unpinned("zfs-2.4.4", "zfs-2.4.3"), {
      series: "2.4",
      published: SERIES_24,
      kernel: "6.17",
    });
    assert.equal(choice.zfsTag, "zfs-2.4.2");
    assert.equal(choice.zfsPinned, false);
    assert.equal(choice.warnings.length, 1);
    assert.match(choice.warnings[0]!, /zfs-2\.4\.4 \(no sha256\), zfs-2\.4\.3 \(no sha256\)/);
    assert.match(choice.warnings[0]!, /`deno task matrix add zfs-2\.4\.4`/);
  });
  await t.step("a published release matrix.yaml does not know: warned, never chosen", () => {
    const choice = chooseZfsRelease(matrix, {
      series: "2.4",
      published: ["zfs-2.4.5", ...SERIES_24],
      kernel: "6.17",
    });
    assert.equal(choice.zfsTag, "zfs-2.4.4");
    assert.equal(choice.zfsLatest, "zfs-2.4.5");
    assert.match(choice.warnings[0]!, /zfs-2\.4\.5 \(not in matrix\.yaml\)/);
  });
  await t.step("a kernel the newest pinned cannot build: an older pinned one that can", () => {
    // 2.4.0 (max 6.18) is the only one pinned among those supporting 6.18
    const choice = chooseZfsRelease(unpinned("zfs-2.4.4", "zfs-2.4.3", "zfs-2.4.2", "zfs-2.4.1"), {
      series: "2.4",
      published: SERIES_24,
      kernel: "6.18",
    });
    assert.equal(choice.zfsTag, "zfs-2.4.0");
    assert.equal(choice.compatible, true);
  });
  await t.step("a release of the matrix that GitHub does not list is not chosen", () => {
    const choice = chooseZfsRelease(matrix, {
      series: "2.4",
      published: ["zfs-2.4.2"],
      kernel: "6.17",
    });
    assert.equal(choice.zfsTag, "zfs-2.4.2");
  });
});

Deno.test("chooseZfsRelease() fails naming what would support the kernel", async (t) => {
  await t.step("an unpinned release would", () => {
    const choice = chooseZfsRelease(unpinned("zfs-2.4.4"), {
      series: "2.4",
      published: SERIES_24,
      kernel: "7.2.1-100.fc44.x86_64",
    });
    assert.equal(choice.compatible, false);
    assert.equal(choice.zfsTag, "zfs-2.4.3");
    assert.match(choice.message, /No pinned zfs-2\.4 release supports 7\.2\.1/);
    assert.match(
      choice.message,
      /zfs-2\.4\.4 would, once pinned: `deno task matrix add zfs-2\.4\.4`/,
    );
  });
  await t.step("a release not in matrix.yaml might", () => {
    const choice = chooseZfsRelease(matrix, {
      series: "2.4",
      published: ["zfs-2.4.5", ...SERIES_24],
      kernel: "7.3",
    });
    assert.match(choice.message, /zfs-2\.4\.5 is not in matrix\.yaml yet/);
  });
  await t.step("another series does", () => {
    const choice = chooseZfsRelease(matrix, {
      series: "2.2",
      published: ["zfs-2.2.11"],
      kernel: "6.19",
    });
    assert.match(choice.message, /zfs-2\.4\.4 of another series does \(--series 2\.4\)/);
  });
  await t.step("nothing does", () => {
    const choice = chooseZfsRelease(matrix, { series: "2.4", published: SERIES_24, kernel: "9.1" });
    assert.match(choice.message, /no OpenZFS release in matrix\.yaml supports 9\.1 yet/);
  });
});

Deno.test("chooseZfsRelease() takes a forced release as it is", () => {
  const choice = chooseZfsRelease(matrix, { series: "2.4", kernel: "6.17", forced: "zfs-2.3.5" });
  assert.equal(choice.zfsTag, "zfs-2.3.5");
  assert.equal(choice.compatible, true);
  assert.equal(choice.zfsLatest, undefined);
  const unknown = chooseZfsRelease(matrix, { series: "2.4", kernel: "6.17", forced: "zfs-2.4.9" });
  assert.equal(unknown.compatible, false);
  assert.match(unknown.message, /deno task matrix add zfs-2\.4\.9/);
  // build refuses a release without a pinned sha256: so does the choice (versions agrees)
  const notPinned = chooseZfsRelease(unpinned("zfs-2.4.4"), {
    series: "2.4",
    kernel: "6.17",
    forced: "zfs-2.4.4",
  });
  assert.equal(notPinned.compatible, false);
  assert.equal(notPinned.maxKernel, "7.2");
  assert.match(
    notPinned.message,
    /pins no sha256 for zfs-2\.4\.4.*`deno task matrix add zfs-2\.4\.4`/,
  );
});

Deno.test("chooseZfsRelease() never picks an unpinned or unsupporting release (property)", () => {
  const tags = matrix.zfs.releases.map((r) => r.tag);
  fc.assert(fc.property(
    fc.subarray(tags),
    fc.subarray(tags),
    fc.integer({ min: 10, max: 25 }),
    fc.constantFrom("2.2", "2.3", "2.4"),
    (published, unpinnedTags, minor, series) => {
      const m = unpinned(...unpinnedTags);
      const ofSeries = published.filter((tag) => tag.startsWith(`zfs-${series}.`));
      if (ofSeries.length === 0) return;
      const kernel = `${6 + Math.floor(minor / 20)}.${minor % 20}`;
      const choice = chooseZfsRelease(m, { series, published: ofSeries, kernel });
      const entry = m.zfs.releases.find((r) => r.tag === choice.zfsTag)!;
      if (choice.compatible) {
        assert.ok(entry.sha256, "pinned");
        assert.ok(supportsKernel(entry, kernel), "supports");
        // nothing newer published is both pinned and supporting
        for (const tag of ofSeries) {
          const other = m.zfs.releases.find((r) => r.tag === tag)!;
          if (compareZfsTags(tag, choice.zfsTag) > 0) {
            assert.ok(!other.sha256 || !supportsKernel(other, kernel));
          }
        }
      } else {
        for (const tag of ofSeries) {
          const other = m.zfs.releases.find((r) => r.tag === tag)!;
          assert.ok(!other.sha256 || !supportsKernel(other, kernel));
        }
      }
    },
  ));
});
