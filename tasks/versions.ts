// Discovers the ZFS release, kernel and Fedora version of the target image and whether they fit.
// deno task versions [--image REF] [--arch A] [--series 2.4] [--zfs TAG] [--json] [--github-output]
//   [--all-targets [--skip-published [--repo OWNER/REPO]]]
// A build uses zfs-tag: the newest release of the series that is pinned and supports the
// kernel; when none does, fallback-* name the stream's last release that one supports.
import {
  archOption,
  assertOutputsWritable,
  imageOption,
  jsonOption,
  main,
  seriesOption,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli/cli.ts";
import type { Versions } from "../lib/coreos/discover.ts";
import { UsageError } from "../lib/core/errors.ts";
import { attestationRepo, markPublished } from "../lib/build/published.ts";
import { findRelease, loadMatrix, type Matrix } from "../lib/matrix/matrix.ts";
import { cellText, render, type TaskResult, verdictLine } from "../lib/cli/render.ts";
import { FALLBACK_KEYS, VERSION_KEYS } from "../lib/coreos/version_keys.ts";

// lib/coreos/discover.ts (registry, CoreOS, GitHub, tar) is imported after the arguments are
// parsed, so --help and a bad flag start without it. Its helpers reach the result functions as a
// parameter.
type Discover = typeof import("../lib/coreos/discover.ts");

/**
 * The values --github-output writes: the version keys and the fallback keys of one target; with
 * --all-targets "targets" (to build) and "all-targets", with --skip-published "published-count".
 */
export const OUTPUTS = [
  ...VERSION_KEYS,
  ...FALLBACK_KEYS,
  "targets",
  "all-targets",
  "published-count",
] as const;

export const DESCRIPTION =
  "Discover the ZFS release, kernel and Fedora version of the target image and whether they fit";

/** The columns of the --all-targets table (terminal and step summary): header, then key. */
const TARGET_COLUMNS = [
  ["target", "name"],
  ["arch", "arch"],
  ["zfs release", "zfs-tag"],
  ["newest of series", "zfs-latest"],
  ["kernel", "kernel-version"],
  ["max kernel", "max-kernel"],
  ["compatible", "compatible"],
  ["kmods tag", "image-tag"],
  ["fallback release", "fallback-release"],
] as const;

/** The result of one target: a verdict line, then what was found, one fact a row. */
export function versionsResult(
  versions: Versions,
  matrix: Matrix,
  { versionsOutput, fallbackMessage }: Pick<Discover, "versionsOutput" | "fallbackMessage">,
): TaskResult {
  const values = {
    image: versions.image,
    "pinned-image": versions.pinnedImage,
    arch: versions.arch,
    ...versionsOutput(versions),
  };
  const latest = versions.zfsLatest
    ? `${versions.zfsLatest} (${versions.zfsPinned ? "pinned" : "not pinned"})`
    : "not looked up (--zfs)";
  const rows = [
    ["target image", `${versions.image} (${versions.arch})`],
    ["digest", versions.imageDigest],
    ["fedora", versions.fedoraVersion],
    [
      "kernel",
      `${versions.kernelVersion} (${versions.kernelMajorMinor}, from the ${versions.kernelSource})`,
    ],
    ["zfs release", `${versions.zfsTag} (max kernel ${versions.maxKernel ?? "unknown"})`],
    ["newest of series", latest],
    ["kmods tag", versions.imageTag],
  ];
  if (versions.fallback) {
    rows.push(
      ["fallback release", `${versions.fallback.release} (${versions.fallback.kernelVersion})`],
      ["fallback image", versions.fallback.image],
      ["fallback kmods tag", versions.fallback.imageTag],
    );
  }
  const verdict = verdictLine({
    zfsTag: versions.zfsTag,
    kernel: versions.kernelVersion,
    kernelMajorMinor: versions.kernelMajorMinor,
    maxKernel: versions.maxKernel,
    minKernel: findRelease(matrix, versions.zfsTag)?.["min-kernel"],
    compatible: versions.compatible,
  });
  const fallback = fallbackMessage(versions);
  return {
    values,
    outputs: Object.keys(versionsOutput(versions)),
    lines: [verdict],
    table: { header: ["", ""], rows },
    summaryTitle: `### ${verdict}`,
    notes: fallback ? [fallback] : [],
    warnings: versions.compatible
      ? []
      : [{ message: versions.message, title: "Kernel not supported" }],
  };
}

/**
 * The result of --all-targets: the nightly plan, one row a target. With --skip-published each
 * target says whether it is `published`: "targets" then holds only the others.
 */
export function allTargetsResult(targets: Record<string, string | boolean>[]): TaskResult {
  const checked = targets.some((t) => "published" in t);
  const toBuild = targets.filter((t) => t.published !== true);
  const publishedCount = targets.length - toBuild.length;
  const nothingNew = `nothing new: ${publishedCount} targets already published`;
  const progress = `${publishedCount} of ${targets.length} targets already published`;
  return {
    values: {
      targets: toBuild,
      "all-targets": targets,
      ...(checked ? { "published-count": publishedCount } : {}),
    },
    json: targets,
    ...(checked
      ? {
        summaryTitle: `### ${toBuild.length === 0 ? nothingNew : progress}`,
        notes: [toBuild.length === 0 ? nothingNew : progress],
      }
      : {}),
    table: {
      header: TARGET_COLUMNS.map(([header]) => header),
      rows: targets.map((t) => TARGET_COLUMNS.map(([, key]) => cellText(t[key]))),
    },
    warnings: targets.filter((t) => t.compatible === false).map((t) => ({
      title: "Kernel not supported yet",
      message: `${t.name}: no pinned release supports ${t["kernel-version"]}` +
        (t["fallback-release"]
          ? `; the nightly build uses ${t["fallback-release"]} instead (${t["fallback-image-tag"]})`
          : ""),
    })),
  };
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand("versions", DESCRIPTION)
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(seriesOption())
      .addOption(zfsOption(
        "ZFS release, e.g. zfs-2.4.2 or 2.4.2 (default: the newest pinned one that supports " +
          "the kernel; given, GitHub is not asked)",
      ))
      .option("--all-targets", "every enabled target of matrix.yaml (output: targets)")
      .option(
        "--skip-published",
        "with --all-targets: targets whose kmods image is published and attested leave targets",
      )
      .option(
        "--repo <owner/repo>",
        "repository the attestations must come from (default: $GITHUB_REPOSITORY)",
      )
      .addOption(jsonOption())
      .option("--github-output", "write the values to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY")
      .parse(Deno.args, { from: "user" }).opts();
    if ((options.skipPublished || options.repo) && !options.allTargets) {
      throw new UsageError("--skip-published and --repo go with --all-targets");
    }
    if (options.repo && !options.skipPublished) {
      throw new UsageError("--repo goes with --skip-published");
    }
    const repo = options.skipPublished
      ? attestationRepo(options.repo, "--skip-published")
      : undefined;
    if (options.githubOutput) assertOutputsWritable();
    const matrix = await loadMatrix();
    const discover = await import("../lib/coreos/discover.ts");

    if (options.allTargets) {
      if (options.image || options.arch || options.series) {
        throw new UsageError("--all-targets reads image, arch and series from matrix.yaml");
      }
      const targets = await discover.discoverAllTargets(matrix, {
        zfsTag: options.zfs,
        logger: stderrLogger,
      });
      const plan = repo === undefined
        ? targets
        : await markPublished(targets, matrix.publish.image, { repo, logger: stderrLogger });
      render(allTargetsResult(plan), options);
      return 0;
    }

    const versions = await discover.discoverVersions({
      matrix,
      ...options,
      zfsTag: options.zfs,
      logger: stderrLogger,
    });
    render(versionsResult(versions, matrix, discover), options);
    return 0;
  });
}
