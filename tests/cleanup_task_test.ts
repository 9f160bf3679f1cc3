// `deno task cleanup` run as a user would, against a local stand-in for the GitHub
// Packages REST API and the package's registry repository, answering with payloads of the
// documented shape (tests/helpers/github_packages.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { classifyDeleteRefusal } from "../lib/cleanup/packages.ts";
import {
  CACHE_PACKAGE,
  deletedIds,
  deletes,
  DOWNLOADS_MESSAGE,
  type FakeGithub,
  hexOf,
  history,
  imageManifest,
  PACKAGE,
  versionJson,
  withPackages,
} from "./helpers/github_packages.ts";
import { json, type TestServer, withServer } from "./helpers/server.ts";
import { runTaskFile, taskCommandLine } from "./helpers/run_task.ts";
import { integrationTest } from "./helpers/tools.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const runCleanup = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  runTaskFile("cleanup.ts", args, { HTTP_RETRIES: "2", ...env });

const manifestReads = (server: TestServer) =>
  server.requests.filter((r) => r.path.includes("/manifests/"));
const org = ["--owner", "acme", "--package", PACKAGE];
const orgFake = (versions = history(), extra: Partial<FakeGithub> = {}): FakeGithub => ({
  owner: "acme",
  ownerType: "Organization",
  orgId: 4242,
  versions: versions.versions,
  manifests: versions.manifests,
  ...extra,
});
const userFake = (owner: string, extra: Partial<FakeGithub> = {}): FakeGithub => {
  const h = history(20);
  return { owner, ownerType: "User", versions: h.versions, manifests: h.manifests, ...extra };
};

/** Ids the rules delete from history() at 90 days / keep 12: ages ≥ 90 except the
 * 10th to 12th newest versioned images (i = 90, 100, 110) and their attestations. */
const expectedDeleted = Array.from({ length: 170 }, (_, k) => 5090 + k)
  .filter((id) => ![5090, 5091, 5100, 5101, 5110, 5111].includes(id));

const short = (digest: string) => `${digest.slice(0, 11)}…${digest.slice(-4)}`;

Deno.test("cleanup --dry-run reads every page concurrently, reads kept manifests and sends no DELETE", async () => {
  const fake = orgFake();
  await withPackages(fake, async (server, env) => {
    const outputFile = await Deno.makeTempFile();
    const summaryFile = await Deno.makeTempFile();
    try {
      const run = await runCleanup(["--dry-run", "90", "12", ...org, "--github-output"], {
        ...env,
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(deletes(server).length, 0);
      const pages = server.requests.filter((r) => r.path.includes("/versions"));
      assert.deepEqual(pages.map((r) => r.path.replace(/\/packages.*\?/, " ?")).toSorted(), [
        "/organizations/4242 ?per_page=100&page=2",
        "/organizations/4242 ?per_page=100&page=3",
        "/orgs/acme ?per_page=100",
      ]);
      // every kept version's manifest was read once, by digest
      assert.equal(manifestReads(server).length, 96);
      assert.match(run.stdout, /\/orgs\/acme\/packages\/container\/fedora-zfs-kmods \(org acme\)/);
      // the counts come first, then the deletions, then the kept versions
      const lines = run.stdout.split("\n");
      assert.match(lines[1]!, /^260 versions: keep 96, delete 164 \(retention 90 days/);
      assert.ok(run.stdout.indexOf("Delete (164):") < run.stdout.indexOf("Keep (96):"));
      const v5110 = fake.versions.find((v) => v.id === 5110)!;
      assert.match(
        run.stdout,
        new RegExp(
          `^5110 +${short(v5110.name)} +zfs-2\\.4\\.5_kernel-6\\.10\\.110-200\\.fc42\\.x86_64 ` +
            `+\\S+ \\S+ UTC +newest 12 versioned tags$`,
          "m",
        ),
      );
      assert.match(
        run.stdout,
        new RegExp(
          `^5111 +\\S+ +sha256-${v5110.name.slice(7, 11)}…\\S{4} .* attestation of kept image$`,
          "m",
        ),
      );
      assert.match(run.stdout, /^5259 +sha256:[0-9a-f]{4}…[0-9a-f]{4} +- .* expired$/m);
      // kept untagged versions are one line per reason; no full digest anywhere
      assert.match(run.stdout, /^\+ 72 untagged versions: inside retention$/m);
      assert.doesNotMatch(run.stdout, /^5002 /m);
      assert.doesNotMatch(run.stdout, /[0-9a-f]{64}/);
      assert.match(run.stdout, /Dry run: nothing deleted/);
      const outputs = await Deno.readTextFile(outputFile);
      // lists as JSON arrays, like every task's list outputs
      assert.match(
        outputs,
        new RegExp(`^delete-versions=\\[${expectedDeleted.join(",")}\\]$`, "m"),
      );
      assert.match(outputs, /^deleted-versions=\[\]$/m);
      assert.match(outputs, /^delete-count=164$/m);
      assert.match(outputs, /^keep-count=96$/m);
      assert.match(outputs, /^retained-count=0$/m);
      const summary = await Deno.readTextFile(summaryFile);
      assert.match(summary, /^260 versions: keep 96, delete 164/m);
      // an untagged version's tags cell is "-" (escaped: a cell never starts a list)
      assert.match(summary, /\| 5259 \| sha256:[0-9a-f]{4}…[0-9a-f]{4} \| \\- \|/);
      assert.match(summary, /^#### Delete \(164\)$/m);
      assert.match(summary, /^Dry run: nothing deleted\.$/m);
    } finally {
      await Deno.remove(outputFile);
      await Deno.remove(summaryFile);
    }
  });
});

Deno.test("cleanup reads at most 8 pages at once, and page after page without a last link", async (t) => {
  await t.step("rel=last: concurrent, at most 8 in flight", async () => {
    const fake = orgFake(history(1_500), { delayMs: 30 });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(["--dry-run", "--json", "0", "1", ...org], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).versions.length, 1_500);
      assert.equal(server.requests.filter((r) => r.path.includes("/versions")).length, 15);
      assert.ok(fake.stats!.maxInFlight > 1, "pages were read one at a time");
      assert.ok(fake.stats!.maxInFlight <= 8, `${fake.stats!.maxInFlight} pages at once`);
    });
  });
  await t.step("no rel=last: one page at a time, in order", async () => {
    const fake = orgFake(history(1_500), { delayMs: 5, noLast: true });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(["--dry-run", "--json", "0", "1", ...org], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).versions.length, 1_500);
      const pages = server.requests.filter((r) => r.path.includes("/versions"))
        .map((r) => Number(new URL(r.path, server.url).searchParams.get("page") ?? 1));
      assert.deepEqual(pages, Array.from({ length: 15 }, (_, i) => i + 1));
      assert.equal(fake.stats!.maxInFlight, 1);
    });
  });
});

Deno.test("cleanup --verbose lists every kept untagged version", async () => {
  await withPackages(orgFake(), async (_server, env) => {
    const run = await runCleanup(["--dry-run", "--verbose", "90", "12", ...org], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^5002 +sha256:\S+ +- +\S+ \S+ UTC +inside retention$/m);
    assert.doesNotMatch(run.stdout, /untagged versions:/);
  });
});

Deno.test("cleanup --dry-run --json prints the plan as one JSON document with kebab-case keys", async () => {
  const fake = orgFake(history(30), { orgId: 7 });
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["--dry-run", "10", "2", ...org, "--json"], env);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout);
    assert.equal(plan["dry-run"], true);
    assert.equal(plan["retention-days"], 10);
    assert.equal(plan["min-versions"], 2);
    assert.equal(plan.versions.length, 30);
    assert.equal(plan["delete-count"], 20 - 2); // ages 10.5 … 29.5, less zfs tag 10 and its attestation
    assert.equal(plan["retained-count"], 0);
    assert.deepEqual(plan.endpoint, {
      owner: "acme",
      "package-name": PACKAGE,
      "owner-type": "org",
      path: `/orgs/acme/packages/container/${PACKAGE}`,
      repository: `127.0.0.1:${server.port}/acme/${PACKAGE}`,
    });
    assert.deepEqual(plan.versions[0], {
      id: 5000,
      name: fake.versions[0]!.name, // the full digest
      "created-at": fake.versions[0]!.created_at,
      tags: ["zfs-2.4.0_kernel-6.0.0-200.fc42.x86_64"],
      action: "keep",
      reason: "newest 2 versioned tags",
    });
    const keys = JSON.stringify(plan).match(/"[a-zA-Z-]+":/g) ?? [];
    assert.ok(keys.every((k) => !/[A-Z]/.test(k)), `camelCase key in ${keys}`);
    assert.equal(deletes(server).length, 0);
  });
});

Deno.test("cleanup --yes deletes exactly the plan with progress, and a second run deletes nothing", async () => {
  const fake = orgFake();
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["90", "12", ...org, "--yes"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(deletedIds(server), expectedDeleted);
    assert.ok(deletes(server).every((r) => r.path.startsWith("/orgs/acme/packages/container/")));
    assert.match(run.stderr, /\[1 of 164\] deleted 5092 \(-\)/);
    assert.match(run.stderr, /\[164 of 164\] deleted 5259 \(-\)/);
    assert.match(
      run.stdout,
      /260 versions: keep 96, delete 164, deleted 164, retained by GitHub 0/,
    );
    assert.equal(fake.versions.length, 96);

    server.requests.length = 0;
    const again = await runCleanup(["90", "12", ...org, "--yes"], env);
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
    "a tag no registry could hold": () =>
      json([{
        ...history(1).versions[0],
        metadata: { package_type: "container", container: { tags: ["\x1b[31mred"] } },
      }]),
  };
  for (const [name, failure] of Object.entries(failures)) {
    await t.step(name, async () => {
      const fake = orgFake(history(), { script: { "GET page 2": [failure, failure, failure] } });
      await withPackages(fake, async (server, env) => {
        const run = await runCleanup(["90", "12", ...org, "--yes"], {
          ...env,
          HTTP_TIMEOUT_MS: "200",
        });
        assert.equal(run.code, 1, run.stderr);
        assert.equal(deletes(server).length, 0);
        assert.match(run.stderr, /^error: .*\/versions\?per_page=100/m);
        assert.doesNotMatch(run.stderr, /\n\s+at /); // no stack trace
        // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
        assert.doesNotMatch(run.stderr, /\x1b/);
        assert.equal(run.stdout, "");
      });
    });
  }
});

Deno.test("cleanup deletes nothing when the manifest of a kept version cannot be read", async (t) => {
  const cases: Record<string, (() => Response)[]> = {
    "404 manifest unknown": [
      () => json({ errors: [{ code: "MANIFEST_UNKNOWN" }] }, { status: 404 }),
    ],
    "a 500 that persists": [
      () => json({}, { status: 500 }),
      () => json({}, { status: 500 }),
      () => json({}, { status: 500 }),
    ],
    "content that does not match the digest": [
      () =>
        new Response('{"schemaVersion":2,"manifests":[]}', {
          headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
        }),
    ],
  };
  for (const [name, answers] of Object.entries(cases)) {
    await t.step(name, async () => {
      const h = history(100);
      const kept = h.versions.find((v) => v.id === 5010)!; // newest 3 versioned tags, old enough to matter
      const fake = orgFake(h, { script: { [`MANIFEST ${kept.name}`]: answers } });
      await withPackages(fake, async (server, env) => {
        const run = await runCleanup(["0", "3", ...org, "--yes"], env);
        assert.equal(run.code, 1, run.stderr);
        assert.equal(deletes(server).length, 0);
        assert.match(
          run.stderr,
          /^error: Cannot read the manifest of kept version 5010 \(zfs-2\.4\.3_kernel-6\.10\.10-200\.fc42\.x86_64\), so nothing was deleted: /m,
        );
        // One error line; the retries before it each say so on a line of their own.
        const lines = run.stderr.trim().split("\n").filter((l) => !l.startsWith("retrying "));
        assert.equal(lines.length, 1, run.stderr);
      });
    });
  }
});

Deno.test("cleanup reads the manifests of a private package with Basic credentials from its token", async (t) => {
  // A new ghcr.io package is private: an anonymous token request answers 401 (REFERENCE.md).
  const privateFake = () => orgFake(history(100), { privateRegistry: { password: "ghs_secret" } });
  await t.step("GH_TOKEN is the package's token: the manifests are read", async () => {
    await withPackages(privateFake(), async (server, env) => {
      const run = await runCleanup(["--dry-run", "0", "3", ...org], {
        ...env,
        GH_TOKEN: "ghs_secret",
      });
      assert.equal(run.code, 0, run.stderr);
      const tokens = server.requests.filter((r) => r.path.startsWith("/token?"));
      assert.ok(tokens.length >= 1, "no token was asked for");
      assert.ok(tokens.every((r) => r.headers.get("authorization")?.startsWith("Basic ")));
      assert.ok(manifestReads(server).length > 0);
    });
  });
  await t.step("another token: nothing is deleted and the error says what is missing", async () => {
    await withPackages(privateFake(), async (server, env) => {
      const run = await runCleanup(["0", "3", ...org, "--yes"], { ...env, GH_TOKEN: "ghs_other" });
      assert.equal(run.code, 1, run.stderr);
      assert.equal(deletes(server).length, 0);
      assert.match(run.stderr, /Cannot read the registry \(a private package needs GH_TOKEN/);
    });
  });
});

Deno.test("cleanup retries a delete that answers 500 and succeeds on 204", async () => {
  const fake = orgFake(history(100), {
    orgId: 1,
    script: { "DELETE 5095": [() => json({ message: "Server Error" }, { status: 500 })] },
  });
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["90", "3", ...org, "--yes"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(deletes(server).filter((r) => r.path.endsWith("/5095")).length, 2);
    assert.ok(!fake.versions.some((v) => v.id === 5095));
    assert.match(run.stderr, /Deleted 10 versions/);
  });
});

Deno.test("cleanup reports what GitHub retains for its downloads without failing", async () => {
  const fake = orgFake(history(100), { orgId: 1, popular: new Set([5093, 5097]) });
  await withPackages(fake, async (server, env) => {
    const summaryFile = await Deno.makeTempFile();
    const outputFile = await Deno.makeTempFile();
    try {
      const run = await runCleanup(["90", "3", ...org, "--yes", "--github-output"], {
        ...env,
        GITHUB_STEP_SUMMARY: summaryFile,
        GITHUB_OUTPUT: outputFile,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(deletes(server).length, 10); // each tried once: a refusal is not retried
      assert.equal(fake.versions.length, 92);
      assert.match(
        run.stderr,
        /\[4 of 10\] 5093 \(-\) retained by GitHub \(over 5,000 downloads\)/,
      );
      assert.match(run.stdout, /^Retained by GitHub \(2\):$/m);
      assert.match(run.stdout, /^5093 .* retained by GitHub \(over 5,000 downloads\)$/m);
      assert.match(run.stdout, /delete 10, deleted 8, retained by GitHub 2/);
      assert.doesNotMatch(run.stderr, /^error:/m);
      const summary = await Deno.readTextFile(summaryFile);
      assert.match(summary, /deleted 8, retained by GitHub 2/);
      assert.match(summary, /#### Retained by GitHub \(2\)/);
      assert.match(summary, /\| 5097 \| .* \| retained by GitHub \(over 5,000 downloads\) \|/);
      const outputs = await Deno.readTextFile(outputFile);
      assert.match(outputs, /^retained-versions=\[5093,5097\]$/m);
      assert.match(outputs, /^retained-count=2$/m);
      // delete-* is the plan, deleted-* what went
      assert.match(outputs, /^delete-count=10$/m);
      assert.match(outputs, /^deleted-count=8$/m);
      assert.match(outputs, /^failed-count=0$/m);
    } finally {
      await Deno.remove(summaryFile);
      await Deno.remove(outputFile);
    }
  });
});

Deno.test("cleanup recognises the downloads refusal by its message with any status it may come with (400, 403, 409, 422)", async () => {
  // The status GitHub sends with it is not documented (REFERENCE.md): the message decides,
  // among the statuses a refused request gets (DOWNLOADS_REFUSAL_STATUSES).
  const refusal = (status: number) => () => json({ message: DOWNLOADS_MESSAGE }, { status });
  const fake = orgFake(history(100), {
    orgId: 1,
    script: { "DELETE 5093": [refusal(403)], "DELETE 5097": [refusal(422)] },
  });
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["90", "3", ...org, "--yes"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(deletes(server).length, 10);
    assert.match(run.stdout, /delete 10, deleted 8, retained by GitHub 2/);
    assert.match(run.stdout, /^5093 .* retained by GitHub \(over 5,000 downloads\)$/m);
    assert.match(run.stdout, /^5097 .* retained by GitHub \(over 5,000 downloads\)$/m);
    assert.doesNotMatch(run.stderr, /^error:/m);
  });
});

Deno.test("cleanup reports another refusal, goes on with the rest and exits 1", async () => {
  const forbidden = () =>
    json({ message: "Must have admin rights to Repository." }, { status: 403 });
  const fake = orgFake(history(100), {
    orgId: 1,
    popular: new Set([5097]),
    script: { "DELETE 5093": [forbidden] },
  });
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["90", "3", ...org, "--yes"], env);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /cannot delete 5093 \(-\): Access denied \(Must have admin rights/,
    );
    assert.match(run.stderr, /versions\/5093 \(HTTP 403\)/);
    assert.match(run.stderr, /1 of 10 deletes failed/);
    assert.match(run.stdout, /retained by GitHub 1, failed 1/);
    assert.equal(deletes(server).length, 10); // the 403 is not retried; the other nine went on
    assert.equal(fake.versions.length, 92);
  });
});

Deno.test("a DELETE that answers 404 counts as gone only when the version is gone", async (t) => {
  await t.step("a token without admin rights on the package: failures with the hint", async () => {
    const fake = orgFake(history(100), { orgId: 1, noPackageAdmin: true });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(["90", "3", ...org, "--yes"], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /cannot delete 5092 \(-\): Not found \(Package not found\.\): the version is still there; GitHub answers 404 to a token without admin rights on the package: give the workflow job/,
      );
      assert.doesNotMatch(run.stderr, /already gone/);
      assert.match(run.stdout, /delete 10, deleted 0, retained by GitHub 0, failed 10/);
      assert.equal(deletes(server).length, 10);
      assert.equal(fake.versions.length, 100);
    });
  });
  await t.step("the version cannot be read back: not counted gone", async () => {
    const unavailable = () => json({ message: "Server Error" }, { status: 503 });
    const fake = orgFake(history(100), {
      orgId: 1,
      noPackageAdmin: true,
      script: { "GET 5092": [unavailable, unavailable, unavailable] },
    });
    await withPackages(fake, async (_server, env) => {
      const run = await runCleanup(["90", "3", ...org, "--yes"], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /cannot delete 5092 \(-\): Not found \(Package not found\.\): cannot tell whether the version is gone; GitHub answers 404/,
      );
      assert.match(run.stdout, /deleted 0, retained by GitHub 0, failed 10/);
    });
  });
  await t.step(
    "a token that lacks delete:packages and gets a 404: the scope is named",
    async () => {
      const notFound = () => json({ message: "Package not found." }, { status: 404 });
      const fake = orgFake(history(100), {
        orgId: 1,
        scopes: ["read:packages"],
        script: { "DELETE 5092": [notFound] },
      });
      await withPackages(fake, async (_server, env) => {
        const run = await runCleanup(["90", "3", ...org, "--yes"], env);
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          run.stderr,
          /cannot delete 5092 \(-\): Not found \(Package not found\.\): the token lacks the delete:packages scope \(it has: read:packages\)/,
        );
      });
    },
  );
  await t.step("a retried DELETE whose first attempt went through: already gone", async () => {
    const fake: FakeGithub = orgFake(history(100), { orgId: 1 });
    const wentThrough = () => {
      fake.versions = fake.versions.filter((v) => v.id !== 5093);
      return json({ message: "Server Error" }, { status: 502 });
    };
    fake.script = { "DELETE 5093": [wentThrough] };
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(["90", "3", ...org, "--yes"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /\] already gone 5093 /);
      assert.match(run.stdout, /delete 10, deleted 10, retained by GitHub 0/);
      assert.equal(deletes(server).length, 11);
      assert.equal(fake.versions.length, 90);
    });
  });
});

Deno.test("cleanup strips control characters from server text on the terminal and escapes it in the summary", async () => {
  const hostile = () =>
    json({ message: "\x1b[2J\x1b]0;pwned\x07Nope [click](https://evil.example) <img src=x>" }, {
      status: 422,
    });
  const fake = orgFake(history(100), { orgId: 1, script: { "DELETE 5093": [hostile] } });
  await withPackages(fake, async (_server, env) => {
    const summaryFile = await Deno.makeTempFile();
    try {
      const run = await runCleanup(["90", "3", ...org, "--yes", "--github-output"], {
        ...env,
        GITHUB_STEP_SUMMARY: summaryFile,
      });
      assert.equal(run.code, 1);
      // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
      assert.doesNotMatch(run.stderr + run.stdout, /\x1b|\x07/);
      assert.match(run.stderr, /Nope \[click\]/);
      const summary = await Deno.readTextFile(summaryFile);
      assert.match(summary, /Nope \\\[click\\\]\(https:\/\/evil\.example\) \\<img src=x\\>/);
      // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
      assert.doesNotMatch(summary, /\x1b|\x07/);
    } finally {
      await Deno.remove(summaryFile);
    }
  });
});

Deno.test("cleanup waits out rate limits (429 and 403 with retry-after)", async () => {
  const fake = orgFake(history(100), {
    orgId: 1,
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
  });
  await withPackages(fake, async (server, env) => {
    const started = Date.now();
    const run = await runCleanup(["90", "3", ...org, "--yes"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Date.now() - started >= 1000, "retry-after: 1 was not waited for");
    assert.equal(deletes(server).filter((r) => r.path.endsWith("/5099")).length, 2);
    assert.equal(fake.versions.length, 90);
  });
});

Deno.test("cleanup names the fix when /user/… answers 403 Resource not accessible by integration", async (t) => {
  const refuse = () => json({ message: "Resource not accessible by integration" }, { status: 403 });
  const args = (owner: string) => ["--dry-run", "90", "2", "--owner", owner, "--package", PACKAGE];
  await t.step("the owner is the token's user: /user/… is used and refused", async () => {
    const fake = userFake("me", { login: "me", script: { "GET page 1": [refuse] } });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(args("me"), env);
      assert.equal(run.code, 1);
      assert.ok(server.requests.some((r) => r.path.startsWith("/user/packages/container/")));
      assert.match(run.stderr, /Resource not accessible by integration/);
      assert.match(run.stderr, /--owner-type user \(uses \/users\/me\/…\)/);
      assert.match(run.stderr, /packages: write/);
      assert.equal(run.stderr.trim().split("\n").length, 1);
    });
  });
  await t.step("--owner-type user uses /users/<owner>/… and never /user", async () => {
    const fake = userFake("me", { login: "me" });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup([...args("me"), "--owner-type", "user"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(server.requests.every((r) => r.path !== "/user" && !r.path.startsWith("/user/")));
      assert.ok(server.requests.some((r) => r.path.startsWith("/users/me/packages/container/")));
    });
  });
  await t.step("another user's package (or an Actions token) uses /users/<owner>/…", async () => {
    const fake = userFake("someone");
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(args("someone"), env);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(
        server.requests.some((r) => r.path.startsWith("/users/someone/packages/container/")),
      );
      assert.ok(!server.requests.some((r) => r.path.startsWith("/user/")));
    });
  });
});

Deno.test("cleanup without a terminal and without --yes refuses with exit 2 and deletes nothing", async () => {
  await withPackages(orgFake(history(100), { orgId: 1 }), async (server, env) => {
    const run = await runCleanup(["90", "3", ...org], env);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /^error: Refusing to delete 10 versions without a terminal to confirm: add --yes$/m,
    );
    assert.equal(deletes(server).length, 0);
  });
});

Deno.test("cleanup on a new package with fewer versioned tags than min-versions gives a notice, deletes nothing and exits 0", async (t) => {
  await withPackages(orgFake(history(100), { orgId: 1 }), async (server, env) => {
    await t.step("on a terminal", async () => {
      const run = await runCleanup(["0", "11", ...org, "--yes"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stderr,
        /^notice: The package has 10 versioned \(zfs-\*_kernel-\*\) tags, fewer than the 11 to keep \(cleanup <retention-days> <min-versions>\): nothing is deleted until it has 11$/m,
      );
      assert.match(run.stdout, /keep 100, delete 0/);
      assert.match(run.stdout, /fewer than 11 versioned tags/);
      assert.equal(deletes(server).length, 0);
      assert.equal(manifestReads(server).length, 0);
    });
    await t.step("under GitHub Actions: a notice annotation and the summary says it", async () => {
      const summaryFile = await Deno.makeTempFile();
      const outputFile = await Deno.makeTempFile();
      try {
        const run = await runCleanup(["90", "11", ...org, "--yes", "--github-output"], {
          ...env,
          GITHUB_ACTIONS: "true",
          GITHUB_STEP_SUMMARY: summaryFile,
          GITHUB_OUTPUT: outputFile,
        });
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /^::notice title=cleanup::The package has 10 versioned/m);
        assert.match(await Deno.readTextFile(summaryFile), /nothing is deleted until it has 11/);
        assert.match(await Deno.readTextFile(outputFile), /^delete-count=0$/m);
        assert.equal(deletes(server).length, 0);
      } finally {
        await Deno.remove(summaryFile);
        await Deno.remove(outputFile);
      }
    });
  });
});

Deno.test("cleanup takes registry, owner and package from matrix.yaml's publish image", async () => {
  const fake = orgFake(history(5), { owner: "fedora-zfs-kmods", orgId: 3 });
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["--dry-run", "90", "1"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.requests[0]?.path, "/users/fedora-zfs-kmods");
    assert.match(run.stdout, /\/orgs\/fedora-zfs-kmods\/packages\/container\/fedora-zfs-kmods/);
    assert.ok(
      manifestReads(server).every((r) =>
        r.path.startsWith(`/v2/fedora-zfs-kmods/${PACKAGE}/manifests/sha256:`)
      ),
    );
    assert.equal(manifestReads(server).length, 5);
  });
});

Deno.test("cleanup rejects bad numbers with exit 2 before any request", async (t) => {
  const cases = [
    ["90", "0"],
    ["-1", "3"],
    ["1.5", "3"],
    ["ninety", "3"],
    ["90"],
    ["200000000", "1"], // a cutoff before any date
    ["36501", "1"],
    ["90", "99999999999999999999999"],
  ];
  for (const args of cases) {
    await t.step(args.join(" "), async () => {
      await withServer(() => json({}), async (server) => {
        const run = await runCleanup(["--dry-run", ...args, ...org], {
          GITHUB_API_URL: server.url,
        });
        assert.equal(run.code, 2, run.stderr);
        assert.equal(run.stderr.trim().split("\n")[0]!.startsWith("error: "), true, run.stderr);
        assert.doesNotMatch(run.stderr, /unexpected failure|\n\s+at /);
        assert.equal(server.requests.length, 0);
      });
    });
  }
});

Deno.test("cleanup refuses an unwritable $GITHUB_OUTPUT or $GITHUB_STEP_SUMMARY before any request", async (t) => {
  for (const variable of ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"]) {
    await t.step(variable, async () => {
      await withPackages(orgFake(history(100), { orgId: 1 }), async (server, env) => {
        const run = await runCleanup(["90", "3", ...org, "--yes", "--github-output"], {
          ...env,
          [variable]: "/proc/cannot/write/here",
        });
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, new RegExp(`^error: Cannot write \\$${variable}: `, "m"));
        assert.equal(server.requests.length, 0);
      });
    });
  }
});

/** The variables a child process needs to run deno at all (PATH, HOME, DENO_DIR). */
function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR"];
  return Object.fromEntries(
    keep.flatMap((k) => (Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : [])),
  );
}

integrationTest(
  "cleanup on a terminal asks before deleting: n deletes nothing, y deletes the plan in colour",
  ["script"],
  async (t) => {
    // `script` gives the task a pseudo-terminal as stdin and forwards our answer to it.
    const onTerminal = async (env: Record<string, string>, answer: string) => {
      const command = taskCommandLine("cleanup.ts", ["90", "12", ...org]);
      const child = new Deno.Command("script", {
        args: ["-qec", command, "/dev/null"],
        // A clean environment: an inherited NO_COLOR (CI sets it) would hide the colour.
        clearEnv: true,
        env: { ...baseEnv(), GH_TOKEN: "test", HTTP_BACKOFF_MS: "1", ...env },
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
    await withPackages(orgFake(history(), { orgId: 7 }), async (server, env) => {
      await t.step("n, with NO_COLOR", async () => {
        const run = await onTerminal({ ...env, NO_COLOR: "1" }, "n");
        assert.match(
          run.text,
          new RegExp(`Delete ${expectedDeleted.length} versions\\? \\[y/N\\]`),
        );
        assert.match(run.text, /Nothing deleted/);
        // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
        assert.doesNotMatch(run.text, /\x1b\[31m/);
        assert.equal(run.code, 0);
        assert.equal(deletes(server).length, 0);
      });
      await t.step("y, delete rows in red", async () => {
        const run = await onTerminal(env, "y");
        assert.equal(run.code, 0, run.text);
        // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
        assert.match(run.text, /\x1b\[31m5259 +sha256:\S+ +- .* expired\x1b\[0m/);
        // deno-lint-ignore no-control-regex -- looking for escape sequences is the point
        assert.doesNotMatch(run.text, /\x1b\[31m5110 /); // kept rows stay plain
        assert.deepEqual(deletedIds(server), expectedDeleted);
      });
    });
  },
);

Deno.test("cleanup plans and prints 150,001 versions (1,501 pages) without a crash", async () => {
  const fake = orgFake(history(150_001));
  await withPackages(fake, async (server, env) => {
    const run = await runCleanup(["--dry-run", "0", "1", ...org], env);
    assert.equal(run.code, 0, run.stderr.slice(0, 2000));
    assert.equal(server.requests.filter((r) => r.path.includes("/versions")).length, 1_501);
    assert.match(run.stdout, /^150001 versions: keep 2, delete 149999 /m);
    // the oldest version is the last delete row (checked without printing 20 MB on failure)
    assert.ok(
      /^155000 +sha256:\S+ +zfs-2\.4\.\d_kernel-\S+ +\S+ \S+ UTC +expired$/m.test(run.stdout),
    );
    assert.doesNotMatch(run.stderr, /RangeError|unexpected failure/);
  });
});

// --- issue 17 §1–3 (data loss), issue 18 (swapped arguments), issue 19 (the cache mode) ---

Deno.test("cleanup never deletes a version id whose digest a kept tag carries (issue 17 §1)", async (t) => {
  for (
    const [name, twinDigest] of [["same case", (d: string) => d], [
      "upper case",
      (d: string) => `sha256:${hexOf(d).toUpperCase()}`,
    ]] as const
  ) {
    await t.step(name, async () => {
      const h = history(30);
      const kept = h.versions[0]!; // id 5000, the newest, tagged
      // GitHub lists the kept digest again as an old untagged version
      const twin = versionJson(9999, 400, [], twinDigest(kept.name));
      const fake = orgFake({ versions: [...h.versions, twin], manifests: h.manifests }, {
        orgId: 2,
      });
      await withPackages(fake, async (server, env) => {
        const run = await runCleanup(["10", "1", ...org, "--yes"], env);
        assert.equal(run.code, 0, run.stderr);
        assert.ok(deletes(server).length > 0);
        assert.ok(!deletedIds(server).includes(9999), "the kept tag's manifest was deleted");
        assert.ok(fake.versions.some((v) => v.id === 9999));
        const dry = await runCleanup(["--dry-run", "--json", "10", "1", ...org], env);
        const plan = JSON.parse(dry.stdout);
        const row = plan.versions.find((v: { id: number }) => v.id === 9999);
        assert.deepEqual([row.action, row.reason], ["keep", "same digest as version 5000"]);
      });
    });
  }
});

Deno.test("cleanup refuses a listing whose created_at is no real time or lies ahead, deleting nothing (issue 17 §2)", async (t) => {
  for (const createdAt of ["2024-02-30T00:00:00Z", "9999-12-31T00:00:00Z", "2024-02-29"]) {
    await t.step(createdAt, async () => {
      const h = history(40);
      const bad = { ...h.versions[25]!, created_at: createdAt };
      const versions = h.versions.map((v) => v.id === bad.id ? bad : v);
      const fake = orgFake({ versions, manifests: h.manifests }, { orgId: 2 });
      await withPackages(fake, async (server, env) => {
        const run = await runCleanup(["10", "1", ...org, "--yes"], env);
        assert.equal(run.code, 1, run.stderr);
        const lines = run.stderr.trim().split("\n");
        assert.equal(lines.length, 1, run.stderr);
        assert.match(
          lines[0]!,
          new RegExp(
            `^error: Refusing to clean up: version 5025 \\(.*\\) has created_at "${createdAt}", .*nothing was deleted$`,
          ),
        );
        assert.equal(deletes(server).length, 0);
      });
    });
  }
});

Deno.test("cleanup tells a permission failure from GitHub's downloads refusal, permission first (issue 17 §3)", async (t) => {
  const answer = (status: number, message: string) => () => json({ message }, { status });
  await t.step(
    "403 not accessible by integration, mentioning 5000 downloads: a failure with the fix",
    async () => {
      const fake = orgFake(history(100), {
        orgId: 1,
        script: {
          "DELETE 5093": [
            answer(403, "Resource not accessible by integration. Note: over 5000 downloads"),
          ],
        },
      });
      await withPackages(fake, async (_server, env) => {
        const run = await runCleanup(["90", "3", ...org, "--yes"], env);
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          run.stderr,
          /cannot delete 5093 \(-\): .*Resource not accessible by integration.*: give the workflow job `permissions: packages: write` and the repository Admin access/,
        );
        assert.doesNotMatch(run.stdout, /retained by GitHub [1-9]/);
        assert.match(run.stdout, /retained by GitHub 0, failed 1/);
      });
    },
  );
  await t.step("a token without delete:packages: the hint names the missing scope", async () => {
    const fake = orgFake(history(100), { orgId: 1, scopes: ["read:packages", "repo"] });
    await withPackages(fake, async (server, env) => {
      const run = await runCleanup(["90", "3", ...org, "--yes"], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /cannot delete 5092 \(-\): .*the token lacks the delete:packages scope \(it has: read:packages, repo\)/,
      );
      assert.equal(deletes(server).length, 10);
      assert.equal(fake.versions.length, 100);
    });
  });
  await t.step("a 4xx that only mentions 5000 downloads is a failure, not retained", async () => {
    const fake = orgFake(history(100), {
      orgId: 1,
      script: {
        "DELETE 5093": [answer(400, "Invalid request: over 5000 downloads of something")],
        "DELETE 5094": [
          answer(
            500,
            "Publicly visible package versions with more than 5000 downloads cannot be deleted",
          ),
        ],
      },
    });
    await withPackages(fake, async (_server, env) => {
      const run = await runCleanup(["90", "3", ...org, "--yes"], env);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /retained by GitHub 0, failed 1/);
      assert.match(run.stderr, /cannot delete 5093 \(-\): /);
    });
  });
});

Deno.test("classifyDeleteRefusal() checks permission failures first, then the downloads refusal by status and start", () => {
  const downloads = DOWNLOADS_MESSAGE;
  assert.equal(classifyDeleteRefusal(400, downloads).kind, "downloads");
  assert.equal(classifyDeleteRefusal(422, `  ${downloads}`).kind, "downloads");
  assert.equal(classifyDeleteRefusal(500, downloads).kind, "other");
  assert.equal(classifyDeleteRefusal(400, `Note: ${downloads}`).kind, "other");
  assert.equal(
    classifyDeleteRefusal(403, downloads, "read:packages").kind,
    "permission",
  );
  const integration = classifyDeleteRefusal(
    403,
    "Resource not accessible by integration. Note: over 5000 downloads",
  );
  assert.equal(integration.kind, "permission");
  assert.match(integration.kind === "permission" ? integration.hint : "", /packages: write/);
  assert.equal(classifyDeleteRefusal(401, "Bad credentials").kind, "permission");
  assert.equal(
    classifyDeleteRefusal(403, "Must have admin rights to Repository.").kind,
    "permission",
  );
  assert.equal(classifyDeleteRefusal(409, "Conflict").kind, "other");
});

Deno.test("cleanup names the argument order when the numbers look swapped, before any request (issue 18)", async () => {
  await withPackages(orgFake(history(10), { orgId: 1 }), async (server, env) => {
    const run = await runCleanup(["--dry-run", "3", "90", ...org], env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /look swapped: the order is <retention-days> <min-versions>/);
    assert.equal(server.requests.length, 0);
    const missing = await runCleanup(["--dry-run", "90", ...org], env);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(
      missing.stderr,
      /Missing <min-versions>: the order is <retention-days> <min-versions>/,
    );
    assert.equal(server.requests.length, 0);
  });
});

Deno.test("cleanup --cache deletes the layer-cache versions older than N days, by age alone (issue 19 §4)", async (t) => {
  const cacheTag = (i: number) => createHash("sha256").update(`layer ${i}`).digest("hex");
  // ages 1 … 60 days; every one tagged with a cache key, one also zfs-*_kernel-* by mistake,
  // and an old untagged twin of a young digest
  const versions = Array.from({ length: 60 }, (_, i) =>
    versionJson(
      7000 + i,
      i + 1,
      i === 45 ? [cacheTag(i), "zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64"] : [cacheTag(i)],
      imageManifest(`cache ${i}`).digest,
    ));
  versions.push(versionJson(7100, 90, [], versions[3]!.name));
  const fake: FakeGithub = {
    owner: "acme",
    ownerType: "Organization",
    orgId: 9,
    packageName: CACHE_PACKAGE,
    versions,
  };
  await withPackages(fake, async (server, env) => {
    await t.step(
      "--dry-run: the plan, from matrix.yaml publish.cache, no manifest read",
      async () => {
        const outputFile = await Deno.makeTempFile();
        try {
          const run = await runCleanup(["--cache", "--dry-run", "30", "--github-output"], {
            ...env,
            GITHUB_OUTPUT: outputFile,
            GITHUB_STEP_SUMMARY: "/dev/null",
          });
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stdout, new RegExp(`^/orgs/acme/packages/container/${CACHE_PACKAGE} `));
          assert.match(
            run.stdout,
            /61 versions: keep 30, delete 31 \(retention 30 days, cutoff .*, age only\)/,
          );
          assert.match(run.stdout, /same digest as version 7003/);
          assert.equal(manifestReads(server).length, 0);
          assert.equal(deletes(server).length, 0);
          assert.match(await Deno.readTextFile(outputFile), /^delete-count=31$/m);
        } finally {
          await Deno.remove(outputFile);
        }
      },
    );
    await t.step("--yes deletes exactly the versions older than 30 days", async () => {
      const run = await runCleanup(["--cache", "30", "--yes"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(deletedIds(server), Array.from({ length: 31 }, (_, k) => 7029 + k));
      assert.equal(fake.versions.length, 30);
    });
  });
  await t.step("--cache with a min-versions is a usage error", async () => {
    const run = await runCleanup(["--cache", "30", "3"], {});
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--cache takes only <retention-days>/);
  });
});

Deno.test("cleanup on a new fork without the package yet gives a notice and exits 0", async (t) => {
  // the stand-in serves only fedora-zfs-kmods: the cache package answers 404 as GitHub does
  await withPackages(orgFake(history(10), { orgId: 1 }), async (server, env) => {
    for (const args of [["--cache", "30"], ["90", "3", "--package", "never-built"]]) {
      await t.step(args.join(" "), async () => {
        const run = await runCleanup([...args, "--yes", "--json"], env);
        assert.equal(run.code, 0, run.stderr);
        assert.match(
          run.stderr,
          /^notice: There is no package \S+ of acme yet \(GitHub answers 404/m,
        );
        const plan = JSON.parse(run.stdout);
        assert.equal(plan["delete-count"], 0);
        assert.match(plan.notice, /nothing to delete/);
        assert.equal(deletes(server).length, 0);
      });
    }
  });
});
