// The one place a task's result reaches the user: a task states its result once, as data
// (values, a table, warnings), and render() turns it into every channel — the terminal
// (human text or a table), `--json`, `$GITHUB_OUTPUT`, the step summary and the annotations.
// The keys of `values` are the JSON keys and the output names (kebab-case), so they cannot
// drift apart.
import {
  inGithubActions,
  jsonText,
  markdownTable,
  problemLine,
  sanitizeTerminal,
  textTable,
  writeGithubOutput,
  writeStepSummary,
} from "./cli.ts";
import { compareMajorMinor } from "../core/patterns.ts";

/** A value of a result: a scalar, or a list/object (JSON-encoded in $GITHUB_OUTPUT). */
export type ResultValue = string | number | boolean | null | readonly unknown[] | {
  readonly [key: string]: unknown;
};

/** A table: the terminal shows it padded, the step summary as Markdown. */
export interface ResultTable {
  header: string[];
  rows: string[][];
}

/** A warning or error, with the title its annotation gets under GitHub Actions. */
export type Problem = string | { message: string; title?: string };

/** What a task found, stated once. */
export interface TaskResult {
  /** The named values: the `--json` object and the `$GITHUB_OUTPUT` names (kebab-case). */
  values: Record<string, ResultValue>;
  /** What `--json` prints instead of `values` (a list, say); values stay the outputs. */
  json?: unknown;
  /** Which values go to $GITHUB_OUTPUT (default: all of them). */
  outputs?: readonly string[];
  /** The human output: lines printed before the table (a verdict, a value). */
  lines?: string[];
  /** The human table, also the step summary's. Without lines and table: the values, two columns. */
  table?: ResultTable;
  /** The step summary's table when it differs from the terminal's (or there is none there). */
  summaryTable?: ResultTable;
  /** Markdown heading of the step summary (`### …`), and Markdown after its table. */
  summaryTitle?: string;
  summaryNote?: string;
  /** Whether the step summary is written at all (default: when there is a table or values). */
  summary?: boolean;
  /** Plain lines for stderr (advice next to the result, not part of stdout). */
  notes?: string[];
  warnings?: Problem[];
  errors?: Problem[];
}

/** How a result is shown: the task's `--json` and `--github-output` flags. */
export interface RenderOptions {
  json?: boolean;
  githubOutput?: boolean;
  /** Under GitHub Actions warnings and errors become annotations (default: $GITHUB_ACTIONS). */
  actions?: boolean;
}

/** What render() writes, per channel (pure: tests read it, render() performs it). */
export interface Rendered {
  /** stdout, without the trailing newline ("" for nothing). */
  stdout: string;
  /** stderr lines: warnings and errors (annotations under GitHub Actions), then notes. */
  stderr: string[];
  /** $GITHUB_OUTPUT values, when --github-output. */
  githubOutput?: Record<string, string | number | boolean>;
  /** $GITHUB_STEP_SUMMARY Markdown, when --github-output. */
  stepSummary?: string;
}

function problemOf(problem: Problem): { message: string; title?: string } {
  return typeof problem === "string" ? { message: problem } : problem;
}

/**
 * A point in time for people, one way everywhere: `2026-11-26 13:09 UTC`. Text that is not an
 * ISO 8601 time is returned as it is (a server may send anything).
 */
export function timeText(iso: string): string {
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!match) return iso;
  if (match[3] === "Z") return `${match[1]} ${match[2]} UTC`;
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : timeText(time.toISOString());
}

/** A value as text: scalars as they are, lists and objects as JSON, null as "". */
function valueText(value: ResultValue | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A table cell: yes/no for a boolean, `-` for nothing (docs/vocabulary.md). */
export function cellText(value: ResultValue | undefined): string {
  if (typeof value === "boolean") return value ? "yes" : "no";
  const text = valueText(value);
  return text === "" ? "-" : text;
}

/** The table shown for a result: its own, else its values as `name  value` rows. */
function tableOf(result: TaskResult): ResultTable | undefined {
  if (result.table) return result.table;
  if (result.lines) return undefined;
  return {
    header: ["", ""],
    rows: Object.entries(result.values).map(([key, value]) => [key, valueText(value)]),
  };
}

/** Every channel's text for a result (pure). */
export function renderResult(result: TaskResult, options: RenderOptions = {}): Rendered {
  const actions = options.actions ?? inGithubActions();
  const stderr = [
    ...(result.warnings ?? []).map(problemOf).map((p) =>
      problemLine("warning", p.message, p.title, actions)
    ),
    ...(result.errors ?? []).map(problemOf).map((p) =>
      problemLine("error", p.message, p.title, actions)
    ),
    ...(result.notes ?? []),
  ].map(sanitizeTerminal);
  const table = tableOf(result);
  let stdout: string;
  if (options.json) {
    stdout = jsonText(result.json ?? result.values);
  } else {
    // Each line one line: a value inside it cannot forge another (sanitizeTerminal).
    const parts = (result.lines ?? []).map(sanitizeTerminal);
    if (table && table.rows.length > 0) {
      // A header of empty cells (a name/value table) is left out, not printed as a blank line.
      const text = textTable(table.header, table.rows);
      parts.push(table.header.every((h) => h === "") ? text.replace(/^\n/, "") : text);
    }
    stdout = parts.join("\n");
  }
  const rendered: Rendered = { stdout, stderr };
  if (options.githubOutput) {
    const names = result.outputs ?? Object.keys(result.values);
    rendered.githubOutput = Object.fromEntries(names.map((name) => {
      const value = result.values[name];
      return [
        name,
        typeof value === "boolean" || typeof value === "number" ? value : valueText(value),
      ];
    }));
    const summaryTable = result.summaryTable ?? table;
    if (result.summary !== false && summaryTable) {
      rendered.stepSummary = [
        result.summaryTitle ? `${result.summaryTitle}\n\n` : "",
        markdownTable(summaryTable.header, summaryTable.rows),
        result.summaryNote ? `\n${result.summaryNote}\n` : "",
      ].join("");
    }
  }
  return rendered;
}

/** Writes a result to every channel: stderr, stdout, $GITHUB_OUTPUT and the step summary. */
export function render(result: TaskResult, options: RenderOptions = {}): void {
  const rendered = renderResult(result, options);
  for (const line of rendered.stderr) console.error(line);
  if (rendered.githubOutput) writeGithubOutput(rendered.githubOutput);
  if (rendered.stepSummary) writeStepSummary(rendered.stepSummary);
  if (rendered.stdout !== "") console.log(rendered.stdout);
}

/**
 * The one-line verdict on a ZFS release and a kernel:
 * `✓ zfs-2.4.4 supports 6.17.7-300.fc43.x86_64 (6.17 ≤ 7.2)` or `✗ …`.
 */
export function verdictLine(v: {
  zfsTag: string;
  kernel: string;
  kernelMajorMinor: string;
  maxKernel: string | null;
  minKernel?: string;
  compatible: boolean;
}): string {
  if (v.maxKernel === null) {
    return `✗ ${v.zfsTag} is not in matrix.yaml: its max kernel is unknown`;
  }
  // The comparison decides the wording, so a ✗ never states a false comparison.
  if (v.minKernel !== undefined && compareMajorMinor(v.kernelMajorMinor, v.minKernel) < 0) {
    return `✗ ${v.zfsTag} does not support ${v.kernel} ` +
      `(${v.kernelMajorMinor} < ${v.minKernel}, its min kernel)`;
  }
  if (compareMajorMinor(v.kernelMajorMinor, v.maxKernel) > 0) {
    return `✗ ${v.zfsTag} does not support ${v.kernel} (${v.kernelMajorMinor} > ${v.maxKernel})`;
  }
  const supports = `${v.zfsTag} supports ${v.kernel} (${v.kernelMajorMinor} ≤ ${v.maxKernel})`;
  // In range but not compatible: the release has no pinned sha256, so a build refuses it.
  return v.compatible
    ? `✓ ${supports}`
    : `✗ ${supports}, but matrix.yaml pins no sha256 for ${v.zfsTag}`;
}
