import assert from "node:assert/strict";
import { RemoteError } from "../../lib/core/errors.ts";
import { getJson } from "../../lib/core/http.ts";
import { githubPaginate, githubToken, nextLink } from "../../lib/github/github.ts";
import { json, timedTest, withServer } from "../helpers/server.ts";

const fast = { backoffMs: 1, retries: 2, timeoutMs: 2_000, onRetry: () => {} };

timedTest("getJson() retries a 5xx and succeeds when the server recovers", async () => {
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

timedTest("getJson() gives up after the bounded retries and names the URL and status", async () => {
  await withServer(() => new Response("down", { status: 502 }), async (server) => {
    await assert.rejects(
      getJson(`${server.url}/down`, {}, fast),
      (e) =>
        e instanceof RemoteError && e.status === 502 && e.message.includes(`${server.url}/down`),
    );
    assert.equal(server.requests.length, 3);
  });
});

timedTest(
  "fetchWithRetry() says each retry on one line and the attempts in the final error",
  async () => {
    const lines: string[] = [];
    await withServer(() => new Response("down", { status: 503 }), async (server) => {
      await assert.rejects(
        getJson(`${server.url}/down?x=1`, {}, { ...fast, onRetry: (line) => lines.push(line) }),
        (e) =>
          e instanceof RemoteError &&
          e.message === `Request failed: ${server.url}/down?x=1 (HTTP 503) after 3 attempts`,
      );
    });
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      /^retrying GET http:\/\/127\.0\.0\.1:\d+\/down\?x=1 in 1 ms \(attempt 2 of 3\): HTTP 503$/,
    );
    assert.match(lines[1]!, /in 2 ms \(attempt 3 of 3\): HTTP 503$/);
  },
);

timedTest("fetchWithRetry() says a timed-out attempt is retried", async () => {
  const lines: string[] = [];
  await withServer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return json([]);
  }, async (server) => {
    await assert.rejects(
      getJson(`${server.url}/slow`, {}, {
        ...fast,
        retries: 1,
        timeoutMs: 50,
        onRetry: (line) => lines.push(line),
      }),
      (e) =>
        e instanceof RemoteError && /Timed out after 50 ms: .* after 2 attempts$/.test(e.message),
    );
  });
  assert.deepEqual(lines.map((line) => line.replace(/^.*\(/, "(")), [
    "(attempt 2 of 2): timed out",
  ]);
});

timedTest(
  "fetchWithRetry() stops at once when a rate limit asks to wait past maxWaitMs",
  async () => {
    const lines: string[] = [];
    const reset = Math.floor(Date.UTC(2099, 0, 1, 14, 5) / 1000);
    await withServer(
      () =>
        json({ message: "API rate limit exceeded for 203.0.113.9." }, {
          status: 403,
          headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) },
        }),
      async (server) => {
        await assert.rejects(
          getJson(`${server.url}/limited`, {}, { ...fast, onRetry: (line) => lines.push(line) }),
          (e) =>
            e instanceof RemoteError &&
            e.message ===
              "Rate limited until 14:05 UTC (set GH_TOKEN for a higher limit) " +
                `(API rate limit exceeded for 203.0.113.9.): ${server.url}/limited (HTTP 403)`,
        );
        assert.equal(server.requests.length, 1);
      },
    );
    assert.deepEqual(lines, []);
  },
);

timedTest("fetchWithRetry() waits at most maxWaitMs before retrying a 5xx", async (t) => {
  const far = String(Math.floor(Date.now() / 1000) + 3600);
  const cases: [string, number, Record<string, string>][] = [
    ["a 502 with x-ratelimit-reset an hour away", 502, { "x-ratelimit-reset": far }],
    ["a 503 with a huge retry-after", 503, { "retry-after": "9999999999" }],
  ];
  for (const [name, status, headers] of cases) {
    await t.step(name, async () => {
      const lines: string[] = [];
      const onRetry = (line: string) => {
        lines.push(line);
        // Fail here rather than sleep for an hour when the cap is missing.
        const ms = Number(/ in (\d+) ms /.exec(line)?.[1] ?? Infinity);
        if (ms > 5) throw new Error(`waits too long: ${line}`);
      };
      let calls = 0;
      await withServer(
        () => ++calls === 1 ? new Response("down", { status, headers }) : json([1]),
        async (server) => {
          const { body } = await getJson(`${server.url}/x`, {}, {
            ...fast,
            maxWaitMs: 5,
            onRetry,
          });
          assert.deepEqual(body, [1]);
        },
      );
      assert.equal(lines.length, 1);
    });
  }
});

timedTest("getJson() waits out a rate limit with retry-after, then succeeds", async () => {
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

timedTest("getJson() does not retry a 404 and reports the server's message", async () => {
  await withServer(() => json({ message: "Not Found" }, { status: 404 }), async (server) => {
    await assert.rejects(
      getJson(`${server.url}/missing`, {}, fast),
      (e) =>
        e instanceof RemoteError && e.status === 404 && /Not found \(Not Found\)/.test(e.message),
    );
    assert.equal(server.requests.length, 1);
  });
});

timedTest("getJson() times out a slow answer and reports the timeout", async () => {
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

timedTest("getJson() reports an unreachable host as a RemoteError", async () => {
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

timedTest("githubPaginate() reads every page before returning and sends the token", async () => {
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

timedTest("githubPaginate() fails whole when a page in the middle fails", async () => {
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

timedTest("githubPaginate() takes no new page once a concurrent page failed", async () => {
  const api = pagedApi(50, { last: true });
  await withServer(
    (request, server) =>
      new URL(request.url).searchParams.get("page") === "2"
        ? json({ message: "Not Found" }, { status: 404 })
        : api.handler(request, server),
    async (server) => {
      await assert.rejects(
        githubPaginate("/list?per_page=2", { baseUrl: server.url, concurrency: 4, ...fast }),
        (e) => e instanceof RemoteError && e.status === 404,
      );
      // the workers in flight finish their page; none starts another
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(server.requests.length <= 6, `${server.requests.length} requests`);
    },
  );
});

timedTest("getJson() refuses an answer larger than maxBytes", async () => {
  await withServer(() => json("x".repeat(5000)), async (server) => {
    await assert.rejects(
      getJson(`${server.url}/big`, {}, { ...fast, maxBytes: 1000 }),
      (e) => e instanceof RemoteError && /larger than 1000 bytes/.test(e.message),
    );
    const { body } = await getJson<string>(`${server.url}/big`, {}, { ...fast, maxBytes: 6000 });
    assert.equal(body.length, 5000);
  });
});

timedTest("getJson() bounds each pause in a body, not the whole download", async () => {
  // Five chunks 100 ms apart: 500 ms in all, but never 300 ms without a byte.
  await withServer(() => {
    let sent = 0;
    const parts = ["[", "1,", "2,", "3", "]"];
    return new Response(
      new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, sent ? 100 : 0));
          controller.enqueue(new TextEncoder().encode(parts[sent++]!));
          if (sent === parts.length) controller.close();
        },
      }),
    );
  }, async (server) => {
    const { body } = await getJson(`${server.url}/trickle`, {}, { ...fast, timeoutMs: 300 });
    assert.deepEqual(body, [1, 2, 3]);
  });
});

/** A paged list API: `pages` pages of 2 items, 30 ms per answer, counting requests in flight. */
function pagedApi(pages: number, links: { last: boolean }) {
  const state = { inFlight: 0, maxInFlight: 0 };
  const handler = async (request: Request, server: { url: string }) => {
    const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 30));
    state.inFlight--;
    const link = [];
    if (page < pages) link.push(`<${server.url}/list?per_page=2&page=${page + 1}>; rel="next"`);
    if (links.last) link.push(`<${server.url}/list?per_page=2&page=${pages}>; rel="last"`);
    return json([page * 10, page * 10 + 1], {
      headers: link.length ? { link: link.join(", ") } : {},
    });
  };
  return { state, handler };
}

timedTest("githubPaginate() reads pages concurrently when the first names the last", async () => {
  const api = pagedApi(10, { last: true });
  await withServer(api.handler, async (server) => {
    const { items, requests } = await githubPaginate<number>("/list?per_page=2", {
      baseUrl: server.url,
      token: "secret",
      concurrency: 4,
      ...fast,
    });
    assert.equal(requests, 10);
    assert.equal(items.length, 20);
    assert.deepEqual(items.slice(0, 4), [10, 11, 20, 21]);
    assert.deepEqual(items.slice(-2), [100, 101]);
    assert.equal(api.state.maxInFlight, 4);
    const pages = server.requests.map((r) => new URL(r.path, server.url).searchParams.get("page"));
    assert.equal(new Set(pages).size, 10, "no page read twice");
    assert.ok(server.requests.every((r) => r.headers.get("authorization") === "Bearer secret"));
  });
});

timedTest("githubPaginate() stays sequential without a rel=last link", async () => {
  const api = pagedApi(5, { last: false });
  await withServer(api.handler, async (server) => {
    const { items, requests } = await githubPaginate<number>("/list?per_page=2", {
      baseUrl: server.url,
      concurrency: 4,
      ...fast,
    });
    assert.equal(requests, 5);
    assert.deepEqual(items, [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]);
    assert.equal(api.state.maxInFlight, 1);
  });
});

timedTest("githubPaginate() reads on past rel=last when the list grew meanwhile", async () => {
  await withServer((request, server) => {
    const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
    const link = page === 1
      ? `<${server.url}/list?page=2>; rel="next", <${server.url}/list?page=3>; rel="last"`
      : page < 4
      ? `<${server.url}/list?page=${page + 1}>; rel="next"`
      : "";
    return json([page], { headers: link ? { link } : {} });
  }, async (server) => {
    const { items } = await githubPaginate<number>("/list", {
      baseUrl: server.url,
      concurrency: 4,
      ...fast,
    });
    assert.deepEqual(items, [1, 2, 3, 4]);
  });
});

timedTest("githubToken() asks gh with a time limit and takes only a one-line token", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fake-gh-" });
  const saved = Object.fromEntries(
    ["PATH", "GH_TOKEN", "GITHUB_TOKEN"].map((name) => [name, Deno.env.get(name)]),
  );
  const fakeGh = async (script: string) => {
    await Deno.writeTextFile(`${dir}/gh`, `#!/bin/sh\n${script}\n`);
    await Deno.chmod(`${dir}/gh`, 0o755);
  };
  try {
    Deno.env.delete("GH_TOKEN");
    Deno.env.delete("GITHUB_TOKEN");
    Deno.env.set("PATH", `${dir}:/usr/bin:/bin`);
    await t.step("prints a token: used", async () => {
      await fakeGh('[ "$1 $2" = "auth token" ] && echo gho_abc123');
      assert.equal(await githubToken(), "gho_abc123");
    });
    await t.step("not logged in (exit 1): none", async () => {
      await fakeGh("echo 'not logged in' >&2; exit 1");
      assert.equal(await githubToken(), undefined);
    });
    await t.step("hangs: none, after the time limit", async () => {
      await fakeGh("exec sleep 30");
      const started = Date.now();
      assert.equal(await githubToken({ timeoutMs: 200 }), undefined);
      assert.ok(Date.now() - started < 5_000);
    });
    await t.step("prints something that is not a token: none", async () => {
      await fakeGh("printf 'two\\nlines\\n'");
      assert.equal(await githubToken(), undefined);
    });
    await t.step("gh not installed: none", async () => {
      Deno.env.set("PATH", `${dir}/nowhere`);
      assert.equal(await githubToken(), undefined);
    });
    await t.step("GH_TOKEN wins without running gh", async () => {
      Deno.env.set("GH_TOKEN", "from-env");
      assert.equal(await githubToken(), "from-env");
    });
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    await Deno.remove(dir, { recursive: true });
  }
});
