import assert from "node:assert/strict";
import { CheckError, RemoteError } from "../lib/errors.ts";
import { newestOfSeries, newestZfsRelease } from "../lib/zfs_releases.ts";
import { release, RELEASES, releasesHandler } from "./helpers/fcos_fixtures.ts";
import { json, withServer } from "./helpers/server.ts";

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
