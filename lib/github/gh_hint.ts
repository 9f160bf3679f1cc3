// gh's own reason when it cannot tell which repository to act on (outside a git checkout, or
// one without a GitHub remote), with the flag that fixes it: for run-workflow and workflow-status.
import { CheckError } from "../core/errors.ts";

/** gh's words when it cannot determine the repository (gh 2.23 and later). */
const NO_REPOSITORY = /failed to determine base repo|no git remotes found|not a git repository/i;

/**
 * The error to report for a failed gh call: when gh could not determine the repository, its
 * own line and the `--repo` hint; any other error unchanged.
 */
function repositoryHint(error: unknown): unknown {
  const stderr = (error as { stderr?: unknown })?.stderr;
  if (typeof stderr !== "string") return error;
  const line = stderr.split("\n").map((l) => l.trim()).find((l) => NO_REPOSITORY.test(l));
  if (line === undefined) return error;
  return new CheckError(
    `gh cannot tell which repository to use (${line}): pass --repo OWNER/REPO or set GH_REPO`,
  );
}

/** Runs a gh call, turning "cannot determine the repository" into the hint. */
export async function withRepositoryHint<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw repositoryHint(error);
  }
}
