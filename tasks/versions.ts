// Discovers the ZFS release, kernel and Fedora version of the target image and whether they fit.
// deno task versions [--image REF] [--arch A] [--series 2.4] [--json] [--github-output] [--all-targets]
import {
  archOption,
  imageOption,
  main,
  markdownTable,
  printJson,
  seriesOption,
  stderrLogger,
  taskCommand,
  textTable,
  writeGithubOutput,
  writeStepSummary,
  zfsOption,
} from "../lib/cli.ts";
import { checkCompatibility } from "../lib/compat.ts";
import {
  discoverAllTargets,
  discoverVersions,
  VERSION_KEYS,
  type Versions,
  versionsOutput,
} from "../lib/discover.ts";
import { UsageError } from "../lib/errors.ts";
import { loadMatrix, type Matrix } from "../lib/matrix.ts";

export const OUTPUTS = [...VERSION_KEYS, "targets"] as const;

function warnIfIncompatible(matrix: Matrix, v: Versions) {
  if (!v.compatible) {
    stderrLogger.warn(checkCompatibility(matrix, v.zfsTag, v.kernelVersion).message);
  }
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "versions",
      "Discover the ZFS release, kernel and Fedora version of the target image and whether they fit",
    )
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(seriesOption())
      .addOption(zfsOption("use this ZFS release instead of the newest"))
      .option("--all-targets", "every enabled target of matrix.yaml (output: targets)")
      .option("--json", "print one JSON object")
      .option("--github-output", "write the values to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY")
      .parse(Deno.args, { from: "user" }).opts();
    const matrix = await loadMatrix();

    if (options.allTargets) {
      if (options.image || options.arch || options.series) {
        throw new UsageError("--all-targets reads image, arch and series from matrix.yaml");
      }
      const targets = await discoverAllTargets(matrix, {
        zfsTag: options.zfs,
        logger: stderrLogger,
      });
      for (const t of targets) {
        if (t.compatible === false) {
          stderrLogger.warn(`${t.name}: ${t["zfs-tag"]} does not support ${t["kernel-version"]}`);
        }
      }
      if (options.githubOutput) {
        writeGithubOutput({ targets: JSON.stringify(targets) });
        const columns = [
          "name",
          "zfs-tag",
          "kernel-version",
          "max-kernel",
          "compatible",
          "image-tag",
        ];
        writeStepSummary(markdownTable(
          columns,
          targets.map((t) => columns.map((c) => String(t[c]))),
        ));
      }
      if (options.json) printJson(targets);
      else if (!options.githubOutput) {
        const columns = ["name", "zfs-tag", "kernel-version", "compatible", "kernel-source"];
        console.log(textTable(
          columns,
          targets.map((t) => columns.map((c) => String(t[c]))),
        ));
      }
      return 0;
    }

    const versions = await discoverVersions({
      matrix,
      ...options,
      zfsTag: options.zfs,
      logger: stderrLogger,
    });
    warnIfIncompatible(matrix, versions);
    const values = versionsOutput(versions);
    const rows = [
      ["image", versions.image],
      ["pinned-image", versions.pinnedImage],
      ["arch", versions.arch],
      ...Object.entries(values).map(([k, v]) => [k, String(v)]),
    ];
    if (options.githubOutput) {
      writeGithubOutput(values);
      writeStepSummary(markdownTable(["", "value"], rows));
    }
    if (options.json) {
      printJson({
        image: versions.image,
        "pinned-image": versions.pinnedImage,
        arch: versions.arch,
        ...values,
      });
    } else if (!options.githubOutput) console.log(textTable(["", "value"], rows));
    return 0;
  });
}
