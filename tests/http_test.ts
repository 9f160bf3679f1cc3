import assert from "node:assert/strict";
import { RemoteError } from "../lib/errors.ts";
import { getJson } from "../lib/http.ts";
import { githubPaginate, nextLink } from "../lib/github.ts";
import { json, withServer } from "./helpers/server.ts";

const fast = { backoffMs: 1, retries: 2, timeoutMs: 2_000 };

Deno.test("getJson() retries a 5xx and succeeds when the server recovers", async () => {
  let calls = 0;
  await withServer(
    () => ++calls < 3 ? new Response("busy", { status: 503 }) : json({ ok: true }),
    async (server) => {
      const { body } = await getJson<{ ok: boolean }>(`${server.url}/x`, {}, fast);
      assert.deepEqual(body, { ok: true });
      assert.equal(calls, 3);
    },
  );
});

Deno.test("getJson() gives up after the bounded retries and names the URL and status", async () => {
  await withServer(() => new Response("down", { status: 502 }), async (server) => {
    await assert.rejects(
      getJson(`${server.url}/down`, {}, fast),
      (e) =>
        e instanceof RemoteError && e.status === 502 && e.message.includes(`${server.url}/down`),
    );
    assert.equal(server.requests.length, 3);
  });
});

Deno.test("getJson() waits out a rate limit with retry-after, then succeeds", async () => {
  let calls = 0;
  await withServer(
    () =>
      ++calls === 1
        ? json({ message: "API rate limit exceeded" }, {
          status: 403,
          headers: { "retry-after": "0", "x-ratelimit-remaining": "0" },
        })
        : json([1]),
    async (server) => {
      const { body } = await getJson(`${server.url}/r`, {}, fast);
      assert.deepEqual(body, [1]);
    },
  );
});

Deno.test("getJson() does not retry a 404 and reports the server's message", async () => {
  await withServer(() => json({ message: "Not Found" }, { status: 404 }), async (server) => {
    await assert.rejects(
      getJson(`${server.url}/missing`, {}, fast),
      (e) =>
        e instanceof RemoteError && e.status === 404 && /Not found \(Not Found\)/.test(e.message),
    );
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("getJson() times out a slow answer and reports the timeout", async () => {
  await withServer(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return json({});
    },
    async (server) => {
      await assert.rejects(
        getJson(`${server.url}/slow`, {}, { ...fast, timeoutMs: 50, retries: 1 }),
        (e) => e instanceof RemoteError && /Timed out after 50 ms/.test(e.message),
      );
    },
  );
});

Deno.test("getJson() reports an unreachable host as a RemoteError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    getJson(`http://127.0.0.1:${port}/`, {}, { ...fast, retries: 1 }),
    (e) => e instanceof RemoteError && /Cannot connect/.test(e.message),
  );
});

Deno.test("nextLink() follows rel=next verbatim", () => {
  const link = '<https://api.github.com/organizations/42/packages?page=2>; rel="next", ' +
    '<https://api.github.com/organizations/42/packages?page=5>; rel="last"';
  assert.equal(nextLink(link), "https://api.github.com/organizations/42/packages?page=2");
  assert.equal(nextLink('<https://x/?page=1>; rel="prev"'), undefined);
  assert.equal(nextLink(null), undefined);
});

Deno.test("githubPaginate() reads every page before returning and sends the token", async () => {
  await withServer(
    (request, server) => {
      const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
      const headers: Record<string, string> = {};
      if (page < 3) headers.link = `<${server.url}/other/path?page=${page + 1}>; rel="next"`;
      return json([page * 10, page * 10 + 1], { headers });
    },
    async (server) => {
      const { items, requests } = await githubPaginate<number>("/start", {
        baseUrl: server.url,
        token: "secret",
        ...fast,
      });
      assert.deepEqual(items, [10, 11, 20, 21, 30, 31]);
      assert.equal(requests, 3);
      assert.deepEqual(server.requests.map((r) => r.path), [
        "/start",
        "/other/path?page=2",
        "/other/path?page=3",
      ]);
      assert.equal(server.requests[0]!.headers.get("authorization"), "Bearer secret");
    },
  );
});

Deno.test("githubPaginate() fails whole when a page in the middle fails", async () => {
  await withServer(
    (request, server) => {
      const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
      if (page === 2) return new Response("oops", { status: 500 });
      return json([page], { headers: { link: `<${server.url}/p?page=${page + 1}>; rel="next"` } });
    },
    async (server) => {
      await assert.rejects(
        githubPaginate("/p", { baseUrl: server.url, ...fast }),
        (e) => e instanceof RemoteError && e.status === 500,
      );
    },
  );
});
