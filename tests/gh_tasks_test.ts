// run-workflow and workflow-status drive the real gh against a local TLS server that
// answers like the GitHub REST API (gh talks to GH_HOST=localhost:PORT under /api/v3/).
import assert from "node:assert/strict";
import { InputError } from "../lib/errors.ts";
import { runsTable, type WorkflowRun } from "../lib/gh.ts";
import { githubRepo, gitRef } from "../lib/patterns.ts";
import { json, type TestServer, withServer } from "./helpers/server.ts";
import { integrationTest } from "./helpers/tools.ts";

const WORKFLOW = { id: 4242, name: "build", path: ".github/workflows/build.yaml", state: "active" };

// Shape of GET /repos/{owner}/{repo}/actions/workflows/{id}/runs (GitHub REST docs).
const RUNS = [
  {
    id: 901,
    name: "build",
    display_title: "Nightly build",
    status: "completed",
    conclusion: "success",
    event: "schedule",
    workflow_id: 4242,
    run_number: 12,
    run_attempt: 1,
    head_branch: "main",
    head_sha: "0123456789abcdef0123456789abcdef01234567",
    created_at: "2025-11-20T04:05:06Z",
    updated_at: "2025-11-20T04:35:06Z",
    run_started_at: "2025-11-20T04:05:06Z",
    html_url: "https://github.com/owner/repo/actions/runs/901",
    url: "https://api.github.com/repos/owner/repo/actions/runs/901",
  },
  {
    id: 902,
    name: "build",
    display_title: "Rebuild by hand",
    status: "in_progress",
    conclusion: null,
    event: "workflow_dispatch",
    workflow_id: 4242,
    run_number: 13,
    run_attempt: 1,
    head_branch: "main",
    head_sha: "89abcdef0123456789abcdef0123456789abcdef",
    created_at: "2025-11-21T10:00:00Z",
    updated_at: "2025-11-21T10:01:00Z",
    run_started_at: "2025-11-21T10:00:00Z",
    html_url: "https://github.com/owner/repo/actions/runs/902",
    url: "https://api.github.com/repos/owner/repo/actions/runs/902",
  },
];

interface Recorded {
  dispatches: unknown[];
  unknown: string[];
}

function githubApi(recorded: Recorded) {
  return async (request: Request): Promise<Response> => {
    const { pathname, searchParams } = new URL(request.url);
    if (request.headers.get("authorization") === "token expired") {
      return json({ message: "Bad credentials" }, { status: 401 });
    }
    if (pathname.startsWith("/api/v3/repos/owner/broken/")) {
      return json({ message: "Server Error" }, { status: 500 });
    }
    const base = "/api/v3/repos/owner/repo/actions/workflows";
    if (request.method === "GET" && pathname === `${base}/build.yaml`) return json(WORKFLOW);
    if (request.method === "POST" && pathname === `${base}/${WORKFLOW.id}/dispatches`) {
      recorded.dispatches.push(await request.json());
      return new Response(null, { status: 204 });
    }
    if (request.method === "GET" && pathname === `${base}/${WORKFLOW.id}/runs`) {
      const perPage = Number(searchParams.get("per_page") ?? 30);
      const runs = RUNS.slice(0, perPage);
      return json({ total_count: runs.length, workflow_runs: runs });
    }
    recorded.unknown.push(`${request.method} ${pathname}`);
    return json({ message: "Not Found" }, { status: 404 });
  };
}

async function run(
  cmd: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...cmd],
    cwd: new URL("..", import.meta.url).pathname,
    clearEnv: true, // no GH_TOKEN / GITHUB_TOKEN / gh login of the developer leaks in
    env,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl. */
async function selfSignedCert(
  dir: string,
): Promise<{ certFile: string; cert: string; key: string }> {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  return {
    certFile,
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
  };
}

/** Runs `action` with a TLS GitHub API server and the gh environment pointing at it. */
async function withGithub(
  action: (
    ctx: { server: TestServer; recorded: Recorded; dir: string; env: Record<string, string> },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gh_tasks_test_" });
  try {
    const { certFile, cert, key } = await selfSignedCert(dir);
    const recorded: Recorded = { dispatches: [], unknown: [] };
    await withServer(githubApi(recorded), async (server) => {
      const host = `localhost:${server.port}`;
      const env: Record<string, string> = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        // the real HOME keeps Deno's module cache; gh's own state goes to the temp dir
        HOME: Deno.env.get("HOME") ?? dir,
        ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
        GH_CONFIG_DIR: `${dir}/gh`,
        XDG_STATE_HOME: `${dir}/state`,
        XDG_DATA_HOME: `${dir}/data`,
        GH_NO_UPDATE_NOTIFIER: "1",
        NO_COLOR: "1",
        SSL_CERT_FILE: certFile,
        GH_HOST: host,
        GH_ENTERPRISE_TOKEN: "test",
        GH_REPO: `${host}/owner/repo`,
      };
      await action({ server, recorded, dir, env });
      assert.deepEqual(recorded.unknown, [], "gh asked for paths the test server does not know");
    }, { cert, key });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function withoutKeys(env: Record<string, string>, ...keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !keys.includes(key)));
}

integrationTest("run-workflow dispatches build.yaml with the ref and force_rebuild input", [
  "gh",
  "openssl",
], async (t) => {
  await withGithub(async ({ recorded, env }) => {
    await t.step("defaults: ref main, force_rebuild false", async () => {
      const result = await run(["tasks/run_workflow.ts"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(recorded.dispatches.pop(), {
        ref: "main",
        inputs: { force_rebuild: "false" },
      });
      assert.match(result.stdout, /Started build\.yaml on main \(force_rebuild=false\)/);
    });
    await t.step("--force-rebuild --ref and --repo", async () => {
      const result = await run(
        [
          "tasks/run_workflow.ts",
          "--force-rebuild",
          "--ref",
          "release/2.4",
          "--repo",
          env.GH_REPO!,
        ],
        withoutKeys(env, "GH_REPO"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(recorded.dispatches.pop(), {
        ref: "release/2.4",
        inputs: { force_rebuild: "true" },
      });
    });
    await t.step("an API failure is one line naming gh's error", async () => {
      const host = env.GH_HOST!;
      const result = await run(["tasks/run_workflow.ts", "--repo", `${host}/owner/broken`], env);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: gh workflow run failed: .*HTTP 500.*\n$/);
    });
    await t.step("a malformed ref is refused before gh runs", async () => {
      const result = await run(["tasks/run_workflow.ts", "--ref", "main..evil"], env);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: Invalid git ref: "main\.\.evil"/);
      assert.equal(recorded.dispatches.length, 0);
    });
  });
});

integrationTest("workflow-status shows the runs the API returned", ["gh", "openssl"], async (t) => {
  await withGithub(async ({ server, env }) => {
    await t.step("as a table of status, conclusion, event, started, title, url", async () => {
      const result = await run(["tasks/workflow_status.ts"], env);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, /^status\s+conclusion\s+event\s+started\s+title\s+url$/);
      assert.match(
        lines[1]!,
        /^completed\s+success\s+schedule\s+2025-11-20T04:05:06Z\s+Nightly build\s+https:\/\/github\.com\/owner\/repo\/actions\/runs\/901$/,
      );
      assert.match(
        lines[2]!,
        /^in_progress\s+-\s+workflow_dispatch\s+2025-11-21T10:00:00Z\s+Rebuild by hand\s+/,
      );
      assert.ok(server.requests.some((r) => r.path.includes("/runs?per_page=5")));
    });
    await t.step("--limit and --json", async () => {
      const result = await run(["tasks/workflow_status.ts", "--limit", "1", "--json"], env);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), [{
        databaseId: 901,
        status: "completed",
        conclusion: "success",
        createdAt: "2025-11-20T04:05:06Z",
        displayTitle: "Nightly build",
        url: "https://github.com/owner/repo/actions/runs/901",
        event: "schedule",
      }]);
      assert.ok(server.requests.some((r) => r.path.includes("/runs?per_page=1")));
    });
  });
});

integrationTest("both tasks fail with one line when gh is missing or not logged in", [
  "gh",
  "openssl",
], async (t) => {
  await withGithub(async ({ dir, env }) => {
    for (const task of ["tasks/run_workflow.ts", "tasks/workflow_status.ts"]) {
      await t.step(`${task}: gh not on PATH`, async () => {
        const emptyBin = await Deno.makeTempDir({ dir });
        const result = await run([task], { ...env, PATH: emptyBin });
        assert.equal(result.code, 1);
        assert.match(result.stderr, /^error: gh is not installed: .+\n$/);
      });
      await t.step(`${task}: no token`, async () => {
        // Without GH_HOST gh checks for a login before it sends anything.
        const result = await run(
          [task, "--repo", env.GH_REPO!],
          withoutKeys(env, "GH_ENTERPRISE_TOKEN", "GH_HOST", "GH_REPO"),
        );
        assert.equal(result.code, 1, result.stderr);
        assert.equal(
          result.stderr,
          "error: gh is not logged in: run gh auth login or set GH_TOKEN\n",
        );
      });
      await t.step(`${task}: a token the server rejects`, async () => {
        const result = await run([task], { ...env, GH_ENTERPRISE_TOKEN: "expired" });
        assert.equal(result.code, 1, result.stderr);
        assert.equal(
          result.stderr,
          "error: gh is not logged in: run gh auth login or set GH_TOKEN\n",
        );
      });
    }
  });
});

Deno.test("runsTable() shows a dash while a run has no conclusion yet", () => {
  const run: WorkflowRun = {
    databaseId: 1,
    status: "queued",
    conclusion: "",
    createdAt: "2025-11-21T10:00:00Z",
    displayTitle: "t",
    url: "u",
    event: "push",
  };
  assert.deepEqual(runsTable([run]).rows, [[
    "queued",
    "-",
    "push",
    "2025-11-21T10:00:00Z",
    "t",
    "u",
  ]]);
});

Deno.test("gitRef() and githubRepo() refuse what gh would read as a flag or a path trick", () => {
  for (const ok of ["main", "release/2.4", "v1.2.3"]) assert.equal(gitRef(ok), ok);
  for (const bad of ["-f", "--ref", "a..b", "a b", ""]) {
    assert.throws(() => gitRef(bad), InputError);
  }
  for (const ok of ["owner/repo", "localhost:8443/owner/repo", "github.example.com/o/r"]) {
    assert.equal(githubRepo(ok), ok);
  }
  for (const bad of ["-R", "owner", "o/r/x/y", "o/r;x"]) {
    assert.throws(() => githubRepo(bad), InputError);
  }
});
