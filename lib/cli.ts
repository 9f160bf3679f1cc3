// What every task shares: a commander program whose usage errors exit 2, one place that
// maps errors to exit codes and one-line messages, and the output channels (stdout,
// --json, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY).
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { CheckError, exitCodeOf, InputError, UsageError } from "./errors.ts";
import { arch, imageRef, toZfsTag, zfsSeries } from "./patterns.ts";

/** A commander program for a task: `--help` exits 0, a bad flag exits 2. */
export function taskCommand(name: string, description: string): Command {
  return new Command(`deno task ${name}`)
    .description(description)
    .helpOption("-h, --help", "show this help")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
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
      console.error(`error: ${error.message}`);
      return exitCodeOf(error);
    }
    console.error(`error: unexpected failure: ${error instanceof Error ? error.stack : error}`);
    return 1;
  }
}

/** Runs the task when the file is the entry point, then exits with its code. */
export async function main(fn: () => Promise<number | void>): Promise<void> {
  Deno.exit(await runTask(fn));
}

/** A commander option parser that validates with one of lib/patterns.ts' checks. */
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

/** `--image <ref>`: the target image. */
export function imageOption(description = "target image (default: matrix.yaml)") {
  return new Option("--image <ref>", description).argParser(parseWith(imageRef));
}

/** `--arch <arch>`: x86_64 or aarch64. */
export function archOption(description = "x86_64 or aarch64 (default: matrix.yaml)") {
  return new Option("--arch <arch>", description).argParser(parseWith(arch));
}

/** `--zfs <tag>`: a ZFS release tag (or version), instead of the newest of the series. */
export function zfsOption(
  description = "ZFS release, e.g. zfs-2.4.2 (default: newest of the series)",
) {
  return new Option("--zfs <tag>", description).argParser(parseWith(toZfsTag));
}

/** `--series <series>`: the ZFS series. */
export function seriesOption(description = "ZFS series, e.g. 2.4 (default: matrix.yaml)") {
  return new Option("--series <series>", description).argParser(parseWith(zfsSeries));
}

/** A whole number >= min, for positional arguments and options. */
export function wholeNumber(what: string, min: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new UsageError(
        `Invalid ${what}: ${JSON.stringify(value)} (expected a whole number >= ${min})`,
      );
    }
    return Number(value);
  };
}

/** Prints one JSON document on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Whether the task runs under GitHub Actions. */
export function inGithubActions(): boolean {
  return Deno.env.get("GITHUB_ACTIONS") === "true";
}

function appendTo(variable: string, text: string): boolean {
  const path = Deno.env.get(variable);
  if (!path) return false;
  Deno.writeTextFileSync(path, text, { append: true });
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

/** A Markdown table from a header row and data rows. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
}

/** A plain-text table with padded columns, for terminals and logs. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Where lib/ reports progress: stderr, so stdout stays for values and JSON. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export const stderrLogger: Logger = {
  info: (message) => console.error(message),
  warn: (message) => console.error(`warning: ${message}`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {} };
