// The kernel forecast: for every Fedora CoreOS stream a target builds, and the streams ahead
// of it, whether a pinned OpenZFS release supports the kernel of the stream's newest
// release; when a testing kernel is expected on stable; what to pin meanwhile; and the body
// of the one GitHub issue that tracks it. Decisions are pure; collectForecast() does the I/O
// through sources passed in (real ones by default).
import { escapeMarkdown } from "../cli/cli.ts";
import { supportsKernel } from "../matrix/compat.ts";
import { type FcosRelease, fetchBuildKernel, fetchReleaseIndex, snapshotDateOf } from "./coreos.ts";
import { UsageError } from "../core/errors.ts";
import { FALLBACK_MAX_WALK, lastCompatibleRelease, pinnedTags } from "./fallback.ts";
import { findRelease, type Matrix, type Release } from "../matrix/matrix.ts";
import {
  type Arch,
  compareMajorMinor,
  compareZfsTags,
  imageTag,
  KERNEL_VERSION,
  kernelMajorMinor,
  zfsVersionOf,
} from "../core/patterns.ts";
import { chooseZfsRelease } from "../matrix/zfs_releases.ts";

/** Fedora CoreOS streams in promotion order: next → testing → stable. */
export const STREAM_ORDER = ["next", "testing", "stable"] as const;
/**
 * Days from a release's content snapshot (the date its version names) to the stable release
 * that ships it: 15–23 in the releases checked (REFERENCE.md "Build truth"), longer around a
 * major-version rebase. An estimate, shown as a range.
 */
export const STABLE_AFTER_SNAPSHOT_DAYS = { min: 15, max: 23 } as const;

/** How the one forecast issue is found again: its label, a marker in its body, its title. */
export const FORECAST_ISSUE = {
  title: "Kernel forecast: a Fedora CoreOS kernel that no pinned OpenZFS release supports",
  label: "kernel-forecast",
  marker: "<!-- fedora-zfs-kmods:kernel-forecast -->",
  labelColor: "d93f0b",
  labelDescription:
    "Kept by the forecast workflow: a coming FCOS kernel no pinned OpenZFS supports",
} as const;

/** One stream and arch to forecast, with the ZFS series of the target it belongs to. */
export interface ForecastSubject {
  stream: string;
  arch: Arch;
  series: string;
  /** Whether an enabled target builds this stream (false: it is only ahead of one). */
  target: boolean;
}

/** What was read for a subject: its newest release and that release's kernel. */
export interface StreamObservation extends ForecastSubject {
  release?: { version: string; image: string };
  kernelVersion?: string;
  /** Why the release or its kernel could not be read. */
  error?: string;
}

/** A release users can pin: a Fedora CoreOS release and the kmods tag built for it. */
export interface PinAdvice {
  release: string;
  /** The release's per-arch image, `quay.io/fedora/fedora-coreos@sha256:…`. */
  image: string;
  kernelVersion: string;
  zfsTag: string;
  imageTag: string;
}

export type Verdict = "ok" | "unsupported" | "warning" | "unknown";

/** The forecast of one stream and arch. */
export interface ForecastRow extends ForecastSubject {
  /** ok: a pinned release supports it; unsupported: a target's stream nothing pinned supports;
   * warning: the same on a stream ahead of a target; unknown: it could not be read. */
  verdict: Verdict;
  release: string | null;
  /** The content snapshot date its version names (YYYY-MM-DD): not the day it was released. */
  snapshotDate: string | null;
  image: string | null;
  kernelVersion: string | null;
  kernelMajorMinor: string | null;
  /** The newest pinned release of the series that supports the kernel. */
  zfsTag: string | null;
  maxKernel: string | null;
  supported: boolean | null;
  /** The kmods image tag a build of this release gets (when supported). */
  imageTag: string | null;
  /** A release in matrix.yaml that supports the kernel but has no sha256 pinned yet. */
  unpinnedZfsTag: string | null;
  /**
   * For a testing kernel nothing pinned supports: the days stable should get it around
   * (YYYY-MM-DD, snapshot + STABLE_AFTER_SNAPSHOT_DAYS): an estimate, never a date to count on.
   */
  expectedOnStable: { from: string; to: string } | null;
  /** What would fix an unsupported kernel. */
  fix: string | null;
  fallback: PinAdvice | null;
  /** Why there is no fallback (none supported within the walk, or a failed look-up). */
  fallbackNote: string | null;
  /** Whether the fallback look-up failed (the forecast is then incomplete). */
  fallbackFailed: boolean;
  error: string | null;
}

function streamRank(stream: string): number {
  const index = (STREAM_ORDER as readonly string[]).indexOf(stream);
  return index === -1 ? STREAM_ORDER.length : STREAM_ORDER.length - 1 - index;
}

/**
 * The streams to forecast: the stream of every enabled target plus the streams ahead of it
 * (stable ← testing ← next), with the target's arch and series; stable first.
 */
export function forecastSubjects(matrix: Matrix): ForecastSubject[] {
  const subjects = new Map<string, ForecastSubject>();
  const add = (subject: ForecastSubject) => {
    const key = `${subject.stream}/${subject.arch}/${subject.series}`;
    const known = subjects.get(key);
    if (known) known.target ||= subject.target;
    else subjects.set(key, subject);
  };
  for (const target of matrix.targets.filter((t) => t.enabled)) {
    const series = target.series ?? matrix.zfs.series;
    add({ stream: target.stream, arch: target.arch, series, target: true });
    const index = (STREAM_ORDER as readonly string[]).indexOf(target.stream);
    // A stream outside next/testing/stable (a custom one) has nothing known ahead of it.
    for (const ahead of STREAM_ORDER.slice(0, Math.max(index, 0)).reverse()) {
      add({ stream: ahead, arch: target.arch, series, target: false });
    }
  }
  return [...subjects.values()].sort((a, b) =>
    streamRank(a.stream) - streamRank(b.stream) || a.stream.localeCompare(b.stream) ||
    a.arch.localeCompare(b.arch) || a.series.localeCompare(b.series)
  );
}

/** The newest release of a stream that has an image for `arch` (the index is oldest first). */
export function newestRelease(releases: FcosRelease[], arch: string): FcosRelease | undefined {
  return releases.findLast((release) => release.images.some((image) => image.arch === arch));
}

/**
 * The release a build would use for the kernel (chooseZfsRelease over the series' pinned
 * releases, as the fallback walk does), and the newest release of the series that supports
 * it without a pin, if that one is newer.
 */
export function supportingReleases(
  matrix: Matrix,
  series: string,
  kernel: string,
): { pinned?: Release; unpinned?: Release } {
  const published = pinnedTags(matrix, series);
  const choice = published.length === 0
    ? undefined
    : chooseZfsRelease(matrix, { series, published, kernel });
  const pinned = choice?.compatible ? findRelease(matrix, choice.zfsTag) : undefined;
  const majorMinor = kernelMajorMinor(kernel);
  const unpinned = matrix.zfs.releases
    .filter((r) => !r.sha256 && r.tag.startsWith(`zfs-${series}.`) && supportsKernel(r, majorMinor))
    .sort((a, b) => compareZfsTags(b.tag, a.tag))[0];
  return {
    pinned,
    unpinned: unpinned && (!pinned || compareZfsTags(unpinned.tag, pinned.tag) > 0)
      ? unpinned
      : undefined,
  };
}

const day = (date: Date, plus = 0) =>
  new Date(date.getTime() + plus * 86_400_000).toISOString().slice(0, 10);

/**
 * The days a testing release is expected on stable around: its snapshot date plus
 * STABLE_AFTER_SNAPSHOT_DAYS (min to max).
 */
export function expectedOnStable(testingVersion: string): { from: string; to: string } | undefined {
  const snapshot = snapshotDateOf(testingVersion);
  if (!snapshot) return undefined;
  return {
    from: day(snapshot, STABLE_AFTER_SNAPSHOT_DAYS.min),
    to: day(snapshot, STABLE_AFTER_SNAPSHOT_DAYS.max),
  };
}

/** `around 2025-12-09 – 2025-12-17`: an estimate reads as one. */
export function aroundText(range: { from: string; to: string }): string {
  return `around ${range.from} – ${range.to}`;
}

/** What fixes a kernel that nothing pinned supports. */
export function fixFor(majorMinor: string, unpinned: Release | undefined): string {
  return unpinned
    ? `deno task matrix add ${unpinned.tag}`
    : `no OpenZFS release supports ${majorMinor} yet`;
}

function emptyRow(subject: ForecastSubject): ForecastRow {
  return {
    ...subject,
    verdict: "unknown",
    release: null,
    snapshotDate: null,
    image: null,
    kernelVersion: null,
    kernelMajorMinor: null,
    zfsTag: null,
    maxKernel: null,
    supported: null,
    imageTag: null,
    unpinnedZfsTag: null,
    expectedOnStable: null,
    fix: null,
    fallback: null,
    fallbackNote: null,
    fallbackFailed: false,
    error: null,
  };
}

/** The verdict of every observation; a testing kernel not yet on stable gets its estimate. */
export function forecastRows(matrix: Matrix, observations: StreamObservation[]): ForecastRow[] {
  const rows = observations.map((observed): ForecastRow => {
    const { release, kernelVersion, error, ...subject } = observed;
    const row = emptyRow(subject);
    row.release = release?.version ?? null;
    row.image = release?.image ?? null;
    const snapshot = release ? snapshotDateOf(release.version) : undefined;
    row.snapshotDate = snapshot ? day(snapshot) : null;
    if (!kernelVersion || !KERNEL_VERSION.test(kernelVersion)) {
      row.error = error ??
        (release
          ? `No kernel found in the build metadata of ${release.version}`
          : `No release of ${subject.stream} has an ${subject.arch} image`);
      return row;
    }
    row.kernelVersion = kernelVersion;
    row.kernelMajorMinor = kernelMajorMinor(kernelVersion);
    const { pinned, unpinned } = supportingReleases(matrix, subject.series, kernelVersion);
    row.supported = pinned !== undefined;
    row.unpinnedZfsTag = unpinned?.tag ?? null;
    if (pinned) {
      row.verdict = "ok";
      row.zfsTag = pinned.tag;
      row.maxKernel = pinned["max-kernel"];
      row.imageTag = imageTag(zfsVersionOf(pinned.tag), kernelVersion);
    } else {
      row.verdict = subject.target ? "unsupported" : "warning";
      row.fix = fixFor(row.kernelMajorMinor, unpinned);
    }
    return row;
  });
  for (const row of rows) {
    if (row.stream !== "testing" || row.supported !== false || !row.release) continue;
    const stable = rows.find((r) =>
      r.stream === "stable" && r.arch === row.arch && r.series === row.series
    );
    // Stable already runs this kernel (or a newer one): nothing is coming, it is here.
    if (
      stable?.kernelMajorMinor &&
      compareMajorMinor(stable.kernelMajorMinor, row.kernelMajorMinor!) >= 0
    ) continue;
    row.expectedOnStable = expectedOnStable(row.release) ?? null;
  }
  return rows;
}

/** The JSON document of `--json` and the `forecast` output: kebab-case keys. */
export function forecastJson(rows: ForecastRow[]): Record<string, unknown>[] {
  return rows.map((row) => ({
    verdict: row.verdict,
    stream: row.stream,
    arch: row.arch,
    series: row.series,
    target: row.target,
    release: row.release,
    "snapshot-date": row.snapshotDate,
    image: row.image,
    "kernel-version": row.kernelVersion,
    "kernel-major-minor": row.kernelMajorMinor,
    "zfs-tag": row.zfsTag,
    "max-kernel": row.maxKernel,
    compatible: row.supported,
    "image-tag": row.imageTag,
    "unpinned-zfs-tag": row.unpinnedZfsTag,
    "expected-on-stable-from": row.expectedOnStable?.from ?? null,
    "expected-on-stable-to": row.expectedOnStable?.to ?? null,
    fix: row.fix,
    "fallback-release": row.fallback?.release ?? null,
    "fallback-image": row.fallback?.image ?? null,
    "fallback-kernel-version": row.fallback?.kernelVersion ?? null,
    "fallback-zfs-tag": row.fallback?.zfsTag ?? null,
    "fallback-image-tag": row.fallback?.imageTag ?? null,
    "fallback-note": row.fallbackNote,
    error: row.error,
  }));
}

/** Rows whose kernel nothing pinned supports (verdict unsupported or warning). */
export function unsupportedRows(rows: ForecastRow[]): ForecastRow[] {
  return rows.filter((row) => row.supported === false);
}

/** One line on a row: what supports it, or when it comes and what fixes it, or what failed. */
export function rowNote(row: ForecastRow): string {
  switch (row.verdict) {
    case "ok":
      return `${row.kernelMajorMinor} ≤ ${row.maxKernel}`;
    case "unknown":
      return row.error ?? "";
    default: {
      const when = row.expectedOnStable
        ? `expected on stable ${aroundText(row.expectedOnStable)}; `
        : "";
      const pin = row.fallback ? `; pin ${row.fallback.release}` : "";
      return `${when}nothing pinned supports ${row.kernelMajorMinor}: ${row.fix}${pin}`;
    }
  }
}

/** Header and rows of the forecast table, verdict first. */
export function forecastTable(rows: ForecastRow[]): { header: string[]; rows: string[][] } {
  return {
    header: ["verdict", "stream", "arch", "release", "kernel", "zfs release", "note"],
    rows: rows.map((row) => [
      row.verdict,
      row.stream,
      row.arch,
      row.release ?? "-",
      row.kernelVersion ?? "-",
      row.zfsTag ?? "-",
      rowNote(row),
    ]),
  };
}

/** The supported row of a stream a target builds, for a row only ahead of it. */
function builtRow(rows: ForecastRow[], ahead: ForecastRow): ForecastRow | undefined {
  return rows.find((r) =>
    r.target && r.verdict === "ok" && r.arch === ahead.arch && r.series === ahead.series
  );
}

const code = (text: string) => `\`${text.replaceAll("`", "")}\``;

/**
 * The body of the forecast issue, or undefined when every kernel is supported (the issue
 * is then closed). It holds no timestamp, so it only changes when the forecast does.
 */
export function issueBody(rows: ForecastRow[], publishImage: string): string | undefined {
  const unsupported = unsupportedRows(rows);
  if (unsupported.length === 0) return undefined;
  const lines = [
    FORECAST_ISSUE.marker,
    "The daily kernel forecast (`deno task forecast`) found Fedora CoreOS kernels that no " +
    "pinned OpenZFS release supports. The forecast workflow keeps this issue up to date and " +
    "closes it when every kernel is supported again.",
    "",
  ];
  for (const row of unsupported) {
    lines.push(
      `### ${escapeMarkdown(`${row.stream} (${row.arch}): kernel ${row.kernelMajorMinor}`)}`,
      "",
      // series and major.minor were validated against strict digit patterns (matrix.yaml,
      // KERNEL_VERSION): they cannot carry Markdown.
      `- Release ${code(row.release ?? "")}` +
        (row.snapshotDate ? ` (content snapshot of ${row.snapshotDate})` : "") +
        ` has kernel ${code(row.kernelVersion ?? "")}; ` +
        `no pinned zfs-${row.series}.x release supports ${row.kernelMajorMinor}.`,
    );
    if (row.expectedOnStable) {
      // Dates built from validated digits (FCOS_VERSION): no Markdown in them.
      lines.push(
        `- Expected on stable ${aroundText(row.expectedOnStable)}: an estimate, ` +
          `${STABLE_AFTER_SNAPSHOT_DAYS.min}–${STABLE_AFTER_SNAPSHOT_DAYS.max} days after the ` +
          `snapshot its version names (longer around a major-version rebase).`,
      );
    } else if (!row.target) {
      lines.push(`- Not on a stream that is built yet; it moves down next → testing → stable.`);
    }
    const built = row.target ? undefined : builtRow(rows, row);
    lines.push(
      row.unpinnedZfsTag
        ? `- Fix: ${code(row.fix ?? "")} (then merge the matrix.yaml change).`
        : `- Fix: none yet, ${escapeMarkdown(row.fix ?? "")}.`,
    );
    if (row.fallback) {
      lines.push(
        `- Meanwhile pin the last release whose kernel is supported ` +
          `(${code(row.fallback.kernelVersion)}, ${code(row.fallback.zfsTag)}):`,
        "",
        "  ```Containerfile",
        `  FROM quay.io/fedora/fedora-coreos:${row.fallback.release}`,
        `  # kmods image: ${publishImage}:${row.fallback.imageTag}`,
        "  ```",
      );
    } else if (row.fallbackNote) {
      lines.push(`- No release to pin: ${escapeMarkdown(row.fallbackNote)}.`);
    } else if (built) {
      lines.push(
        `- The ${escapeMarkdown(built.stream)} build is supported meanwhile: release ` +
          `${code(built.release ?? "")}, kmods image ${code(`${publishImage}:${built.imageTag}`)}.`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** The comment that closes the forecast issue. */
export function closingComment(rows: ForecastRow[]): string {
  const streams = [...new Set(rows.map((row) => row.stream))].join(", ");
  return `Every forecast kernel (${escapeMarkdown(streams)}) is supported by a pinned ` +
    "OpenZFS release again: closing.";
}

/** Where collectForecast() reads from (tests and benchmarks pass their own). */
export interface ForecastSources {
  releaseIndex(stream: string): Promise<FcosRelease[]>;
  buildKernel(stream: string, version: string, arch: string): Promise<string | undefined>;
  lastCompatible(options: {
    matrix: Matrix;
    stream: string;
    arch: Arch;
    series: string;
    maxWalk: number;
    releases: FcosRelease[];
    /** The row's own (newest) release: the walk starts below it. */
    before: string;
  }): Promise<{ fallback?: PinAdvice; walked: number; capped: boolean }>;
}

/** The real sources: the Fedora CoreOS builds server (FCOS_BUILDS_URL). */
export function defaultSources(base?: string): ForecastSources {
  return {
    releaseIndex: (stream) => fetchReleaseIndex(stream, { base }),
    buildKernel: (stream, version, arch) => fetchBuildKernel(stream, version, arch, { base }),
    lastCompatible: (options) => lastCompatibleRelease({ ...options, base }),
  };
}

// A bad setting (FCOS_BUILDS_URL, HTTP_RETRIES, …) is the user's to fix, once, with exit 2:
// it is thrown, not recorded as a stream that could not be read.
function reasonOf(error: unknown): string {
  if (error instanceof UsageError) throw error;
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

/**
 * Reads every subject's newest release and kernel (one index per stream, kernels in
 * parallel), decides the verdicts, then looks up a fallback for each unsupported row.
 * A remote failure becomes the row's `error` / `fallbackNote`; only a bad setting throws.
 */
export async function collectForecast(
  matrix: Matrix,
  sources: ForecastSources = defaultSources(),
  options: { maxWalk?: number } = {},
): Promise<ForecastRow[]> {
  const subjects = forecastSubjects(matrix);
  const indexes = new Map<string, Promise<FcosRelease[]>>();
  const indexOf = (stream: string) => {
    if (!indexes.has(stream)) indexes.set(stream, sources.releaseIndex(stream));
    return indexes.get(stream)!;
  };
  const observations = await Promise.all(
    subjects.map(async (subject): Promise<StreamObservation> => {
      let releases: FcosRelease[];
      try {
        releases = await indexOf(subject.stream);
      } catch (error) {
        return { ...subject, error: reasonOf(error) };
      }
      const newest = newestRelease(releases, subject.arch);
      if (!newest) return subject;
      const release = {
        version: newest.version,
        image: newest.images.find((image) => image.arch === subject.arch)!.digestRef,
      };
      try {
        const kernelVersion = await sources.buildKernel(
          subject.stream,
          newest.version,
          subject.arch,
        );
        return { ...subject, release, kernelVersion };
      } catch (error) {
        return { ...subject, release, error: reasonOf(error) };
      }
    }),
  );
  const rows = forecastRows(matrix, observations);
  const maxWalk = options.maxWalk ?? FALLBACK_MAX_WALK;
  // What to pin is advice for a stream a target builds: a stream only ahead of one (testing,
  // next) gets none, since no kmods tag is ever built for its releases.
  await Promise.all(
    unsupportedRows(rows).filter((row) => row.target && row.release).map(async (row) => {
      try {
        const result = await sources.lastCompatible({
          matrix,
          stream: row.stream,
          arch: row.arch,
          series: row.series,
          maxWalk,
          releases: await indexOf(row.stream),
          before: row.release!,
        });
        row.fallback = result.fallback ?? null;
        if (!result.fallback) {
          row.fallbackNote = result.capped
            ? `none of the newest ${result.walked} releases of ${row.stream} has a supported kernel`
            : `no release of ${row.stream} has a kernel a pinned release supports`;
        }
      } catch (error) {
        row.fallbackNote = `the look-up failed: ${reasonOf(error)}`;
        row.fallbackFailed = true;
      }
    }),
  );
  return rows;
}

/** Whether everything was read: no unknown row and no failed fallback look-up. */
export function forecastComplete(rows: ForecastRow[]): boolean {
  return rows.every((row) => row.verdict !== "unknown" && !row.fallbackFailed);
}
