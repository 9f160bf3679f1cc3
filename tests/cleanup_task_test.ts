// `deno task cleanup` run as a user would, against a local stand-in for the GitHub
// Packages REST API that answers with payloads of the documented shape.
import assert from "node:assert/strict";
import { json, type TestServer, withServer } from "./helpers/server.ts";
import { integrationTest } from "./helpers/tools.ts";

const DAY_MS = 86_400_000;
const TASK = new URL("../tasks/cleanup.ts", import.meta.url).pathname;
const PACKAGE = "fedora-zfs-kmods";

const hex = (id: number) => id.toString(16).padStart(64, "0");

interface VersionJson {
  id: number;
  name: string;
  url: string;
  package_html_url: string;
  created_at: string;
  updated_at: string;
  html_url: string;
  metadata: { package_type: "container"; container: { tags: string[] } };
}

function versionJson(id: number, ageDays: number, tags: string[]): VersionJson {
  const created = new Date(Date.now() - ageDays * DAY_MS).toISOString().replace(/\.\d+Z$/, "Z");
  return {
    id,
    name: `sha256:${hex(id)}`,
    url: `https://api.github.com/orgs/acme/packages/container/${PACKAGE}/versions/${id}`,
    package_html_url: `https://github.com/orgs/acme/packages/container/package/${PACKAGE}`,
    created_at: created,
    updated_at: created,
    html_url: `https://github.com/orgs/acme/packages/container/${PACKAGE}/${id}`,
    metadata: { package_type: "container", container: { tags } },
  };
}

/**
 * 260 versions, one a day (ages 0.5 … 259.5 days): every tenth has a versioned tag, the
 * one after it is that image's attestation (`sha256-<digest>`), the rest are untagged.
 */
function history(count = 260): VersionJson[] {
  return Array.from({ length: count }, (_, i) => {
    const id = 5000 + i;
    const tags = i % 10 === 0
      ? [`zfs-2.4.${i % 7}_kernel-6.${i % 20}.${i}-200.fc42.x86_64`]
      : i % 10 === 1
      ? [`sha256-${hex(id - 1)}`]
      : [];
    return versionJson(id, i + 0.5, tags);
  });
}

interface FakeGithub {
  owner: string;
  ownerType: "User" | "Organization";
  /** The login of the token's user; undefined → GET /user answers 403 like an Actions token. */
  login?: string;
  orgId?: number;
  versions: VersionJson[];
  /** Answers to send, in order, before the normal one, keyed by "GET page N" or "DELETE id". */
  script?: Record<string, (() => Response | Promise<Response>)[]>;
}

/** The GitHub REST routes the task uses, with pages of 100 and `Link` headers. */
function github(fake: FakeGithub) {
  const pkg = `/packages/container/${PACKAGE}/versions`;
  return (request: Request, server: TestServer): Response | Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    const scripted = (key: string) => fake.script?.[key]?.shift()?.();
    if (path === `/users/${fake.owner}`) {
      return json({ login: fake.owner, id: 4242, type: fake.ownerType });
    }
    if (path === "/user") {
      return fake.login
        ? json({ login: fake.login, id: 1, type: "User" })
        : json({ message: "Resource not accessible by integration" }, { status: 403 });
    }
    const prefixes = fake.ownerType === "Organization"
      ? [`/orgs/${fake.owner}`, `/organizations/${fake.orgId}`]
      : [`/users/${fake.owner}`, `/user`];
    const prefix = prefixes.find((p) => path.startsWith(`${p}${pkg}`));
    if (!prefix) return json({ message: "Not Found" }, { status: 404 });
    if (request.method === "GET" && path === `${prefix}${pkg}`) {
      const page = Number(url.searchParams.get("page") ?? 1);
      const perPage = Number(url.searchParams.get("per_page") ?? 30);
      const answer = scripted(`GET page ${page}`);
      if (answer) return answer;
      const items = fake.versions.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < fake.versions.length) {
        // GitHub's next links for an organisation point at /organizations/<id>/…
        const next = fake.ownerType === "Organization" ? `/organizations/${fake.orgId}` : prefix;
        headers.link = `<${server.url}${next}${pkg}?per_page=${perPage}&page=${page + 1}>; ` +
          `rel="next", <${server.url}${next}${pkg}?per_page=${perPage}&page=9>; rel="last"`;
      }
      return json(items, { headers });
    }
    const id = Number(path.slice(`${prefix}${pkg}/`.length));
    if (request.method === "DELETE" && id) {
      const answer = scripted(`DELETE ${id}`);
      if (answer) return answer;
      const index = fake.versions.findIndex((v) => v.id === id);
      if (index < 0) return json({ message: "Package version not found." }, { status: 404 });
      fake.versions.splice(index, 1);
      return new Response(null, { status: 204 });
    }
    return json({ message: "Not Found" }, { status: 404 });
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCleanup(server: TestServer, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    env: {
      GITHUB_API_URL: server.url,
      GH_TOKEN: "test",
      HTTP_BACKOFF_MS: "1",
      HTTP_RETRIES: "2",
      NO_COLOR: "1",
      GITHUB_OUTPUT: "",
      GITHUB_STEP_SUMMARY: "",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) } as Run;
}

const deletes = (server: TestServer) => server.requests.filter((r) => r.method === "DELETE");
const org = ["--owner", "acme", "--package", PACKAGE];

/** Ids the rules delete from history() at 90 days / keep 12: ages ≥ 90 except the
 * 10th to 12th newest versioned images (i = 90, 100, 110) and their attestations. */
const expectedDeleted = Array.from({ length: 170 }, (_, k) => 5090 + k)
  .filter((id) => ![5090, 5091, 5100, 5101, 5110, 5111].includes(id));

Deno.test("cleanup --dry-run reads every page of an organisation and sends no DELETE", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 4242,
    versions: history(),
  };
  await withServer(github(fake), async (server) => {
    const outputFile = await Deno.makeTempFile();
    const summaryFile = await Deno.makeTempFile();
    try {
      const run = await runCleanup(server, ["--dry-run", "90", "12", ...org, "--github-output"], {
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(deletes(server).length, 0);
      const pages = server.requests.filter((r) => r.path.includes("/versions"));
      assert.deepEqual(pages.map((r) => r.path.replace(/\/packages.*\?/, " ?")), [
        "/orgs/acme ?per_page=100",
        "/organizations/4242 ?per_page=100&page=2",
        "/organizations/4242 ?per_page=100&page=3",
      ]);
      assert.match(run.stdout, /\/orgs\/acme\/packages\/container\/fedora-zfs-kmods \(org acme\)/);
      assert.match(
        run.stdout,
        /^5110 +zfs-2\.4\.5_kernel-6\.10\.110-200\.fc42\.x86_64 .* keep +newest-12$/m,
      );
      assert.match(run.stdout, /^5111 +sha256-0+13f6 .* keep +attestation of kept image$/m);
      assert.match(run.stdout, /^5002 +<untagged> .* keep +inside retention$/m);
      assert.match(run.stdout, /^5259 +<untagged> .* delete +expired$/m);
      assert.match(run.stdout, /260 versions: keep 96, delete 164/);
      assert.match(run.stdout, /Dry run: nothing deleted/);
      const outputs = await Deno.readTextFile(outputFile);
      assert.match(
        outputs,
        new RegExp(`^delete-versions=${expectedDeleted.join(",")}$`, "m"),
      );
      assert.match(outputs, /^delete-count=164$/m);
      assert.match(outputs, /^keep-count=96$/m);
      assert.match(await Deno.readTextFile(summaryFile), /\| 5259 \| <untagged> \|/);
    } finally {
      await Deno.remove(outputFile);
      await Deno.remove(summaryFile);
    }
  });
});

Deno.test("cleanup --dry-run --json prints the plan as one JSON document", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 7,
    versions: history(30),
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["--dry-run", "10", "2", ...org, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout);
    assert.equal(plan.dryRun, true);
    assert.equal(plan.versions.length, 30);
    assert.equal(plan.deleteCount, 20 - 2); // ages 10.5 … 29.5, less zfs tag 10 and its attestation
    assert.deepEqual(plan.versions[0], {
      id: 5000,
      name: `sha256:${hex(5000)}`,
      createdAt: fake.versions[0]!.created_at,
      tags: ["zfs-2.4.0_kernel-6.0.0-200.fc42.x86_64"],
      action: "keep",
      reason: "newest-2",
    });
    assert.equal(deletes(server).length, 0);
  });
});

Deno.test("cleanup --yes deletes exactly the plan with progress, and a second run deletes nothing", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 4242,
    versions: history(),
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["90", "12", ...org, "--yes"]);
    assert.equal(run.code, 0, run.stderr);
    const deleted = deletes(server).map((r) => Number(r.path.split("/").pop()));
    assert.deepEqual(deleted.toSorted(), expectedDeleted);
    assert.ok(deletes(server).every((r) => r.path.startsWith("/orgs/acme/packages/container/")));
    assert.match(run.stderr, /\[1 of 164\] deleted 5092 \(<untagged>\)/);
    assert.match(run.stderr, /\[164 of 164\] deleted 5259 \(<untagged>\)/);
    assert.equal(fake.versions.length, 96);

    server.requests.length = 0;
    const again = await runCleanup(server, ["90", "12", ...org, "--yes"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(deletes(server).length, 0);
    assert.match(again.stdout, /96 versions: keep 96, delete 0/);
    assert.match(again.stdout, /Nothing to delete/);
  });
});

Deno.test("cleanup deletes nothing when a read fails mid-listing", async (t) => {
  const failures: Record<string, () => Response | Promise<Response>> = {
    "a 500 that persists": () => json({ message: "Server Error" }, { status: 500 }),
    "a page slower than the timeout": async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return json([]);
    },
    "malformed JSON": () =>
      new Response('[{"id": 1,', { headers: { "content-type": "application/json" } }),
    "an object instead of a list": () => json({ message: "ok" }),
    "an item of the wrong shape": () =>
      json([{ id: 9, name: "sha256:x", created_at: "yesterday" }]),
  };
  for (const [name, failure] of Object.entries(failures)) {
    await t.step(name, async () => {
      const fake: FakeGithub = {
        owner: "acme",
        ownerType: "Organization",
        orgId: 4242,
        versions: history(),
        script: { "GET page 2": [failure, failure, failure] },
      };
      await withServer(github(fake), async (server) => {
        const run = await runCleanup(server, ["90", "12", ...org, "--yes"], {
          HTTP_TIMEOUT_MS: "200",
        });
        assert.equal(run.code, 1, run.stderr);
        assert.equal(deletes(server).length, 0);
        assert.match(run.stderr, /^error: .*\/versions\?per_page=100/m);
        assert.doesNotMatch(run.stderr, /\n\s+at /); // no stack trace
        assert.equal(run.stdout, "");
      });
    });
  }
});

Deno.test("cleanup retries a delete that answers 500 and succeeds on 204", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 1,
    versions: history(100),
    script: { "DELETE 5095": [() => json({ message: "Server Error" }, { status: 500 })] },
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["90", "3", ...org, "--yes"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(deletes(server).filter((r) => r.path.endsWith("/5095")).length, 2);
    assert.ok(!fake.versions.some((v) => v.id === 5095));
    assert.match(run.stderr, /Deleted 10 versions/);
  });
});

Deno.test("cleanup reports a delete that answers 403, goes on with the rest and exits 1", async () => {
  const forbidden = () =>
    json({ message: "Must have admin rights to Repository." }, { status: 403 });
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 1,
    versions: history(100),
    script: { "DELETE 5093": [forbidden] },
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["90", "3", ...org, "--yes"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /cannot delete 5093 \(<untagged>\): Access denied \(Must have admin rights/,
    );
    assert.match(run.stderr, /versions\/5093 \(HTTP 403\)/);
    assert.match(run.stderr, /1 of 10 deletes failed/);
    assert.equal(deletes(server).length, 10); // the 403 is not retried; the other nine went on
    assert.equal(fake.versions.length, 91);
  });
});

Deno.test("cleanup waits out rate limits (429 and 403 with retry-after)", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 1,
    versions: history(100),
    script: {
      "GET page 1": [
        () => json({ message: "slow down" }, { status: 429, headers: { "retry-after": "0" } }),
      ],
      "DELETE 5099": [() =>
        json({ message: "API rate limit exceeded" }, {
          status: 403,
          headers: { "retry-after": "1", "x-ratelimit-remaining": "0" },
        })],
    },
  };
  await withServer(github(fake), async (server) => {
    const started = Date.now();
    const run = await runCleanup(server, ["90", "3", ...org, "--yes"]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Date.now() - started >= 1000, "retry-after: 1 was not waited for");
    assert.equal(deletes(server).filter((r) => r.path.endsWith("/5099")).length, 2);
    assert.equal(fake.versions.length, 90);
  });
});

Deno.test("cleanup names the fix when /user/… answers 403 Resource not accessible by integration", async (t) => {
  const refuse = () => json({ message: "Resource not accessible by integration" }, { status: 403 });
  await t.step("the owner is the token's user: /user/… is used and refused", async () => {
    const fake: FakeGithub = {
      owner: "me",
      ownerType: "User",
      login: "me",
      versions: history(20),
      script: { "GET page 1": [refuse] },
    };
    await withServer(github(fake), async (server) => {
      const run = await runCleanup(server, [
        "--dry-run",
        "90",
        "2",
        "--owner",
        "me",
        "--package",
        PACKAGE,
      ]);
      assert.equal(run.code, 1);
      assert.ok(server.requests.some((r) => r.path.startsWith("/user/packages/container/")));
      assert.match(run.stderr, /Resource not accessible by integration/);
      assert.match(run.stderr, /--owner-type user \(uses \/users\/me\/…\)/);
      assert.match(run.stderr, /packages: write/);
      assert.equal(run.stderr.trim().split("\n").length, 1);
    });
  });
  await t.step("--owner-type user uses /users/<owner>/… and never /user", async () => {
    const fake: FakeGithub = { owner: "me", ownerType: "User", login: "me", versions: history(20) };
    await withServer(github(fake), async (server) => {
      const run = await runCleanup(server, [
        "--dry-run",
        "90",
        "2",
        "--owner",
        "me",
        "--package",
        PACKAGE,
        "--owner-type",
        "user",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(server.requests.every((r) => r.path !== "/user" && !r.path.startsWith("/user/")));
      assert.ok(server.requests.some((r) => r.path.startsWith("/users/me/packages/container/")));
    });
  });
  await t.step("another user's package (or an Actions token) uses /users/<owner>/…", async () => {
    const fake: FakeGithub = { owner: "someone", ownerType: "User", versions: history(20) };
    await withServer(github(fake), async (server) => {
      const run = await runCleanup(server, [
        "--dry-run",
        "90",
        "2",
        "--owner",
        "someone",
        "--package",
        PACKAGE,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(
        server.requests.some((r) => r.path.startsWith("/users/someone/packages/container/")),
      );
      assert.ok(!server.requests.some((r) => r.path.startsWith("/user/")));
    });
  });
});

Deno.test("cleanup without a terminal and without --yes refuses with exit 2 and deletes nothing", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 1,
    versions: history(100),
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["90", "3", ...org]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /^error: Refusing to delete 10 versions without a terminal to confirm: add --yes$/m,
    );
    assert.equal(deletes(server).length, 0);
  });
});

Deno.test("cleanup refuses (exit 1) when fewer versioned tags exist than min-versions", async () => {
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 1,
    versions: history(100),
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["0", "11", ...org, "--yes"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /10 versioned \(zfs-\*_kernel-\*\) tags, fewer than the 11 to keep/);
    assert.equal(deletes(server).length, 0);
  });
});

Deno.test("cleanup takes owner and package from matrix.yaml's publish image", async () => {
  const fake: FakeGithub = {
    owner: "fedora-zfs-kmods",
    ownerType: "Organization",
    orgId: 3,
    versions: history(5),
  };
  await withServer(github(fake), async (server) => {
    const run = await runCleanup(server, ["--dry-run", "90", "1"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.requests[0]?.path, "/users/fedora-zfs-kmods");
    assert.match(run.stdout, /\/orgs\/fedora-zfs-kmods\/packages\/container\/fedora-zfs-kmods/);
  });
});

Deno.test("cleanup rejects bad numbers with exit 2 before any request", async (t) => {
  for (const args of [["90", "0"], ["-1", "3"], ["1.5", "3"], ["ninety", "3"], ["90"]]) {
    await t.step(args.join(" "), async () => {
      await withServer(() => json({}), async (server) => {
        const run = await runCleanup(server, ["--dry-run", ...args, ...org]);
        assert.equal(run.code, 2, run.stderr);
        assert.equal(server.requests.length, 0);
      });
    });
  }
});

integrationTest(
  "cleanup on a terminal asks before deleting: n deletes nothing, y deletes the plan",
  [
    "script",
  ],
  async (t) => {
    // `script` gives the task a pseudo-terminal as stdin and forwards our answer to it.
    const onTerminal = async (server: TestServer, answer: string) => {
      const command = [Deno.execPath(), "run", "-A", TASK, "90", "12", ...org].join(" ");
      const child = new Deno.Command("script", {
        args: ["-qec", command, "/dev/null"],
        env: { GITHUB_API_URL: server.url, GH_TOKEN: "test", HTTP_BACKOFF_MS: "1", NO_COLOR: "1" },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(`${answer}\n`));
      await writer.close();
      const output = await child.output();
      return { code: output.code, text: new TextDecoder().decode(output.stdout) };
    };
    const fake: FakeGithub = {
      owner: "acme",
      ownerType: "Organization",
      orgId: 7,
      versions: history(),
    };
    await withServer(github(fake), async (server) => {
      await t.step("n", async () => {
        const run = await onTerminal(server, "n");
        assert.match(
          run.text,
          new RegExp(`Delete ${expectedDeleted.length} versions\\? \\[y/N\\]`),
        );
        assert.match(run.text, /Nothing deleted/);
        assert.equal(run.code, 0);
        assert.equal(deletes(server).length, 0);
      });
      await t.step("y", async () => {
        const run = await onTerminal(server, "y");
        assert.equal(run.code, 0, run.text);
        assert.deepEqual(
          deletes(server).map((r) => Number(r.path.split("/").pop())).sort(),
          expectedDeleted,
        );
      });
    });
  },
);
