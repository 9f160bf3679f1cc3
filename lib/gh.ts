// The GitHub CLI: starting the build workflow and listing its runs. gh does the auth,
// host and repository resolution that we should not rewrite (DESIGN.md decision 5).
import { CheckError } from "./errors.ts";

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

const NOT_LOGGED_IN = "gh is not logged in: run gh auth login or set GH_TOKEN";

/** Runs gh with an argument array and returns its stdout; failures become one-line CheckErrors. */
export async function runGh(args: string[], options: GhOptions = {}): Promise<string> {
  const fullArgs = options.repo ? [...args, "--repo", options.repo] : args;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("gh", {
      args: fullArgs,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CheckError(
        "gh is not installed: install the GitHub CLI (https://cli.github.com, Debian package gh)",
      );
    }
    throw new CheckError(`gh ${args.slice(0, 2).join(" ")} did not finish: ${error}`);
  }
  const stderr = new TextDecoder().decode(output.stderr).trim();
  // gh exits 4 when it has no token; a rejected token comes back as HTTP 401.
  if (output.code === 4 || /HTTP 401|gh auth login/.test(stderr)) {
    throw new CheckError(NOT_LOGGED_IN);
  }
  if (!output.success) {
    const detail = stderr.split("\n").find((line) => line.trim()) ?? `exit code ${output.code}`;
    throw new CheckError(`gh ${args.slice(0, 2).join(" ")} failed: ${detail}`);
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
