// The GitHub CLI: starting the build workflow and listing its runs. gh does the auth,
// host and repository resolution that we should not rewrite (DESIGN.md decision 5).
import { CheckError } from "../core/errors.ts";

/** The workflow the tasks drive. */
export const BUILD_WORKFLOW = "build.yaml";

/** The fields `workflow-status` asks gh for (`gh run list --json …`). */
export const RUN_FIELDS = [
  "databaseId",
  "status",
  "conclusion",
  "createdAt",
  "displayTitle",
  "url",
  "event",
] as const;

/** One run as `gh run list --json` prints it. */
export interface WorkflowRun {
  databaseId: number;
  status: string;
  conclusion: string;
  createdAt: string;
  displayTitle: string;
  url: string;
  event: string;
}

export interface GhOptions {
  /** `--repo [HOST/]OWNER/REPO`; without it gh uses GH_REPO or the git remote. */
  repo?: string;
  timeoutMs?: number;
}

/** gh ran and failed: its first stderr line in the message, all of stderr kept. */
export class GhError extends CheckError {
  override name = "GhError";
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

const NOT_LOGGED_IN = "gh is not logged in: run gh auth login or set GH_TOKEN";

/**
 * Runs gh with an argument array (and `input` on its stdin) and returns its stdout;
 * failures become one-line CheckErrors.
 */
export async function runGh(
  args: string[],
  options: GhOptions & { input?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const fullArgs = options.repo ? [...args, "--repo", options.repo] : args;
  let output: Deno.CommandOutput;
  try {
    const child = new Deno.Command("gh", {
      args: fullArgs,
      env: options.env,
      stdin: options.input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    }).spawn();
    if (options.input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.input));
      await writer.close();
    }
    output = await child.output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CheckError(
        "gh is not installed: install the GitHub CLI (https://cli.github.com, Debian package gh)",
      );
    }
    throw new CheckError(`gh ${args.slice(0, 2).join(" ")} did not finish: ${error}`);
  }
  const stderr = new TextDecoder().decode(output.stderr).trim();
  // gh exits 4 when it has no token and tells to run gh auth login when GitHub refused its
  // token; an HTTP 401 from anything else (a registry gh reads) keeps gh's own words.
  if (output.code === 4 || /gh auth login/.test(stderr)) {
    throw new CheckError(NOT_LOGGED_IN);
  }
  if (!output.success) {
    const detail = stderr.split("\n").find((line) => line.trim()) ?? `exit code ${output.code}`;
    throw new GhError(`gh ${args.slice(0, 2).join(" ")} failed: ${detail}`, stderr);
  }
  return new TextDecoder().decode(output.stdout);
}

/** The gh arguments that start the build workflow on `ref`. */
export function runWorkflowArgs(ref: string, forceRebuild: boolean): string[] {
  return [
    "workflow",
    "run",
    BUILD_WORKFLOW,
    "--ref",
    ref,
    "-f",
    `force_rebuild=${forceRebuild}`,
  ];
}

/** Starts the build workflow (a workflow_dispatch event) on `ref`. */
export async function runWorkflow(
  ref: string,
  forceRebuild: boolean,
  options: GhOptions = {},
): Promise<void> {
  await runGh(runWorkflowArgs(ref, forceRebuild), options);
}

/** The latest `limit` runs of the build workflow, newest first. */
export async function listRuns(limit: number, options: GhOptions = {}): Promise<WorkflowRun[]> {
  const stdout = await runGh([
    "run",
    "list",
    "--workflow",
    BUILD_WORKFLOW,
    "--limit",
    String(limit),
    "--json",
    RUN_FIELDS.join(","),
  ], options);
  try {
    const runs = JSON.parse(stdout);
    if (Array.isArray(runs)) return runs as WorkflowRun[];
  } catch {
    // reported below
  }
  throw new CheckError(
    `gh run list printed something other than a JSON array: ${stdout.slice(0, 80)}`,
  );
}

/** Header and rows of the status table: status, conclusion, event, started, title, url. */
export function runsTable(runs: WorkflowRun[]): { header: string[]; rows: string[][] } {
  return {
    header: ["status", "conclusion", "event", "started", "title", "url"],
    rows: runs.map((run) => [
      run.status,
      run.conclusion || "-", // empty while the run is queued or in progress
      run.event,
      run.createdAt,
      run.displayTitle,
      run.url,
    ]),
  };
}

// The one issue a scheduled workflow keeps up to date (the kernel forecast): found by a marker
// in its body among every open issue (a label can be dropped: GitHub silently drops the labels
// of an issue created without push access, and people remove them), labelled when it lacks the
// label (the label created first when the repository has none), edited through the REST API
// with `gh api`, which resolves {owner}/{repo} from GH_REPO or the git remote like every other
// gh command.

/** An open issue as this project reads it from `GET /repos/{owner}/{repo}/issues`. */
export interface IssueSummary {
  number: number;
  title: string;
  body: string;
  url: string;
  /** Names of its labels. */
  labels: string[];
}

/** The issue to keep: a fixed title and label, and a marker its body starts with. */
export interface IssueIdentity {
  title: string;
  label: string;
  marker: string;
  /** How the label is created when the repository lacks it. */
  labelColor?: string;
  labelDescription?: string;
}

/** One change to make: open an issue, rewrite one, close one with a comment. */
export type IssueChange =
  | { change: "create"; title: string; body: string }
  | { change: "edit"; number: number; title: string; body: string }
  | { change: "label"; number: number; label: string }
  | { change: "close"; number: number; comment: string };

/** What an upsert did, for the task to print. */
export interface IssueOutcome {
  /** created, updated, unchanged, closed, or none (nothing to report and no issue open). */
  result: "created" | "updated" | "unchanged" | "closed" | "none";
  /** The issue kept open (created, updated or unchanged). */
  number?: number;
  url?: string;
  /** Issues closed: all of ours when there is nothing to report, else duplicates. */
  closed: number[];
  /** Labelling that failed (the issue is found by its marker all the same): one line. */
  labelProblem?: string;
}

// GitHub stores what it was sent, but a person editing the issue in the browser turns
// line ends into CRLF: that alone is no reason to edit it again.
function sameText(a: string, b: string): boolean {
  const normal = (text: string) => text.replaceAll("\r\n", "\n").trim();
  return normal(a) === normal(b);
}

/** The open issues that are the one this identity keeps, oldest first. */
function ours(open: IssueSummary[], identity: IssueIdentity): IssueSummary[] {
  return open
    .filter((issue) => issue.body.startsWith(identity.marker) || issue.title === identity.title)
    .sort((a, b) => a.number - b.number);
}

/**
 * The changes that leave exactly one open issue with `body` (none when body is undefined):
 * the oldest matching issue is kept, edited only when its text differs and labelled when it
 * lacks the label, later duplicates are closed, and all of them are closed with
 * `closingComment` when there is nothing to report.
 */
export function planIssue(
  open: IssueSummary[],
  identity: IssueIdentity,
  body: string | undefined,
  closingComment: string,
): IssueChange[] {
  const mine = ours(open, identity);
  if (body === undefined) {
    return mine.map((issue) => ({
      change: "close",
      number: issue.number,
      comment: closingComment,
    }));
  }
  const [kept, ...duplicates] = mine;
  const changes: IssueChange[] = [];
  if (!kept) changes.push({ change: "create", title: identity.title, body });
  else if (!sameText(kept.body, body) || kept.title !== identity.title) {
    changes.push({ change: "edit", number: kept.number, title: identity.title, body });
  }
  if (kept && !kept.labels.includes(identity.label)) {
    changes.push({ change: "label", number: kept.number, label: identity.label });
  }
  for (const duplicate of duplicates) {
    changes.push({
      change: "close",
      number: duplicate.number,
      comment: `Duplicate of #${kept!.number}, which the same workflow keeps up to date.`,
    });
  }
  return changes;
}

/** The REST path of a repository for `gh api`, and the host when `repo` names one (`[HOST/]OWNER/REPO`). */
export function repoEndpoint(repo?: string): { path: string; hostname?: string } {
  if (!repo) return { path: "repos/{owner}/{repo}" };
  const parts = repo.split("/");
  const [owner, name] = parts.slice(-2);
  return {
    path: `repos/${owner}/${name}`,
    ...(parts.length === 3 ? { hostname: parts[0] } : {}),
  };
}

async function ghApi(
  endpoint: string,
  method: "GET" | "POST" | "PATCH",
  options: GhOptions & { fields?: Record<string, string>; body?: unknown },
): Promise<unknown> {
  const { path, hostname } = repoEndpoint(options.repo);
  const args = ["api", `${path}/${endpoint}`, "--method", method];
  for (const [key, value] of Object.entries(options.fields ?? {})) {
    args.push("-f", `${key}=${value}`);
  }
  // The body goes through stdin as JSON: no field typing by gh, no temporary file.
  if (options.body !== undefined) args.push("--input", "-");
  const stdout = await runGh(args, {
    timeoutMs: options.timeoutMs,
    // gh 2.23 refuses a host with a port in --hostname; GH_HOST takes any host.
    env: hostname ? { GH_HOST: hostname } : undefined,
    input: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  try {
    return JSON.parse(stdout);
  } catch {
    throw new CheckError(
      `gh api ${path}/${endpoint} printed something other than JSON: ${stdout.slice(0, 80)}`,
    );
  }
}

function issueOf(value: unknown, endpoint: string): IssueSummary & { pullRequest: boolean } {
  const item = value as Record<string, unknown> | null;
  const number = item?.number;
  const title = item?.title;
  const body = item?.body ?? ""; // an issue created without a body has body: null
  const url = item?.html_url;
  const labels = item?.labels ?? [];
  if (
    !Number.isSafeInteger(number) || (number as number) < 1 || typeof title !== "string" ||
    typeof body !== "string" || typeof url !== "string" || !Array.isArray(labels)
  ) {
    throw new CheckError(`gh api ${endpoint} answered an issue without number, title or html_url`);
  }
  return {
    number: number as number,
    title,
    body,
    url,
    // Each label is an object with a name (a plain string in some older answers).
    labels: labels.map((label) => typeof label === "string" ? label : label?.name)
      .filter((name): name is string => typeof name === "string"),
    pullRequest: "pull_request" in item!,
  };
}

/** Pages of 100 open issues read at most: the marker is looked for in these 1,000. */
const MAX_ISSUE_PAGES = 10;

/**
 * Every open issue (not pull requests), whatever its labels: pages of 100 until a short page,
 * at most MAX_ISSUE_PAGES of them.
 */
export async function listOpenIssues(options: GhOptions = {}): Promise<IssueSummary[]> {
  const issues: IssueSummary[] = [];
  for (let page = 1; page <= MAX_ISSUE_PAGES; page++) {
    const answer = await ghApi("issues", "GET", {
      ...options,
      fields: { state: "open", per_page: "100", page: String(page) },
    });
    if (!Array.isArray(answer)) {
      throw new CheckError("gh api issues answered something other than a JSON array");
    }
    for (const item of answer) {
      const { pullRequest, ...issue } = issueOf(item, "issues");
      if (!pullRequest) issues.push(issue); // the issues endpoint lists pull requests too
    }
    if (answer.length < 100) break;
  }
  return issues;
}

const HTTP_STATUS = (status: number) => new RegExp(`\\(HTTP ${status}\\)`);

/** Creates the identity's label unless the repository has it (a 422 "already_exists" is fine). */
async function ensureLabel(identity: IssueIdentity, options: GhOptions = {}): Promise<void> {
  try {
    await ghApi(`labels/${encodeURIComponent(identity.label)}`, "GET", options);
    return;
  } catch (error) {
    if (!(error instanceof GhError && HTTP_STATUS(404).test(error.stderr))) throw error;
  }
  try {
    await ghApi("labels", "POST", {
      ...options,
      body: {
        name: identity.label,
        color: identity.labelColor ?? "ededed",
        ...(identity.labelDescription ? { description: identity.labelDescription } : {}),
      },
    });
  } catch (error) {
    // Created meanwhile (another run): what we wanted.
    if (!(error instanceof GhError && HTTP_STATUS(422).test(error.stderr))) throw error;
  }
}

/**
 * Leaves exactly one open issue with the marker and `body`, labelled `identity.label`, or closes
 * it when body is undefined (see planIssue). The label is created when missing; labelling is
 * best effort (a token without push access has its labels dropped or refused): a failure is
 * reported in `labelProblem`, the issue is found by its marker all the same.
 */
export async function upsertIssue(
  identity: IssueIdentity,
  body: string | undefined,
  closingComment: string,
  options: GhOptions = {},
): Promise<IssueOutcome> {
  const open = await listOpenIssues(options);
  const changes = planIssue(open, identity, body, closingComment);
  const labelled = async (label: () => Promise<unknown>) => {
    try {
      await label();
    } catch (error) {
      if (!(error instanceof CheckError)) throw error;
      outcome.labelProblem = `Cannot label the issue ${identity.label}: ${error.message}`;
    }
  };
  const outcome: IssueOutcome = { result: "none", closed: [] };
  if (body !== undefined) {
    const kept = ours(open, identity)[0];
    Object.assign(outcome, { result: "unchanged", number: kept?.number, url: kept?.url });
  }
  for (const change of changes) {
    if (change.change === "create") {
      await labelled(() => ensureLabel(identity, options));
      const created = issueOf(
        await ghApi("issues", "POST", {
          ...options,
          body: { title: change.title, body: change.body, labels: [identity.label] },
        }),
        "issues",
      );
      Object.assign(outcome, { result: "created", number: created.number, url: created.url });
      // GitHub drops the labels of an issue created without push access, silently.
      if (!outcome.labelProblem && !created.labels.includes(identity.label)) {
        outcome.labelProblem = `GitHub dropped the label ${identity.label} of #${created.number}`;
      }
    } else if (change.change === "label") {
      await labelled(async () => {
        await ensureLabel(identity, options);
        await ghApi(`issues/${change.number}/labels`, "POST", {
          ...options,
          body: { labels: [change.label] },
        });
      });
    } else if (change.change === "edit") {
      await ghApi(`issues/${change.number}`, "PATCH", {
        ...options,
        body: { title: change.title, body: change.body },
      });
      outcome.result = "updated";
    } else {
      await ghApi(`issues/${change.number}/comments`, "POST", {
        ...options,
        body: { body: change.comment },
      });
      await ghApi(`issues/${change.number}`, "PATCH", {
        ...options,
        body: { state: "closed", state_reason: body === undefined ? "completed" : "not_planned" },
      });
      outcome.closed.push(change.number);
      if (body === undefined) outcome.result = "closed";
    }
  }
  return outcome;
}
