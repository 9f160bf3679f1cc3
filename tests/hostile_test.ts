// The hostile-server suite: stand-ins that lie, loop, stall, flood or point elsewhere, and
// for each attack the one-line error it must end in, with nothing leaked or used. A new
// attack is one more entry in a table (and, for the registry, one more fake_registry mode).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { RemoteError, UsageError } from "../lib/core/errors.ts";
import { githubPaginate } from "../lib/github/github.ts";
import { fetchWithRetry, getJson } from "../lib/core/http.ts";
import { fetchBlob, inspectImage, manifestExists, readManifest } from "../lib/registry/registry.ts";
import { httpSettings } from "../lib/core/settings.ts";
import { problemLine, stderrLogger } from "../lib/cli/cli.ts";
import { renderResult } from "../lib/cli/render.ts";
import {
  EVIL_DIGEST_HEADER,
  EVIL_KERNEL,
  type FakeRegistry,
  HOSTILE_TEXT,
  type RegistryMode,
  withFakeRegistry,
} from "./helpers/fake_registry.ts";
import { runTaskFile, spawnTask } from "./helpers/run_task.ts";
import {
  drip,
  json,
  type TestServer,
  timedTest,
  withRawServer,
  withServer,
  withTimeout,
} from "./helpers/server.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const fast = { backoffMs: 1, retries: 1, timeoutMs: 2_000 };
const TOKEN = "ghp_secret_token_for_hostile_tests";

/** Runs `action` with environment variables set, restoring them afterwards. */
async function withEnv<T>(env: Record<string, string>, action: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, Deno.env.get(name)]));
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  try {
    return await action();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

/** One line, no stack trace: what every failure must look like. */
function assertOneLine(error: unknown, pattern: RegExp): true {
  assert.ok(error instanceof RemoteError, `expected a RemoteError, got ${error}`);
  assert.match(error.message, pattern);
  assert.ok(!error.message.includes("\n"), `not one line: ${error.message}`);
  return true;
}

// ---------------------------------------------------------------------------------------
// GitHub pagination. `other` is a second server on another port: it must never be asked.

interface GithubAttack {
  /** answers the API's own origin */
  handler: (request: Request, api: TestServer, other: TestServer) => Response;
  options?: {
    concurrency?: number;
    maxPages?: number;
    maxPageBytes?: number;
    timeoutMs?: number;
    refuseRepeatedPages?: boolean;
  };
  error: RegExp;
  /** most requests the API may see before the error */
  maxRequests?: number;
}

const pageOf = (request: Request) => Number(new URL(request.url).searchParams.get("page") ?? "1");

const githubAttacks: Record<string, GithubAttack> = {
  "rel=next to another host": {
    handler: (_r, _api, other) =>
      json([1], { headers: { link: `<${other.url}/steal?page=2>; rel="next"` } }),
    error: /another origin/,
  },
  "rel=next to another port of the same host": {
    handler: (_r, api) =>
      json([1], { headers: { link: `<http://127.0.0.1:${api.port + 1}/x?page=2>; rel="next"` } }),
    error: /another origin/,
  },
  "rel=next to a file: URL": {
    handler: () => json([1], { headers: { link: '<file:///etc/passwd>; rel="next"' } }),
    error: /not http\(s\)/,
  },
  "rel=last to another host in concurrent mode": {
    handler: (_r, _api, other) =>
      json([1], {
        headers: {
          link: `<${other.url}/p?page=2>; rel="next", <${other.url}/p?page=9>; rel="last"`,
        },
      }),
    options: { concurrency: 4 },
    error: /another origin/,
  },
  "rel=next back to a page already read": {
    handler: (request, api) => {
      const page = pageOf(request);
      return json([page], {
        headers: { link: `<${api.url}/list?page=${page === 1 ? 2 : 1}>; rel="next"` },
      });
    },
    error: /already read/,
    maxRequests: 3,
  },
  // 17.5: the cap counts requests, so it stops a repeating loop even without that guard.
  "17.5 rel=next back to itself, with the already-read guard off": {
    handler: (_request, api) =>
      json([1], { headers: { link: `<${api.url}/list?page=2>; rel="next"` } }),
    options: { maxPages: 25, refuseRepeatedPages: false },
    error: /More than 25 pages/,
    maxRequests: 25,
  },
  "endless distinct pages": {
    handler: (request, api) =>
      json([pageOf(request)], {
        headers: { link: `<${api.url}/list?page=${pageOf(request) + 1}>; rel="next"` },
      }),
    options: { maxPages: 25 },
    error: /More than 25 pages/,
    maxRequests: 25,
  },
  "rel=last beyond the page cap": {
    handler: (_r, api) =>
      json([1], {
        headers: {
          link:
            `<${api.url}/list?page=2>; rel="next", <${api.url}/list?page=999999999>; rel="last"`,
        },
      }),
    options: { concurrency: 4, maxPages: 100 },
    error: /More than 100 pages/,
    maxRequests: 1,
  },
  "a page larger than the cap": {
    handler: () => json(new Array(100_000).fill("x".repeat(20))),
    options: { maxPageBytes: 1024 * 1024 },
    error: /larger than 1048576 bytes/,
  },
  "a page that never ends": {
    handler: () => {
      const chunk = new TextEncoder().encode("[" + " ".repeat(65_535));
      return new Response(new ReadableStream({ pull: (c) => c.enqueue(chunk) }));
    },
    options: { maxPageBytes: 2 * 1024 * 1024 },
    error: /larger than 2097152 bytes/,
  },
  "a page that stalls after its headers": {
    handler: () =>
      new Response(
        new ReadableStream({
          start: (c) => c.enqueue(new TextEncoder().encode("[1,")),
          pull: () => new Promise((resolve) => setTimeout(resolve, 5_000)),
        }),
      ),
    options: { timeoutMs: 200 },
    error: /Timed out after 200 ms reading/,
  },
  "an object instead of a list": {
    handler: () => json({ message: "not a list" }),
    error: /Expected a JSON array/,
  },
};

for (const [name, attack] of Object.entries(githubAttacks)) {
  // An issue case ("17.5 …") leads the test name with its number.
  const numbered = /^(\d+\.\d+) (.*)$/.exec(name);
  const title = numbered
    ? `${numbered[1]} githubPaginate() refuses a hostile API: ${numbered[2]}`
    : `githubPaginate() refuses a hostile API: ${name}`;
  Deno.test(title, async () => {
    await withTimeout(60_000, () =>
      withServer(
        () => json([]),
        (other) =>
          withServer((request, api) => attack.handler(request, api, other), async (api) => {
            await assert.rejects(
              githubPaginate("/list?per_page=100", {
                baseUrl: api.url,
                token: TOKEN,
                ...fast,
                ...attack.options,
              }),
              (error) => assertOneLine(error, attack.error),
            );
            assert.equal(other.requests.length, 0, "another host was asked");
            if (attack.maxRequests !== undefined) {
              assert.ok(
                api.requests.length <= attack.maxRequests,
                `${api.requests.length} requests`,
              );
            }
          }),
      ));
  });
}

timedTest("githubPaginate() returns a page of 200,000 items without a stack overflow", async () => {
  const big = Array.from({ length: 200_000 }, (_, i) => i);
  await withServer(() => json(big), async (api) => {
    const { items } = await githubPaginate<number>("/list", { baseUrl: api.url, ...fast });
    assert.equal(items.length, 200_000);
    assert.equal(items[199_999], 199_999);
  });
});

timedTest("githubPaginate() refuses an absolute start URL on another origin", async () => {
  await withServer(() => json([1]), async (other) => {
    await assert.rejects(
      githubPaginate(`${other.url}/list`, { baseUrl: "http://127.0.0.1:1", token: TOKEN, ...fast }),
      (error) => assertOneLine(error, /another origin/),
    );
    assert.equal(other.requests.length, 0);
  });
});

// ---------------------------------------------------------------------------------------
// HTTP bodies: cut off, stalled; the message says so (not "malformed JSON").

timedTest("getJson() says the connection was lost when a body is cut off", async () => {
  const reply =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" +
    '{"releases": [1, 2';
  await withRawServer(reply, async (url) => {
    await assert.rejects(
      getJson(`${url}/cut`, {}, fast),
      (error) => assertOneLine(error, /^Connection lost reading: http:\/\/127\.0\.0\.1:\d+\/cut/),
    );
  });
});

timedTest("getJson() fails fast on a long rate limit whose body stalls", async () => {
  let stall: ReturnType<typeof setTimeout> | undefined;
  await withServer(
    () =>
      new Response(
        new ReadableStream({
          start: (c) => c.enqueue(new TextEncoder().encode('{"message": "API rate')),
          // Ends after 2 s so that the server can shut down even without the timeout.
          pull: (c) =>
            new Promise((resolve) => {
              stall = setTimeout(() => resolve(c.close()), 2_000);
            }),
          cancel: () => clearTimeout(stall),
        }),
        { status: 429, headers: { "retry-after": "3600" } },
      ),
    async (api) => {
      const started = Date.now();
      await assert.rejects(
        getJson(`${api.url}/limited`, {}, { ...fast, timeoutMs: 200 }),
        (error) =>
          assertOneLine(error, /^Rate limited until \d\d:\d\d UTC \(set GH_TOKEN[^(]*\): http/),
      );
      assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`);
    },
  );
  clearTimeout(stall);
});

timedTest("fetchWithRetry() refuses file: and other non-http URLs before any request", async () => {
  for (const url of ["file:///etc/passwd", "data:text/plain,hi", "ftp://127.0.0.1/x"]) {
    await assert.rejects(
      fetchWithRetry(url, {}, fast),
      (error) => assertOneLine(error, /not http\(s\)/),
    );
  }
});

// ---------------------------------------------------------------------------------------
// Environment settings: validated, exit 2 naming the variable and its range.

timedTest(
  "httpSettings() refuses malformed HTTP_* settings naming the variable and range",
  async (t) => {
    const cases: [string, string, RegExp][] = [
      [
        "HTTP_RETRIES",
        "abc",
        /Invalid HTTP_RETRIES: "abc" \(expected a whole number from 0 to 10\)/,
      ],
      ["HTTP_TIMEOUT_MS", "abc", /Invalid HTTP_TIMEOUT_MS/],
      ["HTTP_TIMEOUT_MS", "-5", /from 1 to 600000/],
      ["HTTP_TIMEOUT_MS", "1e99", /Invalid HTTP_TIMEOUT_MS: "1e99"/],
      ["HTTP_TIMEOUT_MS", "0", /from 1 to 600000/],
      ["HTTP_BACKOFF_MS", "99999999", /from 0 to 60000/],
    ];
    for (const [name, value, pattern] of cases) {
      await t.step(`${name}=${value}`, () => {
        const before = Deno.env.get(name);
        Deno.env.set(name, value);
        try {
          assert.throws(
            () => httpSettings(),
            (e) => e instanceof UsageError && pattern.test(e.message),
          );
        } finally {
          if (before === undefined) Deno.env.delete(name);
          else Deno.env.set(name, before);
        }
      });
    }
  },
);

timedTest(
  "zfs-version exits 2 before any request for a bad HTTP_RETRIES or GITHUB_API_URL",
  async (t) => {
    await withServer(() => json([]), async (api) => {
      const cases: [Record<string, string>, RegExp][] = [
        [{ HTTP_RETRIES: "abc", GITHUB_API_URL: api.url }, /^error: Invalid HTTP_RETRIES: "abc"/],
        [{ HTTP_TIMEOUT_MS: "1e99", GITHUB_API_URL: api.url }, /^error: Invalid HTTP_TIMEOUT_MS/],
        [{ GITHUB_API_URL: "file:///etc" }, /^error: Invalid GITHUB_API_URL/],
      ];
      for (const [env, pattern] of cases) {
        await t.step(Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" "), async () => {
          const result = await runTaskFile("zfs_version.ts", [], env);
          assert.equal(result.code, 2, result.stderr);
          assert.match(result.stderr, pattern);
          assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        });
      }
      assert.equal(api.requests.length, 0);
    });
  },
);

timedTest("zfs-version does not send the token to a Link on another host", async () => {
  await withServer(() => json([]), (other) =>
    withServer(
      () =>
        json([{ tag_name: "zfs-2.4.0", draft: false, prerelease: false }], {
          headers: { link: `<${other.url}/steal?page=2>; rel="next"` },
        }),
      async (api) => {
        const result = await runTaskFile("zfs_version.ts", [], {
          GITHUB_API_URL: api.url,
          GH_TOKEN: TOKEN,
        });
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /^error: Refusing to follow a pagination link to another origin/,
        );
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.equal(other.requests.length, 0);
        assert.ok(!result.stderr.includes(TOKEN));
      },
    ));
});

// ---------------------------------------------------------------------------------------
// Registries: content addressing, redirects, realms, sizes, stalls.

interface RegistryAttack {
  /** what to do against the stand-in */
  run: (registry: FakeRegistry, ref: string) => Promise<unknown>;
  error: RegExp;
  /** checks on the requests the stand-in saw */
  check?: (registry: FakeRegistry) => void;
}

const inspect = (_registry: FakeRegistry, ref: string) => inspectImage(ref, "x86_64");
const registryAttacks: Partial<Record<RegistryMode, RegistryAttack>> = {
  "config-substituted": { run: inspect, error: /Blob content does not match sha256:/ },
  "digest-header-lies": {
    run: inspect,
    error: /Docker-Content-Digest \(a malformed digest\) does not match the manifest content/,
  },
  "child-digest-traversal": {
    run: inspect,
    error: /Malformed manifest \(manifests\[0\]\.digest is not a sha256 digest\)/,
    check: (registry) => assert.ok(registry.paths.every((p) => !p.includes("other"))),
  },
  "child-digest-sha512": {
    run: inspect,
    error: /Malformed manifest \(manifests\[0\]\.digest is not a sha256 digest\)/,
  },
  "manifest-by-digest-lies": { run: inspect, error: /Manifest content does not match sha256:/ },
  "blob-redirect-file": { run: inspect, error: /not http\(s\)/ },
  "blob-redirect-plain-http": { run: inspect, error: /Refusing plain http to cdn\.example\.com/ },
  "realm-file": { run: inspect, error: /not http\(s\)/ },
  "redirect-loop": { run: inspect, error: /^Too many redirects: http:/ },
  "token-missing": { run: inspect, error: /^No usable token in the answer: http:/ },
  "token-endless": { run: inspect, error: /^Answer larger than 1048576 bytes, refused: http:/ },
  "huge-manifest-declared": { run: inspect, error: /larger than 4194304 bytes/ },
  "endless-manifest": { run: inspect, error: /larger than 4194304 bytes/ },
  "cut-off-manifest": { run: inspect, error: /^Connection lost reading: http:/ },
  "layer-substituted": {
    // Layers are streamed: the mismatch is an error at the end of the stream.
    run: async (registry, ref) => await (await fetchBlob(ref, registry.layerDigest)).bytes(),
    error: /Blob content does not match sha256:/,
  },
  "stalled-manifest": {
    run: (_registry, ref) => withEnv({ HTTP_TIMEOUT_MS: "300" }, () => inspectImage(ref, "x86_64")),
    error: /^Timed out after 300 ms reading: http:/,
  },
  "stalled-blob": {
    run: (registry, ref) =>
      withEnv({ HTTP_TIMEOUT_MS: "300" }, async () => {
        const started = Date.now();
        const response = await fetchBlob(ref, registry.layerDigest);
        await response.bytes().finally(() => assert.ok(Date.now() - started < 5_000));
      }),
    error: /Timed out after 300 ms reading/,
  },
};

for (const [mode, attack] of Object.entries(registryAttacks)) {
  Deno.test(`registry client refuses a hostile registry: ${mode}`, async () => {
    await withTimeout(60_000, () =>
      withFakeRegistry(mode as RegistryMode, async (registry) => {
        const ref = `${registry.host}/${registry.repository}:stable`;
        let result: unknown;
        await assert.rejects(
          (async () => {
            result = await attack.run(registry, ref);
          })(),
          (error) => assertOneLine(error, attack.error),
        );
        assert.ok(!JSON.stringify(result ?? "").includes(EVIL_KERNEL));
        attack.check?.(registry);
      }));
  });
}

timedTest("registry client: the honest stand-in passes every check the attacks fail", async () => {
  await withFakeRegistry("honest", async (registry) => {
    const ref = `${registry.host}/${registry.repository}:stable`;
    const image = await inspectImage(ref, "x86_64");
    assert.equal(image.digest, registry.indexDigest);
    assert.equal(image.manifestDigest, registry.manifestDigest);
    assert.equal(image.labels["ostree.linux"], "6.17.7-300.fc43.x86_64");
    const blob = await fetchBlob(ref, registry.layerDigest);
    assert.equal(new TextDecoder().decode(await blob.bytes()), "not really a tar layer");
    const byTag = await readManifest(`${registry.host}/${registry.repository}`, "stable");
    assert.equal(byTag.digest, registry.indexDigest);
    assert.deepEqual(await manifestExists(ref), { exists: true, digest: registry.indexDigest });
  });
});

timedTest("registry client refuses a malformed digest before building a URL", async () => {
  await withFakeRegistry("honest", async (registry) => {
    const name = `${registry.host}/${registry.repository}`;
    for (
      const digest of ["sha512:abc", "../../other/manifests/secret", `sha256:${"A".repeat(64)}`]
    ) {
      await assert.rejects(fetchBlob(`${name}:stable`, digest), /Malformed digest/);
      await assert.rejects(readManifest(name, digest), /Malformed digest|Invalid tag/);
    }
    assert.deepEqual(registry.paths, []);
  });
});

timedTest(
  "check-container never writes a lying Docker-Content-Digest to $GITHUB_OUTPUT",
  async () => {
    await withFakeRegistry("digest-header-lies", async (registry) => {
      const output = await Deno.makeTempFile();
      try {
        const result = await runTaskFile(
          "check_container.ts",
          ["--tag", `${registry.host}/${registry.repository}:stable`, "--github-output"],
          { GITHUB_OUTPUT: output },
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /^error: Docker-Content-Digest \(a malformed digest\) does not match/,
        );
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        const written = await Deno.readTextFile(output);
        assert.ok(!written.includes("evil"), written);
        assert.ok(!result.stderr.includes(EVIL_DIGEST_HEADER));
      } finally {
        await Deno.remove(output);
      }
    });
  },
);

// ---------------------------------------------------------------------------------------
// Issue 17: a second hostile pass. Each case is named after its number in the issue.

/**
 * The task of tasks/<file> spawned as `deno task` does (deno.json's permissions), with
 * runTaskFile's default environment and a signal that kills it when the time limit passes.
 */
function runTaskWithin(
  signal: AbortSignal,
  file: string,
  args: string[],
  env: Record<string, string>,
) {
  return spawnTask(file, args, {
    cwd: ROOT,
    signal,
    env: {
      NO_COLOR: "1",
      HTTP_BACKOFF_MS: "1",
      GH_TOKEN: "test",
      GITHUB_ACTIONS: "false",
      GITHUB_OUTPUT: "",
      GITHUB_STEP_SUMMARY: "",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...env,
    },
  });
}

/** What a drip must end in: exit 1 and one line naming the URL, before the time limit. */
const DRIP_ENV = { HTTP_TIMEOUT_MS: "2000", HTTP_RETRIES: "0" };
const DRIP_ERROR = /^error: Answer not complete after 8000 ms: http:\/\/127\.0\.0\.1:\d+\/\S+/;

Deno.test("17.4 getJson() ends an answer that drips one byte at a time", async () => {
  await withTimeout(30_000, () =>
    withServer(() => new Response(drip("[", 100)), async (api) => {
      const started = Date.now();
      await assert.rejects(
        getJson(`${api.url}/drip`, {}, { ...fast, retries: 0, timeoutMs: 300 }),
        (error) => assertOneLine(error, /^Answer not complete after 1200 ms: http:.*\/drip/),
      );
      assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    }));
});

Deno.test("17.4 zfs-version ends a GitHub page that drips one byte every 500 ms", async () => {
  await withTimeout(60_000, (signal) =>
    withServer(() => new Response(drip("[")), async (api) => {
      const result = await runTaskWithin(signal, "zfs_version.ts", [], {
        ...DRIP_ENV,
        GITHUB_API_URL: api.url,
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, DRIP_ERROR);
      assert.match(result.stderr, /\/releases/);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }));
});

for (
  const [mode, what] of [["drip-manifest", "a manifest"], ["drip-token", "a token answer"]] as const
) {
  Deno.test(`17.4 check-container ends ${what} that drips one byte every 500 ms`, async () => {
    await withTimeout(60_000, (signal) =>
      withFakeRegistry(mode, async (registry) => {
        const result = await runTaskWithin(
          signal,
          "check_container.ts",
          ["--tag", `${registry.host}/${registry.repository}:stable`],
          DRIP_ENV,
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, DRIP_ERROR);
        assert.match(result.stderr, mode === "drip-token" ? /\/token\?/ : /\/manifests\/stable/);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      }));
  });
}

Deno.test(
  "17.10 zfs-version exits 2 naming GITHUB_API_URL with a query, a fragment or plain http elsewhere",
  async (t) => {
    await withTimeout(150_000, (signal) =>
      withServer(() => json([]), async (api) => {
        const cases: [string, RegExp][] = [
          [`${api.url}/?q=1`, /\(a base URL has no query or fragment\)/],
          [`${api.url}/api#frag`, /\(a base URL has no query or fragment\)/],
          [`${api.url}?`, /\(a base URL has no query or fragment\)/],
          [
            "http://api.example.com",
            /\(plain http is allowed only to a loopback host; use https:\/\/\)/,
          ],
          ["http://10.0.0.1:8080/api/v3", /plain http is allowed only to a loopback host/],
          [
            "https://:secret@api.example.com",
            /^error: Invalid GITHUB_API_URL: a URL with credentials in it \(expected none\)\n$/,
          ],
        ];
        for (const [value, pattern] of cases) {
          await t.step(value, async () => {
            const result = await runTaskWithin(signal, "zfs_version.ts", [], {
              GITHUB_API_URL: value,
              HTTP_RETRIES: "0",
              HTTP_TIMEOUT_MS: "2000",
            });
            assert.equal(result.code, 2, result.stderr);
            assert.match(result.stderr, /^error: Invalid GITHUB_API_URL: /);
            assert.doesNotMatch(result.stderr, /secret/);
            assert.match(result.stderr, pattern);
            assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
          });
        }
        assert.equal(api.requests.length, 0, "a request went out");
        // Loopback http stays allowed (every stand-in of this suite is one).
        const local = await runTaskWithin(signal, "zfs_version.ts", [], {
          GITHUB_API_URL: `http://localhost:${api.port}`,
        });
        assert.doesNotMatch(local.stderr, /Invalid GITHUB_API_URL/);
        assert.equal(api.requests.length, 1);
      }));
  },
);

/** What a terminal would act on: no raw one may reach stdout or stderr (tabs and LF between lines aside). */
const RAW_CONTROL =
  // deno-lint-ignore no-control-regex -- finding them is the point
  /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

for (
  const [mode, where] of [
    ["hostile-labels", "a com.coreos.stream label and a layer mediaType"],
    ["hostile-platform", "an index entry's platform.os and architecture"],
  ] as const
) {
  for (const actions of ["false", "true"]) {
    const channel = actions === "true" ? "an ::error:: annotation" : "the error line";
    Deno.test(`17.8 kernel-version shows ${where} escaped in ${channel}`, async () => {
      await withTimeout(60_000, (signal) =>
        withFakeRegistry(mode, async (registry) => {
          const result = await runTaskWithin(
            signal,
            "kernel_version.ts",
            ["--image", `${registry.host}/${registry.repository}:stable`, "--arch", "x86_64"],
            { GITHUB_ACTIONS: actions, HTTP_RETRIES: "0", FCOS_BUILDS_URL: "http://127.0.0.1:9" },
          );
          assert.equal(result.code, 1, result.stderr);
          const both = result.stdout + result.stderr;
          assert.doesNotMatch(both, RAW_CONTROL, JSON.stringify(both));
          const lines = result.stderr.trimEnd().split("\n");
          const errors = lines.filter((l) => /^(error:|::error)/.test(l));
          assert.equal(errors.length, 1, result.stderr);
          assert.ok(!lines.some((l) => l.startsWith("error: forged")), result.stderr);
          // The hostile value is shown, escaped, on the error line itself.
          assert.match(errors[0]!, /(\\x1b|\\u001b)\]0;pwned(\\x07|\\u0007)/);
          assert.match(errors[0]!, /\\u202eevil/);
          if (mode === "hostile-labels") {
            assert.match(errors[0]!, /cannot read a layer of type \\x1b\]0;pwned\\x07\\x1b\[2Jred/);
          } else assert.match(errors[0]!, /has no linux\/amd64 image \(platforms: \\x1b/);
        }));
    });
  }
}

Deno.test(
  "17.8 warnings, info lines, retries, server messages and tables go through the sanitiser",
  async () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (line: string) => lines.push(line);
    try {
      stderrLogger.warn(`stream ${HOSTILE_TEXT}`, `title ${HOSTILE_TEXT}`);
      stderrLogger.info(`reading ${HOSTILE_TEXT}`);
      await withTimeout(30_000, () =>
        withServer(
          () => json({ message: HOSTILE_TEXT }, { status: 503 }),
          async (api) => {
            await assert.rejects(
              getJson(`${api.url}/x`, {}, { ...fast, retries: 1 }),
              (error) => {
                assert.ok(error instanceof RemoteError);
                lines.push(problemLine("error", error.message, undefined, true));
                return true;
              },
            );
          },
        ));
      await withTimeout(
        30_000,
        () =>
          withServer(() => json({ message: HOSTILE_TEXT }, { status: 404 }), async (api) => {
            await assert.rejects(getJson(`${api.url}/y`, {}, fast), (error) => {
              assert.ok(error instanceof RemoteError);
              assert.doesNotMatch(error.message, RAW_CONTROL);
              assert.match(error.message, /\(\\x1b\]0;pwned\\x07/);
              return true;
            });
          }),
      );
    } finally {
      console.error = original;
    }
    assert.ok(lines.some((l) => l.startsWith("retrying GET")), lines.join("\n"));
    const rendered = renderResult({
      values: { stream: HOSTILE_TEXT },
      warnings: [{ message: HOSTILE_TEXT, title: HOSTILE_TEXT }],
      lines: [`stream: ${HOSTILE_TEXT}`],
    }, { actions: false });
    const table = renderResult({ values: { stream: HOSTILE_TEXT } }, { actions: false });
    const json17 = renderResult({ values: { stream: HOSTILE_TEXT } }, { json: true });
    for (const text of [...lines, ...rendered.stderr, rendered.stdout, table.stdout]) {
      assert.doesNotMatch(text, RAW_CONTROL, JSON.stringify(text));
      assert.ok(!text.includes("\n"), JSON.stringify(text));
    }
    // --json: C0 escaped by JSON itself, C1 and bidi by jsonText; it reads back unchanged.
    assert.doesNotMatch(json17.stdout, RAW_CONTROL, json17.stdout);
    assert.deepEqual(JSON.parse(json17.stdout), { stream: HOSTILE_TEXT });
    assert.match(table.stdout, /^stream {2}\\x1b\]0;pwned/);
    assert.match(rendered.stdout, /stream: \\x1b\]0;pwned\\x07\\x1b\[2Jred\\r\\nerror: forged/);
  },
);
