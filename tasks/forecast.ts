// Forecasts the kernels coming down the Fedora CoreOS streams and whether a pinned OpenZFS release supports them.
// deno task forecast [--json] [--github-output] [--fail-on-unsupported] [--update-issue [--repo OWNER/REPO]]
//
// The daily workflow (.github/workflows/forecast.yaml) runs:
//   deno task forecast --github-output --update-issue
import {
  assertOutputsWritable,
  escapeMarkdown,
  jsonOption,
  main,
  problemLine,
  repoOption,
  stderrLogger,
  taskCommand,
  wholeNumber,
  writeStepSummary,
} from "../lib/cli/cli.ts";
// lib/coreos/fallback.ts only for its default (it is light); lib/coreos/forecast.ts and
// lib/github/gh.ts are imported after the arguments are parsed, so --help and a bad flag start
// without them.
import { FALLBACK_MAX_WALK } from "../lib/coreos/fallback.ts";
import { loadMatrix } from "../lib/matrix/matrix.ts";
import { type Problem, render } from "../lib/cli/render.ts";
import type { ForecastRow } from "../lib/coreos/forecast.ts";
import type { IssueIdentity } from "../lib/github/gh.ts";

export const OUTPUTS = ["forecast", "unsupported-count"] as const;

/** A walk longer than this reads months of builds: the answer would be too old to pin. */
const MAX_WALK_LIMIT = 200;

function forecastOptions(args: string[]) {
  return taskCommand(
    "forecast",
    "Forecast the kernels coming down the Fedora CoreOS streams and whether a pinned OpenZFS " +
      "release supports them",
  )
    .addOption(jsonOption())
    .option(
      "--github-output",
      "write forecast and unsupported-count to $GITHUB_OUTPUT, and a step summary",
    )
    .option("--fail-on-unsupported", "exit 1 when a kernel is not supported by a pinned release")
    .option("--update-issue", "open, update or close the forecast issue with gh")
    .addOption(repoOption("the repository of the issue (default: GH_REPO or the git remote)"))
    .option(
      "--max-walk <n>",
      `releases to read back when looking for one to pin (from 1 to ${MAX_WALK_LIMIT})`,
      wholeNumber("max-walk", 1, MAX_WALK_LIMIT),
      FALLBACK_MAX_WALK,
    )
    .parse(args, { from: "user" })
    .opts();
}

/** The rows that make the forecast incomplete, as error lines. */
function forecastErrors(rows: ForecastRow[]): Problem[] {
  const errors: Problem[] = [];
  for (const row of rows) {
    if (row.verdict === "unknown") {
      errors.push(`Cannot forecast ${row.stream} (${row.arch}): ${row.error}`);
    } else if (row.fallbackFailed) {
      errors.push(`No fallback for ${row.stream} (${row.arch}): ${row.fallbackNote}`);
    }
  }
  return errors;
}

/** Opens, updates or closes the forecast issue, and says what it did. */
async function updateForecastIssue(
  issue: { identity: IssueIdentity; body: string | undefined; closingComment: string },
  options: { repo?: string; githubOutput?: boolean },
): Promise<void> {
  const { upsertIssue } = await import("../lib/github/gh.ts");
  const outcome = await upsertIssue(
    issue.identity,
    issue.body,
    issue.closingComment,
    { repo: options.repo },
  );
  const where = outcome.number ? ` #${outcome.number}${outcome.url ? ` ${outcome.url}` : ""}` : "";
  const closed = outcome.closed.map((n) => `#${n}`).join(", ");
  stderrLogger.info(
    outcome.result === "none"
      ? "Forecast issue: none open, nothing to report"
      : outcome.result === "closed"
      ? `Forecast issue closed: ${closed}`
      : `Forecast issue${where} ${outcome.result}${closed ? ` (closed duplicates ${closed})` : ""}`,
  );
  if (outcome.labelProblem) stderrLogger.warn(outcome.labelProblem);
  if (options.githubOutput && outcome.url) {
    writeStepSummary(`Forecast issue: ${escapeMarkdown(outcome.url)}\n`);
  }
}

async function forecastTask(args: string[]): Promise<number> {
  const options = forecastOptions(args);
  if (options.githubOutput) assertOutputsWritable();
  const matrix = await loadMatrix();
  const {
    closingComment,
    collectForecast,
    FORECAST_ISSUE,
    forecastComplete,
    forecastJson,
    forecastTable,
    issueBody,
    unsupportedRows,
  } = await import("../lib/coreos/forecast.ts");

  const rows = await collectForecast(matrix, undefined, { maxWalk: options.maxWalk });
  const unsupported = unsupportedRows(rows);
  const complete = forecastComplete(rows);
  const json = forecastJson(rows);
  const body = issueBody(rows, matrix.publish.image);
  render({
    values: { forecast: json, "unsupported-count": unsupported.length },
    json,
    table: forecastTable(rows),
    summaryTitle: "## Kernel forecast",
    summaryNote: body || "Every kernel is supported by a pinned OpenZFS release.",
    errors: forecastErrors(rows),
  }, options);

  if (options.updateIssue && !complete) {
    // A partial forecast must not close the issue or drop what it reports.
    console.error(
      problemLine("error", "The forecast issue is left as it is: the forecast is incomplete"),
    );
  } else if (options.updateIssue) {
    await updateForecastIssue(
      { identity: FORECAST_ISSUE, body, closingComment: closingComment(rows) },
      options,
    );
  }

  if (!complete) return 1;
  if (options.failOnUnsupported && unsupported.length > 0) {
    console.error(problemLine(
      "error",
      `${unsupported.length} forecast kernel(s) not supported by a pinned OpenZFS release`,
      "Kernel forecast",
    ));
    return 1;
  }
  return 0;
}

if (import.meta.main) main(() => forecastTask(Deno.args));
