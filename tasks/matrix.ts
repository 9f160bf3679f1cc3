// Maintains matrix.yaml: `add` pins a ZFS release from its own source tarball, `check` lists what
// is missing, `show` lists the releases with their kernel range.
// deno task matrix add zfs-2.4.4 [--sha256 HEX] [--force] [--json] · deno task matrix check [--json] [--github-output]
// deno task matrix show [--json]
import {
  assertOutputsWritable,
  jsonOption,
  main,
  parseWith,
  stderrLogger,
  taskCommand,
} from "../lib/cli/cli.ts";
import { InputError } from "../lib/core/errors.ts";
import { helpFooter } from "../lib/cli/help.ts";
import { loadMatrix, type Matrix, releaseOverview } from "../lib/matrix/matrix.ts";
import type { AddResult, MatrixReport } from "../lib/matrix/matrix_edit.ts";
import { render, type TaskResult } from "../lib/cli/render.ts";
import { SHA256, toZfsTag } from "../lib/core/patterns.ts";
// lib/matrix/matrix_edit.ts (yaml, tarball download) and lib/matrix/zfs_releases.ts are imported
// by the subcommand that uses them, after the arguments are parsed: --help and `show` start
// without them.

export const OUTPUTS = ["missing", "missing-count", "unpinned"] as const;

function sha256Arg(value: string): string {
  const hex = value.toLowerCase();
  if (!SHA256.test(hex)) {
    throw new InputError(`Invalid sha256: ${JSON.stringify(value)} (expected 64 hex digits)`);
  }
  return hex;
}

/** The result of `matrix add`: the entry and what changed; a conflict is the error. */
function addResult(
  result: AddResult,
  describeDifferences: (differences: AddResult["differences"]) => string[],
): TaskResult {
  const { entry, change, path } = result;
  const summary = `max kernel ${entry["max-kernel"]}, min kernel ${
    entry["min-kernel"] ?? "-"
  }, sha256 ${entry.sha256}`;
  const lines = describeDifferences(result.differences).map((line) => `  ${line}`);
  const text = {
    added: [`Added ${entry.tag} to ${path}: ${summary}`],
    completed: [`Completed ${entry.tag} in ${path}:`, ...lines],
    replaced: [`Replaced the values of ${entry.tag} in ${path} (--force):`, ...lines],
    unchanged: [`${entry.tag} is already in ${path} with the same values: ${summary}`],
    conflict: [],
  }[change];
  return {
    values: {
      "zfs-tag": entry.tag,
      url: result.url,
      bytes: result.bytes,
      sha256: entry.sha256 ?? null,
      "max-kernel": entry["max-kernel"],
      "min-kernel": entry["min-kernel"] ?? null,
      change,
      differences: result.differences,
    },
    lines: text,
    errors: change === "conflict"
      ? [
        `${entry.tag} is already in ${path} with different values ` +
        `(nothing written; add --force to replace them): ${
          lines.map((line) => line.trim()).join("; ")
        }`,
      ]
      : [],
  };
}

/** The result of `matrix show`: the tracked series, then one row a release, oldest first. */
export function showResult(matrix: Matrix): TaskResult {
  const { series, releases } = releaseOverview(matrix);
  const tracked = releases.filter((r) => r.tracked);
  const others = releases.length - tracked.length;
  const count = (n: number) => `${n} release${n === 1 ? "" : "s"}`;
  return {
    values: { series, releases },
    lines: [
      `Tracked series ${series.join(", ")}: ${count(tracked.length)}, ` +
      `${tracked.filter((r) => r.pinned).length} pinned` +
      (others > 0 ? `; other series: ${count(others)}` : ""),
    ],
    table: {
      header: ["zfs release", "min kernel", "max kernel", "pinned", "series"],
      rows: releases.map((r) => [
        r["zfs-tag"],
        r["min-kernel"] ?? "-",
        r["max-kernel"],
        r.pinned ? "yes" : "no",
        r.tracked ? `${r.series} (tracked)` : r.series,
      ]),
    },
  };
}

/** The result of `matrix check`: what matrix.yaml lacks, as a report (never an error). */
function checkResult(matrix: Matrix, report: MatrixReport): TaskResult {
  const lines = [
    `matrix.yaml is valid: ${matrix.zfs.releases.length} releases, ` +
    `tracked series ${report.series.join(", ")}`,
    report.missing.length
      ? `Missing (published on GitHub): ${report.missing.join(", ")}`
      : "Missing: none, every published release of the tracked series is listed",
    report.unpinned.length
      ? `Without a pinned sha256: ${report.unpinned.join(", ")}`
      : "Without a pinned sha256: none",
  ];
  if (report.missing.length || report.unpinned.length) {
    lines.push("Add or pin one with: deno task matrix add <tag>");
  }
  return {
    values: {
      missing: report.missing,
      "missing-count": report.missing.length,
      unpinned: report.unpinned,
    },
    json: report,
    lines,
    summaryTable: {
      header: ["zfs release", "state"],
      rows: [
        ...report.missing.map((tag) => [tag, "missing from matrix.yaml"]),
        ...report.unpinned.map((tag) => [tag, "no sha256 pinned"]),
      ],
    },
    summaryTitle: `### matrix.yaml (series ${report.series.join(", ")})`,
  };
}

if (import.meta.main) {
  main(async () => {
    let code = 0;
    const program = taskCommand(
      "matrix",
      "Maintain matrix.yaml: show its releases, add one from its source, check for missing and unpinned releases",
    );
    // Each subcommand has its own Examples and Exit codes; `help <command>` is not offered
    // (`matrix <command> --help` is the one way).
    program.helpCommand(false);
    program.command("add")
      .addHelpText("after", helpFooter("matrix add"))
      .description(
        "Download a release's source tarball, hash it, read META, and write its entry",
      )
      .argument("<tag>", "ZFS release, e.g. zfs-2.4.4 or 2.4.4", parseWith(toZfsTag))
      .option("--sha256 <hex>", "the sha256 the download must have", parseWith(sha256Arg))
      .option("--force", "replace an existing entry whose values differ")
      .addOption(jsonOption())
      .action(async (tag, options) => {
        const { addReleaseFromSource, describeDifferences } = await import(
          "../lib/matrix/matrix_edit.ts"
        );
        const result = await addReleaseFromSource(tag, {
          expectedSha256: options.sha256,
          force: options.force,
          logger: stderrLogger,
        });
        render(addResult(result, describeDifferences), options);
        code = result.change === "conflict" ? 1 : 0;
      });
    program.command("check")
      .addHelpText("after", helpFooter("matrix check"))
      .description(
        "Validate matrix.yaml and list the releases of the tracked series on GitHub it lacks " +
          "and the entries without a sha256",
      )
      .addOption(jsonOption())
      .option("--github-output", "write missing, missing-count and unpinned to $GITHUB_OUTPUT")
      .action(async (options) => {
        if (options.githubOutput) assertOutputsWritable();
        const matrix = await loadMatrix();
        const [{ matrixReport }, { listZfsReleases }] = await Promise.all([
          import("../lib/matrix/matrix_edit.ts"),
          import("../lib/matrix/zfs_releases.ts"),
        ]);
        render(checkResult(matrix, matrixReport(matrix, await listZfsReleases())), options);
      });
    program.command("show")
      .addHelpText("after", helpFooter("matrix show"))
      .description(
        "List the releases in matrix.yaml with their min and max kernel and whether a sha256 " +
          "is pinned (no network)",
      )
      .addOption(jsonOption())
      .action(async (options) => {
        render(showResult(await loadMatrix()), options);
      });
    await program.parseAsync(Deno.args, { from: "user" });
    return code;
  });
}
