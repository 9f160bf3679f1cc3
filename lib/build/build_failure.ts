// Why a podman build failed, in one line, from the end of its log (real samples in
// tests/fixtures/podman_build/*-failed.log and failed-build.log): an image that cannot be pulled,
// an OCI runtime that cannot run here (with the isolation that works), or the stage and step
// that failed with its last output. Pure: lines in, text out.
import type { StageState } from "./build_output.ts";

/** The cause of a failed build, and what to do about it when that is known. */
export interface BuildFailure {
  cause: string;
  hint?: string;
}

/** `a: b: c: no such host` → `no such host`: the innermost reason of a Go error chain. */
function innermost(chain: string): string {
  return chain.slice(chain.lastIndexOf(": ") + 2).trim() || chain.trim();
}

const ISOLATION_HINT = "set BUILD_ISOLATION=chroot (or --isolation chroot) where no OCI " +
  "runtime works";

// Lines that are podman's own bookkeeping, not what the failed step printed.
const BOOKKEEPING =
  /^(?:\[\d+\/\d+\] )?STEP \d+\/\d+: |^--> |^subprocess exited |^Error: |^time="|^: exit status|^error running container: /;

// A line that says what went wrong, as build tools print it.
const ERROR_LINE = /\b(?:error|fatal|failed|cannot|no such|not found)\b/i;

/**
 * The last line the failed step printed before podman's own lines. The step's stdout and stderr
 * reach the log interleaved in no fixed order, so among its last few lines the last one that
 * reads like an error wins (else the last line).
 */
function lastOutput(tail: string[]): string | undefined {
  const output = tail.filter((line) => line.trim() !== "" && !BOOKKEEPING.test(line)).slice(-5);
  return (output.findLast((line) => ERROR_LINE.test(line)) ?? output.at(-1))?.trim();
}

/**
 * The cause of a failed build from the last lines of its log and the stage that failed (the
 * parser marks it), or undefined when the log names none.
 */
export function buildFailure(
  tail: string[],
  failedStage?: StageState,
): BuildFailure | undefined {
  const error = tail.findLast((line) => line.startsWith("Error: "));
  const pull =
    /^Error: creating build container: (?:initializing source (?:docker:\/\/)?(\S+?)|.*?): (.*)$/
      .exec(error ?? "");
  if (pull) {
    const image = pull[1] ?? "the base image";
    return { cause: `cannot pull ${image}: ${innermost(pull[2]!)}` };
  }
  const where = failedStage?.step
    ? `${failedStage.name} failed at step ${failedStage.step.index} of ${failedStage.step.count}` +
      (failedStage.step.description ? ` (${failedStage.step.description})` : "")
    : "the build failed";
  // crun/runc cannot create the container: cgroups, namespaces, seccomp on this host
  const runtime = tail.map((line) =>
    /^error running container: from (\S+) creating container for \[.*?\]: (.*)$/.exec(line) ??
      /^Error: .*\b(crun|runc)\b.*?: (.*)$/.exec(line)
  ).findLast((match) => match !== null);
  if (runtime) {
    const name = runtime[1]!.replace(/^.*\//, "");
    return {
      cause: `${where}: ${name} cannot run the step here: ${runtime[2]!.trim()}`,
      hint: ISOLATION_HINT,
    };
  }
  if (error !== undefined && /cgroups?\b.*not supported/i.test(error)) {
    return { cause: `${where}: ${innermost(error)}`, hint: ISOLATION_HINT };
  }
  // podman may put its own clean-up error in front ("image used by …: building at STEP …")
  const step = /^Error: (?:.*?: )?building at STEP ".*": (.*)$/.exec(error ?? "");
  if (step) {
    const output = lastOutput(tail.slice(0, tail.lastIndexOf(error!)));
    return { cause: `${where}: ${step[1]}${output ? ` (last output: ${output})` : ""}` };
  }
  if (error !== undefined) return { cause: error.slice("Error: ".length) };
  return undefined;
}
