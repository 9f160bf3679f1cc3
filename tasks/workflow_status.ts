// Shows the latest runs of the build workflow with gh: status, conclusion, event, started, title, url.
// deno task workflow-status [--limit 5] [--json] [--repo OWNER/REPO]
import { jsonOption, main, repoOption, taskCommand, wholeNumber } from "../lib/cli/cli.ts";
import { BUILD_WORKFLOW, listRuns, runsTable } from "../lib/github/gh.ts";
import { withRepositoryHint } from "../lib/github/gh_hint.ts";
import { render, type ResultTable, timeText } from "../lib/cli/render.ts";

/** More runs than this is not a status: ask the web UI. */
const MAX_RUNS = 1000;

/** The runs table with its start times printed the one way (timeText). */
function withTimes(table: ResultTable): ResultTable {
  const column = table.header.indexOf("started");
  return {
    header: table.header,
    rows: table.rows.map((row) => row.map((cell, i) => i === column ? timeText(cell) : cell)),
  };
}

async function workflowStatusTask(args: string[]): Promise<number> {
  const options = taskCommand(
    "workflow-status",
    `Show the latest runs of the build workflow (${BUILD_WORKFLOW}) with gh`,
  )
    .option(
      "--limit <n>",
      `how many runs (from 1 to ${MAX_RUNS})`,
      wholeNumber("limit", 1, MAX_RUNS),
      5,
    )
    .addOption(jsonOption())
    .addOption(repoOption())
    .parse(args, { from: "user" })
    .opts();
  const runs = await withRepositoryHint(() => listRuns(options.limit, { repo: options.repo }));
  render(
    runs.length === 0
      ? { values: { runs }, json: runs, lines: [`No runs of ${BUILD_WORKFLOW} yet`] }
      : { values: { runs }, json: runs, table: withTimes(runsTable(runs)) },
    options,
  );
  return 0;
}

if (import.meta.main) main(() => workflowStatusTask(Deno.args));
