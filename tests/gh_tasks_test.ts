// run-workflow, workflow-status and forecast --update-issue drive the real gh against a
// local TLS server that answers like the GitHub REST API (gh talks to GH_HOST=localhost:PORT
// under /api/v3/).
import assert from "node:assert/strict";
import { InputError } from "../lib/core/errors.ts";
import { FORECAST_ISSUE } from "../lib/coreos/forecast.ts";
import { planIssue, repoEndpoint, runsTable, type WorkflowRun } from "../lib/github/gh.ts";
import { githubRepo, gitRef } from "../lib/core/patterns.ts";
import {
  CROSSING,
  fcosBuilds,
  kernel,
  type StandInRelease,
  testMatrix,
} from "./helpers/release_index.ts";
import { json, type TestServer, withServer } from "./helpers/server.ts";
import { spawnTask, type TaskResult } from "./helpers/run_task.ts";
import { integrationTest } from "./helpers/tools.ts";
import { selfSignedCert } from "./helpers/tls.ts";

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
  /** Issues and pull requests of owner/repo (they share numbers, as on GitHub). */
  issues: StoredIssue[];
  /** Every write to the issues API: method and path. */
  writes: string[];
  /** The repository's labels (GET/POST /repos/{owner}/{repo}/labels). */
  labels: string[];
  /** Like GitHub for a token without push access: labels of a new issue silently dropped. */
  dropLabels: boolean;
  /** Every GET of the issues list: its query. */
  listQueries: string[];
}

interface StoredIssue {
  number: number;
  title: string;
  body: string | null;
  labels: string[];
  state: "open" | "closed";
  stateReason: string | null;
  comments: string[];
  pullRequest?: boolean;
}

// An issue as GET/POST/PATCH /repos/{owner}/{repo}/issues answer it (GitHub REST docs).
function issueJson(host: string, issue: StoredIssue) {
  const api = `https://${host}/api/v3/repos/owner/repo`;
  return {
    url: `${api}/issues/${issue.number}`,
    repository_url: api,
    html_url: `https://${host}/owner/repo/${issue.pullRequest ? "pull" : "issues"}/${issue.number}`,
    id: 7_000_000 + issue.number,
    node_id: `I_kwDOtest${issue.number}`,
    number: issue.number,
    title: issue.title,
    user: { login: "github-actions[bot]", id: 41898282, type: "Bot" },
    labels: issue.labels.map((name, index) => ({
      id: 9_000 + index,
      node_id: `LA_test${index}`,
      url: `${api}/labels/${name}`,
      name,
      color: "ededed",
      default: false,
      description: null,
    })),
    state: issue.state,
    state_reason: issue.stateReason,
    locked: false,
    assignee: null,
    assignees: [],
    comments: issue.comments.length,
    created_at: "2025-11-20T05:41:00Z",
    updated_at: "2025-11-24T05:41:00Z",
    closed_at: issue.state === "closed" ? "2025-11-25T05:41:00Z" : null,
    author_association: "NONE",
    body: issue.body,
    ...(issue.pullRequest ? { pull_request: { url: `${api}/pulls/${issue.number}` } } : {}),
  };
}

/** The issues endpoints of owner/repo; owner/readonly refuses writes like a token without issues: write. */
async function issuesApi(request: Request, recorded: Recorded): Promise<Response | undefined> {
  const { pathname, searchParams, host } = new URL(request.url);
  const labelsAnswer = await labelsApi(request, recorded);
  if (labelsAnswer) return labelsAnswer;
  const match =
    /^\/api\/v3\/repos\/owner\/(repo|readonly)\/issues(?:\/(\d+)(\/comments|\/labels)?)?$/
      .exec(pathname);
  if (!match) return undefined;
  const [, repo, number, sub] = match;
  const comments = sub === "/comments" ? sub : undefined;
  if (request.method !== "GET") recorded.writes.push(`${request.method} ${pathname}`);
  if (repo === "readonly" && request.method !== "GET") {
    return json({
      message: "Resource not accessible by integration",
      documentation_url: "https://docs.github.com/rest/issues/issues#create-an-issue",
    }, { status: 403 });
  }
  const store = repo === "repo" ? recorded.issues : [];
  if (request.method === "GET" && !number) {
    const labels = (searchParams.get("labels") ?? "").split(",").filter(Boolean);
    const state = searchParams.get("state") ?? "open";
    const perPage = Number(searchParams.get("per_page") ?? 30);
    const page = Number(searchParams.get("page") ?? 1);
    recorded.listQueries.push(searchParams.toString());
    return json(
      store
        .filter((i) => state === "all" || i.state === state)
        .filter((i) => labels.every((label) => i.labels.includes(label)))
        .sort((a, b) => b.number - a.number) // newest first, as GitHub lists them
        .slice((page - 1) * perPage, page * perPage)
        .map((i) => issueJson(host, i)),
    );
  }
  if (request.method === "POST" && !number) {
    const input = await request.json() as { title: string; body?: string; labels?: string[] };
    const issue: StoredIssue = {
      number: Math.max(0, ...store.map((i) => i.number)) + 1,
      title: input.title,
      body: input.body ?? null,
      labels: recorded.dropLabels ? [] : input.labels ?? [],
      state: "open",
      stateReason: null,
      comments: [],
    };
    store.push(issue);
    return json(issueJson(host, issue), { status: 201 });
  }
  const issue = store.find((i) => i.number === Number(number));
  if (!issue) {
    return json({
      message: "Not Found",
      documentation_url: "https://docs.github.com/rest/issues/issues#update-an-issue",
    }, { status: 404 });
  }
  if (request.method === "POST" && sub === "/labels") {
    const input = await request.json() as { labels: string[] };
    for (const label of input.labels) {
      if (!issue.labels.includes(label)) issue.labels.push(label);
      if (!recorded.labels.includes(label)) recorded.labels.push(label);
    }
    return json(issue.labels.map((name) => ({ name })));
  }
  if (request.method === "POST" && comments) {
    const input = await request.json() as { body: string };
    issue.comments.push(input.body);
    return json({
      id: 1,
      body: input.body,
      html_url: `https://${host}/owner/repo/issues/${issue.number}#issuecomment-1`,
    }, {
      status: 201,
    });
  }
  if (request.method === "PATCH" && !comments) {
    const input = await request.json() as Partial<
      { title: string; body: string; state: "open" | "closed"; state_reason: string }
    >;
    if (input.title !== undefined) issue.title = input.title;
    if (input.body !== undefined) issue.body = input.body;
    if (input.state !== undefined) issue.state = input.state;
    if (input.state_reason !== undefined) issue.stateReason = input.state_reason;
    return json(issueJson(host, issue));
  }
  return undefined;
}

/** GET /repos/owner/repo/labels/{name} and POST /repos/owner/repo/labels, as GitHub answers. */
async function labelsApi(request: Request, recorded: Recorded): Promise<Response | undefined> {
  const { pathname } = new URL(request.url);
  const match = /^\/api\/v3\/repos\/owner\/(repo|readonly)\/labels(?:\/([^/]+))?$/.exec(pathname);
  if (!match) return undefined;
  const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
  if (match[1] === "readonly") {
    if (request.method === "GET") return json({ message: "Not Found" }, { status: 404 });
    recorded.writes.push(`${request.method} ${pathname}`);
    return json({ message: "Resource not accessible by integration" }, { status: 403 });
  }
  if (request.method === "GET" && name !== undefined) {
    return recorded.labels.includes(name)
      ? json({ id: 1, name, color: "ededed", default: false, description: null })
      : json({
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest/issues/labels#get-a-label",
        status: "404",
      }, { status: 404 });
  }
  if (request.method === "POST" && name === undefined) {
    recorded.writes.push(`POST ${pathname}`);
    const input = await request.json() as { name: string; color?: string; description?: string };
    if (recorded.labels.includes(input.name)) {
      return json({
        message: "Validation Failed",
        errors: [{ resource: "Label", code: "already_exists", field: "name" }],
        documentation_url: "https://docs.github.com/rest/issues/labels#create-a-label",
        status: "422",
      }, { status: 422 });
    }
    recorded.labels.push(input.name);
    return json({ id: 2, name: input.name, color: input.color, description: input.description }, {
      status: 201,
    });
  }
  return undefined;
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
    const issues = await issuesApi(request, recorded);
    if (issues) return issues;
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

function run(cmd: string[], env: Record<string, string>): Promise<TaskResult> {
  // cmd is tasks/<file> and its arguments, run through deno.json's command line for that task.
  const [script, ...args] = cmd;
  return spawnTask(script!.replace(/^tasks\//, ""), args, {
    cwd: new URL("..", import.meta.url).pathname,
    clearEnv: true, // no GH_TOKEN / GITHUB_TOKEN / gh login of the developer leaks in
    env,
  });
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
    const recorded: Recorded = {
      dispatches: [],
      unknown: [],
      issues: [],
      writes: [],
      labels: [],
      dropLabels: false,
      listQueries: [],
    };
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
        /^completed\s+success\s+schedule\s+2025-11-20 04:05 UTC\s+Nightly build\s+https:\/\/github\.com\/owner\/repo\/actions\/runs\/901$/,
      );
      assert.match(
        lines[2]!,
        /^in_progress\s+-\s+workflow_dispatch\s+2025-11-21 10:00 UTC\s+Rebuild by hand\s+/,
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

/** Streams whose kernels pinned zfs-2.4.2 (max 7.0) all supports. */
const ALL_SUPPORTED: Record<string, StandInRelease[]> = {
  stable: [{ version: "43.20251110.3.1", kernels: { x86_64: kernel("6.19.3") } }],
  testing: [{ version: "43.20251124.2.0", kernels: { x86_64: kernel("7.0.5") } }],
  next: [{ version: "43.20251124.1.0", kernels: { x86_64: kernel("7.0.6") } }],
};

integrationTest("forecast --update-issue keeps one issue: opens, edits, closes it", [
  "gh",
  "openssl",
], async (t) => {
  await withGithub(async ({ recorded, dir, env }) => {
    // A pull request with the label and the title is listed by the issues API: never ours.
    recorded.issues.push({
      number: 1,
      title: FORECAST_ISSUE.title,
      body: "a pull request",
      labels: [FORECAST_ISSUE.label],
      state: "open",
      stateReason: null,
      comments: [],
      pullRequest: true,
    });
    await Deno.writeTextFile(`${dir}/matrix.yaml`, testMatrix());
    const streams: Record<string, StandInRelease[]> = structuredClone(CROSSING);
    await withServer(fcosBuilds(streams), async (builds) => {
      const forecastEnv = {
        ...env,
        FCOS_BUILDS_URL: builds.url,
        MATRIX_FILE: `${dir}/matrix.yaml`,
        HTTP_RETRIES: "0",
      };
      const forecast = (...args: string[]) =>
        run(["tasks/forecast.ts", "--update-issue", ...args], forecastEnv);
      const open = () => recorded.issues.filter((i) => !i.pullRequest && i.state === "open");

      await t.step("opens the issue when a kernel is unsupported", async () => {
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.equal(open().length, 1);
        const issue = open()[0]!;
        assert.equal(issue.number, 2);
        assert.equal(issue.title, FORECAST_ISSUE.title);
        assert.deepEqual(issue.labels, [FORECAST_ISSUE.label]);
        assert.ok(issue.body!.startsWith(FORECAST_ISSUE.marker));
        assert.match(issue.body!, /Fix: `deno task matrix add zfs-2\.4\.4`/);
        // testing and next are only ahead of the stable target: no pin, the stable build is fine
        assert.doesNotMatch(issue.body!, /FROM quay\.io/);
        assert.match(
          issue.body!,
          /The stable build is supported meanwhile: release `43\.20251110\.3\.1`/,
        );
        assert.match(
          result.stderr,
          /^Forecast issue #2 https:\/\/localhost:\d+\/owner\/repo\/issues\/2 created\n$/,
        );
        // The repository had no such label: created first, then the issue with it.
        assert.deepEqual(recorded.writes, [
          "POST /api/v3/repos/owner/repo/labels",
          "POST /api/v3/repos/owner/repo/issues",
        ]);
        assert.deepEqual(recorded.labels, [FORECAST_ISSUE.label]);
      });
      await t.step("leaves it alone when the forecast did not change", async () => {
        recorded.writes.length = 0;
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(recorded.writes, []);
        assert.match(result.stderr, /^Forecast issue #2 .* unchanged\n$/);
      });
      await t.step("edits it when the forecast changes", async () => {
        streams.next!.push({ version: "43.20251201.1.0", kernels: { x86_64: kernel("7.4.1") } });
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(recorded.writes, ["PATCH /api/v3/repos/owner/repo/issues/2"]);
        assert.match(open()[0]!.body!, /### next \(x86_64\): kernel 7\.4/);
        assert.equal(open().length, 1);
      });
      await t.step("closes a duplicate in favour of the oldest", async () => {
        recorded.writes.length = 0;
        recorded.issues.push({
          number: 3,
          title: FORECAST_ISSUE.title,
          body: `${FORECAST_ISSUE.marker}\nan older forecast`,
          labels: [FORECAST_ISSUE.label],
          state: "open",
          stateReason: null,
          comments: [],
        });
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(open().map((i) => i.number), [2]);
        const duplicate = recorded.issues.find((i) => i.number === 3)!;
        assert.deepEqual(duplicate.comments, [
          "Duplicate of #2, which the same workflow keeps up to date.",
        ]);
        assert.equal(duplicate.stateReason, "not_planned");
        assert.match(result.stderr, /unchanged \(closed duplicates #3\)\n$/);
      });
      await t.step("closes it when every kernel is supported again", async () => {
        recorded.writes.length = 0;
        for (const key of Object.keys(streams)) delete streams[key];
        Object.assign(streams, structuredClone(ALL_SUPPORTED));
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(open(), []);
        const closed = recorded.issues.find((i) => i.number === 2)!;
        assert.equal(closed.stateReason, "completed");
        assert.match(closed.comments.at(-1)!, /is supported by a pinned OpenZFS release again/);
        assert.equal(result.stderr, "Forecast issue closed: #2\n");
        // the pull request was never touched
        assert.ok(recorded.writes.every((w) => !w.endsWith("/issues/1")));
      });
      await t.step("does nothing when nothing is open and nothing is unsupported", async () => {
        recorded.writes.length = 0;
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(recorded.writes, []);
        assert.equal(result.stderr, "Forecast issue: none open, nothing to report\n");
      });
      await t.step("a refused write is one line naming gh's error", async () => {
        for (const key of Object.keys(streams)) delete streams[key];
        Object.assign(streams, structuredClone(CROSSING));
        const result = await forecast("--repo", `${env.GH_HOST}/owner/readonly`);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /^error: gh api repos\/owner\/readonly\/issues failed: .*Resource not accessible by integration \(HTTP 403\)\n$/,
        );
      });
    });
  });
});

integrationTest("forecast --update-issue finds its issue by the marker when the label is gone", [
  "gh",
  "openssl",
], async (t) => {
  await withGithub(async ({ recorded, dir, env }) => {
    await Deno.writeTextFile(`${dir}/matrix.yaml`, testMatrix());
    await withServer(fcosBuilds(structuredClone(CROSSING)), async (builds) => {
      const forecast = () =>
        run(["tasks/forecast.ts", "--update-issue"], {
          ...env,
          FCOS_BUILDS_URL: builds.url,
          MATRIX_FILE: `${dir}/matrix.yaml`,
          HTTP_RETRIES: "0",
        });
      const open = () => recorded.issues.filter((i) => !i.pullRequest && i.state === "open");
      recorded.dropLabels = true; // a token without push access: GitHub drops labels silently

      await t.step(
        "the label is created, GitHub drops it from the new issue: a warning",
        async () => {
          const result = await forecast();
          assert.equal(result.code, 0, result.stderr);
          assert.deepEqual(open().map((i) => [i.number, i.labels]), [[1, []]]);
          assert.deepEqual(recorded.labels, [FORECAST_ISSUE.label]);
          assert.match(
            result.stderr,
            /created\nwarning: GitHub dropped the label kernel-forecast of #1\n$/,
          );
        },
      );
      await t.step(
        "the next run finds it by its marker and labels it: no second issue",
        async () => {
          recorded.writes.length = 0;
          recorded.dropLabels = false;
          const result = await forecast();
          assert.equal(result.code, 0, result.stderr);
          assert.deepEqual(recorded.writes, ["POST /api/v3/repos/owner/repo/issues/1/labels"]);
          assert.deepEqual(open().map((i) => [i.number, i.labels]), [[1, [FORECAST_ISSUE.label]]]);
          assert.match(result.stderr, /^Forecast issue #1 .* unchanged\n$/);
        },
      );
      await t.step("a label removed by hand and 150 newer issues: found on page 2", async () => {
        recorded.writes.length = 0;
        recorded.listQueries.length = 0;
        recorded.issues[0]!.labels = [];
        recorded.labels.length = 0; // the label itself deleted too
        for (let n = 2; n <= 151; n++) {
          recorded.issues.push({
            number: n,
            title: `Issue ${n}`,
            body: n === 77 ? `quotes the marker later: ${FORECAST_ISSUE.marker}` : null,
            labels: ["bug"],
            state: "open",
            stateReason: null,
            comments: [],
          });
        }
        const result = await forecast();
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(recorded.listQueries.map((q) => new URLSearchParams(q).get("page")), [
          "1",
          "2",
        ]);
        assert.ok(recorded.listQueries.every((q) => !new URLSearchParams(q).has("labels")));
        assert.deepEqual(recorded.writes, [
          "POST /api/v3/repos/owner/repo/labels",
          "POST /api/v3/repos/owner/repo/issues/1/labels",
        ]);
        assert.equal(open().length, 151, "no issue created or closed");
      });
    });
  });
});

Deno.test("planIssue() leaves exactly one open issue with the forecast", async (t) => {
  const identity = { title: "T", label: "l", marker: "<!-- m -->" };
  const issue = (number: number, body: string, title = "T", labels = ["l"]) => ({
    number,
    title,
    body,
    url: `u${number}`,
    labels,
  });
  await t.step("none open: create", () => {
    assert.deepEqual(planIssue([], identity, "<!-- m -->\nB", "bye"), [
      { change: "create", title: "T", body: "<!-- m -->\nB" },
    ]);
  });
  await t.step("same text, line ends aside: nothing", () => {
    assert.deepEqual(
      planIssue([issue(4, "<!-- m -->\r\nB\r\n")], identity, "<!-- m -->\nB", "bye"),
      [],
    );
  });
  await t.step("other text or a renamed title: edit the oldest, close the rest", () => {
    assert.deepEqual(
      planIssue(
        [issue(9, "<!-- m -->\nA"), issue(4, "<!-- m -->\nA", "renamed")],
        identity,
        "<!-- m -->\nB",
        "bye",
      ),
      [
        { change: "edit", number: 4, title: "T", body: "<!-- m -->\nB" },
        {
          change: "close",
          number: 9,
          comment: "Duplicate of #4, which the same workflow keeps up to date.",
        },
      ],
    );
  });
  await t.step("found by its marker without the label: label it again", () => {
    assert.deepEqual(
      planIssue([issue(4, "<!-- m -->\nB", "T", ["bug"])], identity, "<!-- m -->\nB", "bye"),
      [{ change: "label", number: 4, label: "l" }],
    );
  });
  await t.step("nothing to report: close every one of ours, and only ours", () => {
    assert.deepEqual(
      planIssue(
        [issue(4, "<!-- m -->\nA"), issue(5, "someone else's", "Other")],
        identity,
        undefined,
        "bye",
      ),
      [{ change: "close", number: 4, comment: "bye" }],
    );
  });
});

Deno.test("repoEndpoint() reads [HOST/]OWNER/REPO for gh api", () => {
  assert.deepEqual(repoEndpoint(), { path: "repos/{owner}/{repo}" });
  assert.deepEqual(repoEndpoint("o/r"), { path: "repos/o/r" });
  assert.deepEqual(repoEndpoint("localhost:8443/o/r"), {
    path: "repos/o/r",
    hostname: "localhost:8443",
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

integrationTest(
  "both tasks report gh's own reason and suggest --repo when gh cannot tell the repository",
  ["gh"],
  async (t) => {
    // The real gh, run outside any git checkout with a token: it fails before any request.
    const dir = await Deno.makeTempDir({ prefix: "no-git-" });
    try {
      for (const file of ["run_workflow.ts", "workflow_status.ts"]) {
        await t.step(file, async () => {
          const result = await spawnTask(file, [], {
            cwd: dir,
            env: {
              GH_CONFIG_DIR: `${dir}/gh`,
              GH_REPO: "",
              GH_HOST: "",
              GH_TOKEN: "a-token",
              GIT_CEILING_DIRECTORIES: dir,
              NO_COLOR: "1",
            },
            signal: AbortSignal.timeout(60_000),
          });
          assert.equal(result.code, 1, result.stderr);
          assert.match(
            result.stderr,
            /^error: gh cannot tell which repository to use \(.*not a git repository.*\): pass --repo OWNER\/REPO or set GH_REPO\n$/,
          );
          assert.doesNotMatch(result.stderr, /not logged in/);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
