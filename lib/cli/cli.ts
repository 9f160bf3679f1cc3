// Domain lib/cli/ — what every task shares: commander wiring, exit codes and one-line errors,
// --help texts (help.ts), rendering of results (render.ts). May import: lib/core/.
// See docs/architecture.md.
//
// What every task shares: a commander program whose usage errors exit 2, one place that
// maps errors to exit codes and one-line messages, and the output channels (stdout,
// --json, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY).
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { CheckError, exitCodeOf, InputError, UsageError } from "../core/errors.ts";
import { helpFooter } from "./help.ts";
import { jsonText, sanitizeTerminal } from "../core/sanitize.ts";
import { arch, githubRepo, IMAGE_TAG, imageRef, toZfsTag, zfsSeries } from "../core/patterns.ts";

/**
 * An option's or argument's help text with its choices, default and variable in one form,
 * `(one of: a, b; default: x; env: NAME)`: unquoted, and no `false` default for a switch.
 */
export function describeOption(
  option: {
    description?: string;
    argChoices?: readonly string[];
    defaultValue?: unknown;
    defaultValueDescription?: string;
    envVar?: string;
  },
): string {
  const extra: string[] = [];
  if (option.argChoices) extra.push(`one of: ${option.argChoices.join(", ")}`);
  if (option.defaultValue !== undefined && option.defaultValue !== false) {
    extra.push(`default: ${option.defaultValueDescription ?? String(option.defaultValue)}`);
  }
  if (option.envVar !== undefined) extra.push(`env: ${option.envVar}`);
  const text = option.description ?? "";
  return extra.length === 0 ? text : `${text} (${extra.join("; ")})`.trim();
}

/**
 * A commander program for a task: `--help` exits 0 and ends with the task's examples, exit
 * codes and environment (lib/cli/help.ts); a bad flag exits 2.
 */
export function taskCommand(name: string, description: string): Command {
  return new Command(`deno task ${name}`)
    .description(description)
    .helpOption("-h, --help", "show this help")
    .configureHelp({
      optionDescription: (option) => describeOption(option),
      argumentDescription: (argument) => describeOption(argument),
    })
    .addHelpText("after", helpFooter(name))
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
}

/** Workflow-command data escaping (`%`, CR, LF), so a message stays one annotation. */
export function escapeCommandData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** Escaping for a workflow-command property (`title=`): also `:` and `,`. */
function escapeCommandProperty(text: string): string {
  return escapeCommandData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

export { jsonText, sanitizeTerminal };

/**
 * A warning or error line for stderr: `warning: …` / `error: …`, or under GitHub Actions the
 * `::warning::` / `::error::` workflow command, which the log shows in its place and the run
 * page lists as an annotation. Always one line: the message and title go through
 * sanitizeTerminal (control characters shown escaped) before any workflow-command escaping.
 */
export function problemLine(
  level: "warning" | "error",
  message: string,
  title?: string,
  actions = inGithubActions(),
): string {
  const text = sanitizeTerminal(message);
  if (!actions) return `${level}: ${text}`;
  const properties = title === undefined
    ? ""
    : ` title=${escapeCommandProperty(sanitizeTerminal(title))}`;
  return `::${level}${properties}::${escapeCommandData(text)}`;
}

/** An unexpected error on one line: its name and message and where it was thrown, no stack. */
function unexpectedText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const at = /\n\s+at (.*)/.exec(error.stack ?? "")?.[1];
  return `${error.name}: ${error.message}${at ? ` (at ${at})` : ""}`;
}

/**
 * Runs a task's main function: parses arguments, maps expected errors to a one-line
 * message and an exit code (never a stack trace), and returns the exit code.
 */
export async function runTask(main: () => Promise<number | void>): Promise<number> {
  try {
    return (await main()) ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed the message (or the help)
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError || error instanceof InputError || error instanceof CheckError) {
      console.error(problemLine("error", error.message));
      return exitCodeOf(error);
    }
    console.error(problemLine("error", `unexpected failure: ${unexpectedText(error)}`));
    return 1;
  }
}

/** Runs the task when the file is the entry point, then exits with its code. */
export async function main(fn: () => Promise<number | void>): Promise<void> {
  Deno.exit(await runTask(fn));
}

/** A commander option parser that validates with one of lib/core/patterns.ts' checks. */
export function parseWith<T>(check: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return check(value);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
  };
}

// The options that pick a target, shared by the tasks (each validated before use).

/** The one wording of the shared options in --help (docs/vocabulary.md). */
export const SHARED_OPTION_HELP = {
  json: "print the result as one JSON document",
  image: "target image (default: the first enabled target in matrix.yaml)",
  arch: "x86_64 or aarch64; amd64, arm64 accepted (default: the target's; x86_64 with --image)",
  series: "ZFS series, e.g. 2.4 (default: matrix.yaml)",
  /** The start of every --zfs help: the default is said per task. */
  zfs: "ZFS release, e.g. zfs-2.4.2 or 2.4.2 (default: ",
} as const;

/**
 * A target image for `--image`. A kmods image (tag `zfs-…_kernel-…`) given there by mistake is
 * refused with the hint that fixes it, before anything is pulled or read.
 */
export function targetImageArgument(value: string): string {
  const ref = parseWith(imageRef)(value);
  if (IMAGE_TAG.test(tagOf(ref) ?? "")) {
    throw new UsageError(
      `${ref} is a kmods image: pass it as the argument (deno task list-rpms ${ref}); ` +
        `--image takes the target image the modules are built for`,
    );
  }
  return ref;
}

/** The tag of an image reference, if it has one (`repo:tag`, `repo:tag@sha256:…`). */
function tagOf(ref: string): string | undefined {
  const name = ref.split("@")[0]!;
  const colon = name.lastIndexOf(":");
  return colon > name.lastIndexOf("/") ? name.slice(colon + 1) : undefined;
}

/** `--image <ref>`: the target image. */
export function imageOption(description: string = SHARED_OPTION_HELP.image) {
  return new Option("--image <ref>", description).argParser(targetImageArgument);
}

/** `--arch <arch>`: x86_64 or aarch64 (the OCI names amd64 and arm64 as aliases). */
export function archOption(description: string = SHARED_OPTION_HELP.arch) {
  return new Option("--arch <arch>", description).argParser(parseWith(arch));
}

/** `--json`: one JSON document on stdout. */
export function jsonOption() {
  return new Option("--json", SHARED_OPTION_HELP.json);
}

/** `--repo <owner/repo>`: the GitHub repository gh works on. */
export function repoOption(
  description = "the repository (default: GH_REPO or the git remote)",
) {
  return new Option("--repo <owner/repo>", description).argParser(parseWith(githubRepo));
}

/** `--zfs <tag>`: a ZFS release tag (or version), instead of the newest of the series. */
export function zfsOption(
  description = `${SHARED_OPTION_HELP.zfs}the newest pinned one that supports the kernel)`,
) {
  return new Option("--zfs <tag>", description).argParser(parseWith(toZfsTag));
}

/** `--series <series>`: the ZFS series. */
export function seriesOption(description: string = SHARED_OPTION_HELP.series) {
  return new Option("--series <series>", description).argParser(parseWith(zfsSeries));
}

/**
 * A kmods image argument: a valid reference whose tag is `zfs-<version>_kernel-<kernel>`
 * (IMAGE_TAG). A target image given by mistake is refused with a hint, never pulled (~1 GB).
 */
export function kmodsImageArgument(value: string): string {
  const ref = parseWith(imageRef)(value);
  const digest = ref.split("@")[1];
  const tag = tagOf(ref);
  // repo@sha256:… names one image exactly, whatever its tags: taken as given
  if (tag === undefined && digest !== undefined) return ref;
  if (!IMAGE_TAG.test(tag ?? "")) {
    throw new UsageError(
      `Not a kmods image: ${ref} (its tag is zfs-<version>_kernel-<kernel>, or pin it as ` +
        `repo@sha256:…; for the kmods image built for a target image, use --image ${ref})`,
    );
  }
  return ref;
}

/** A whole number in [min, max], for positional arguments and options. */
export function wholeNumber(
  what: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): (value: string) => number {
  return (value) => {
    // The digit cap keeps Number() exact and rejects 1e23-sized values before converting.
    if (!/^\d{1,15}$/.test(value) || Number(value) < min || Number(value) > max) {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} up` : `from ${min} to ${max}`;
      throw new UsageError(
        `Invalid ${what}: ${JSON.stringify(shown)} (expected a whole number ${range})`,
      );
    }
    return Number(value);
  };
}

/** Prints one JSON document on stdout (C1 and bidi controls escaped too: jsonText). */
export function printJson(value: unknown): void {
  console.log(jsonText(value));
}

/** Whether the task runs under GitHub Actions. */
export function inGithubActions(): boolean {
  return Deno.env.get("GITHUB_ACTIONS") === "true";
}

const OUTPUT_VARIABLES = ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"] as const;

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Throws a UsageError naming $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY when one is set but
 * cannot be appended to, so a task can refuse before it changes anything.
 */
export function assertOutputsWritable(): void {
  for (const variable of OUTPUT_VARIABLES) {
    const path = Deno.env.get(variable);
    if (!path) continue;
    try {
      // Opening for append is the write the task will do later; it changes nothing.
      Deno.openSync(path, { append: true, create: true }).close();
    } catch (error) {
      throw new UsageError(`Cannot write $${variable}: ${path} (${reasonOf(error)})`);
    }
  }
}

function appendTo(variable: (typeof OUTPUT_VARIABLES)[number], text: string): boolean {
  const path = Deno.env.get(variable);
  if (!path) return false;
  try {
    Deno.writeTextFileSync(path, text, { append: true });
  } catch (error) {
    throw new CheckError(`Cannot write $${variable}: ${path} (${reasonOf(error)})`);
  }
  return true;
}

/** Appends `key=value` lines (heredoc form for multi-line values) to $GITHUB_OUTPUT. */
export function writeGithubOutput(values: Record<string, string | number | boolean>): boolean {
  let text = "";
  for (const [key, raw] of Object.entries(values)) {
    const value = String(raw);
    if (value.includes("\n")) {
      const marker = `EOF_${crypto.randomUUID()}`;
      text += `${key}<<${marker}\n${value}\n${marker}\n`;
    } else {
      text += `${key}=${value}\n`;
    }
  }
  return appendTo("GITHUB_OUTPUT", text);
}

/** Appends Markdown to $GITHUB_STEP_SUMMARY. */
export function writeStepSummary(markdown: string): boolean {
  return appendTo("GITHUB_STEP_SUMMARY", markdown.endsWith("\n") ? markdown : `${markdown}\n`);
}

// Line breaks become spaces in a table cell or a Markdown line (a CR LF is one break).
const LINE_BREAKS = /\r\n|[\r\n\t\u2028\u2029]/g;

/**
 * Text from a server made inert in Markdown (a step summary): on one line, with the
 * characters that start links, images, HTML, code, emphasis and table cells escaped.
 */
export function escapeMarkdown(text: string): string {
  return sanitizeTerminal(text.replace(LINE_BREAKS, " "))
    .replace(/[\\`*[\]<>|!~&]/g, (c) => `\\${c}`)
    // `_` between letters or digits never emphasises (GFM), so tags like
    // zfs-2.4.2_kernel-6.15 stay readable in the raw summary.
    .replace(
      /_/g,
      (c, at: number, all: string) =>
        /[\p{L}\p{N}]/u.test(all[at - 1] ?? "") && /[\p{L}\p{N}]/u.test(all[at + 1] ?? "")
          ? c
          : `\\${c}`,
    )
    // What would open a heading, list, quote or setext underline at the start of a line.
    .replace(/^([#+=-])/, "\\$1")
    .replace(/^(\d+)([.)])/, "$1\\$2");
}

/** A Markdown table from a header row and data rows; every cell is Markdown-escaped. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeMarkdown).join(" | ")} |`;
  const lines = [line(header), `| ${header.map(() => "---").join(" | ")} |`];
  for (const row of rows) lines.push(line(row));
  return lines.join("\n") + "\n";
}

function terminalCell(text: string): string {
  return sanitizeTerminal(text.replace(LINE_BREAKS, " "));
}

/** A plain-text table with padded columns, control characters escaped; any number of rows. */
export function textTable(header: string[], rows: string[][]): string {
  const clean = (cells: string[]) => header.map((_, i) => terminalCell(cells[i] ?? ""));
  const head = clean(header);
  const body = rows.map(clean);
  const widths = head.map((h) => h.length);
  for (const row of body) {
    for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, row[i]!.length);
  }
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const lines = [line(head)];
  for (const row of body) lines.push(line(row));
  return lines.join("\n");
}

export { userPath } from "../core/paths.ts";

/** Where lib/ reports progress: stderr, so stdout stays for values and JSON. */
export interface Logger {
  info(message: string): void;
  /** A warning; `title` heads its annotation under GitHub Actions. */
  warn(message: string, title?: string): void;
}

/**
 * The logger of every task: a warning is also an annotation under GitHub Actions. Each message
 * is one line, sanitised (control characters shown escaped: sanitizeTerminal).
 */
export const stderrLogger: Logger = {
  info: (message) => console.error(sanitizeTerminal(message)),
  warn: (message, title) => console.error(problemLine("warning", message, title)),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {} };
