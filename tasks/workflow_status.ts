// Shows the latest runs of the build workflow with gh: status, conclusion, event, started, title, url.
// deno task workflow-status [--limit 5] [--json] [--repo OWNER/REPO]
import { main, parseWith, printJson, taskCommand, textTable, wholeNumber } from "../lib/cli.ts";
import { BUILD_WORKFLOW, listRuns, runsTable } from "../lib/gh.ts";
import { githubRepo } from "../lib/patterns.ts";

async function workflowStatusTask(args: string[]): Promise<number> {
  const options = taskCommand(
    "workflow-status",
    `Show the latest runs of ${BUILD_WORKFLOW} with gh`,
  )
    .option("--limit <n>", "how many runs", wholeNumber("limit", 1), 5)
    .option("--json", "print the runs as one JSON document", false)
    .option(
      "--repo <owner/repo>",
      "the repository (default: GH_REPO or the git remote)",
      parseWith(githubRepo),
    )
    .parse(args, { from: "user" })
    .opts();
  const runs = await listRuns(options.limit, { repo: options.repo });
  if (options.json) {
    printJson(runs);
  } else if (runs.length === 0) {
    console.log(`No runs of ${BUILD_WORKFLOW} yet`);
  } else {
    const { header, rows } = runsTable(runs);
    console.log(textTable(header, rows));
  }
  return 0;
}

if (import.meta.main) main(() => workflowStatusTask(Deno.args));
