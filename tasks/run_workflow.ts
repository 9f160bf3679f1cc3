// Starts the build workflow on GitHub (a workflow_dispatch event) with gh.
// deno task run-workflow [--force-rebuild] [--ref main] [--repo OWNER/REPO]
import { main, parseWith, repoOption, taskCommand } from "../lib/cli/cli.ts";
import { BUILD_WORKFLOW, runWorkflow } from "../lib/github/gh.ts";
import { withRepositoryHint } from "../lib/github/gh_hint.ts";
import { gitRef } from "../lib/core/patterns.ts";
import { render } from "../lib/cli/render.ts";

async function runWorkflowTask(args: string[]): Promise<number> {
  const options = taskCommand(
    "run-workflow",
    `Start the build workflow (${BUILD_WORKFLOW}) on GitHub with gh`,
  )
    .option("--force-rebuild", "rebuild and push even when the image tag already exists", false)
    .option("--ref <ref>", "the branch or tag whose workflow file runs", parseWith(gitRef), "main")
    .addOption(repoOption())
    .parse(args, { from: "user" })
    .opts();
  await withRepositoryHint(() =>
    runWorkflow(options.ref, options.forceRebuild, { repo: options.repo })
  );
  render({
    values: { workflow: BUILD_WORKFLOW, ref: options.ref, "force-rebuild": options.forceRebuild },
    lines: [
      `Started ${BUILD_WORKFLOW} on ${options.ref} (force_rebuild=${options.forceRebuild}); ` +
      "follow it with: deno task workflow-status",
    ],
  });
  return 0;
}

if (import.meta.main) main(() => runWorkflowTask(Deno.args));
