// Domain lib/cleanup/ — deleting old image versions: the pure plan (this file), the digests a
// kept version references (cleanup_refs.ts), GitHub Packages' versions API (packages.ts).
// May import: lib/core/, lib/cli/, lib/github/. See docs/architecture.md.
//
// Where a cleanup plan is made: a pure function from the package's versions, the digests
// their manifests reference, the policy and the clock to a keep/delete decision for every
// version, plus its text forms (terminal, Markdown, JSON).
import { escapeMarkdown, markdownTable, textTable, wholeNumber } from "../cli/cli.ts";
import { CheckError, UsageError } from "../core/errors.ts";
import { sanitizeTerminal } from "../core/sanitize.ts";
import { IMAGE_TAG } from "../core/patterns.ts";
import { renderResult, type ResultValue, type TaskResult, timeText } from "../cli/render.ts";

/** One version of a container package, as listed by GitHub Packages. */
export interface PackageVersion {
  id: number;
  /** The manifest digest, `sha256:…` (compared without regard to case). */
  name: string;
  /** RFC 3339 timestamp. */
  createdAt: string;
  tags: string[];
}

export interface CleanupPolicy {
  /** Versions created within this many days before `now` are kept. */
  retentionDays: number;
  /** How many of the newest `zfs-*_kernel-*` tags are kept whatever their age (not with ageOnly). */
  minVersions: number;
  /**
   * The layer-cache mode (`cleanup --cache`): no tags to protect, versions are kept by age
   * alone (and with what they share a digest with, and their attestations and signatures).
   */
  ageOnly?: boolean;
}

/** Why a version is kept or deleted: one prose phrase each (docs/cleanup.md). */
export type CleanupReason =
  | `newest ${number} versioned tags`
  | "inside retention"
  | "attestation of kept image"
  | "signature of kept image"
  | `referenced by ${string}`
  | `listed by ${string}`
  | "alias of kept image"
  | `same digest as version ${number}`
  | `fewer than ${number} versioned tags`
  | "expired"
  | "alias of deleted images";

/** The reasons a version is deleted for. */
export const DELETE_REASONS: readonly CleanupReason[] = ["expired", "alias of deleted images"];

export interface PlannedVersion extends PackageVersion {
  action: "keep" | "delete";
  reason: CleanupReason;
}

/**
 * What the manifest of a version lists, by the version's digest: the children of an index
 * (platform manifests, attestation manifests) and the `subject` of an artifact manifest.
 */
export type References = ReadonlyMap<string, readonly string[]>;

export interface CleanupPlan {
  now: string;
  /** Versions created before this instant may be deleted. */
  cutoff: string;
  policy: CleanupPolicy;
  /** Distinct `zfs-*_kernel-*` tags in the package. */
  versionedTags: number;
  /** Every version, newest first (created_at, then id, descending). */
  versions: PlannedVersion[];
  keepCount: number;
  deleteCount: number;
  /** Why nothing is deleted although the plan ran (a new package), for people. */
  notice?: string;
}

const DAY_MS = 86_400_000;
/** How far ahead of now a created_at may lie (clock skew) before the listing is refused. */
const MAX_SKEW_MS = DAY_MS;
/** The longest retention accepted: 100 years keeps every cutoff a real date. */
export const MAX_RETENTION_DAYS = 36_500;
/** The most newest tags that can be asked to be kept. */
export const MAX_MIN_VERSIONS = 1_000_000;
/** A min-versions from here on, above the retention days, looks like the two were swapped. */
const SWAPPED_FROM = 30;

/** Validates the retention-days argument: a whole number from 0 to MAX_RETENTION_DAYS. */
export function retentionDaysOf(value: string): number {
  return wholeNumber("retention days", 0, MAX_RETENTION_DAYS)(value);
}

/** Validates the min-versions argument: a whole number from 1 to MAX_MIN_VERSIONS. */
export function minVersionsOf(value: string): number {
  return wholeNumber("min-versions", 1, MAX_MIN_VERSIONS)(value);
}

/**
 * Refuses arguments that look swapped (`cleanup 3 90`: keep 90 tags, but only 3 days): a
 * min-versions of SWAPPED_FROM or more that is larger than the retention days.
 */
export function checkArgumentOrder(retentionDays: number, minVersions: number): void {
  if (minVersions >= SWAPPED_FROM && minVersions > retentionDays) {
    throw new UsageError(
      `The arguments look swapped: the order is <retention-days> <min-versions> ` +
        `(e.g. cleanup ${minVersions} ${retentionDays} keeps ${minVersions} days and the ` +
        `${retentionDays} newest tags); to keep ${minVersions} tags, retain at least ` +
        `${minVersions} days`,
    );
  }
}

/** `fcos-<release>`: an image index that pins a Fedora CoreOS release (an alias). */
const ALIAS_TAG = /^fcos-\d+(?:\.\d+)+$/;

/** A version whose every tag is an `fcos-<release>` alias. */
export function isAlias(version: PackageVersion): boolean {
  return version.tags.length > 0 && version.tags.every((t) => ALIAS_TAG.test(t));
}

/**
 * `sha256-<hex>`, `sha256-<hex>.sig`, `sha256-<hex>.att`, …: the digest it belongs to (lower
 * case, whatever the case of the tag).
 */
export function referencedDigest(tag: string): string | undefined {
  const match = /^sha256-([0-9a-fA-F]{64})(?:\.[A-Za-z0-9_.-]+)?$/.exec(tag);
  return match ? `sha256:${match[1]!.toLowerCase()}` : undefined;
}

/** The key a digest is compared by: ghcr.io names a version by its digest, in any case. */
export function digestKey(digest: string): string {
  return digest.toLowerCase();
}

const RFC3339 =
  /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?(?:[Zz]|[+-](\d\d):(\d\d))$/;

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : MONTH_DAYS[month - 1] ?? 0;
}

/**
 * The instant of an RFC 3339 date-time in ms, or undefined when it is none: a day that does
 * not exist (`2024-02-30`), hour 24, a missing offset — what `Date.parse` would roll over.
 */
export function rfc3339Ms(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(Number(m[1]), month)) {
    return undefined;
  }
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return undefined;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return undefined;
  // Date.parse reads the upper-case T and Z only; RFC 3339 allows both cases
  const ms = Date.parse(/[tz]/.test(text) ? text.toUpperCase() : text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The created_at of a version in ms; refuses (CheckError) one that is no instant or lies ahead. */
function createdMs(version: PackageVersion, nowMs: number): number {
  const ms = rfc3339Ms(version.createdAt);
  if (ms !== undefined && ms <= nowMs + MAX_SKEW_MS) return ms;
  const what = `version ${version.id} (${versionLabel(version)}) has created_at ` +
    JSON.stringify(version.createdAt);
  throw new CheckError(
    ms === undefined
      ? `Refusing to clean up: ${what}, not an RFC 3339 time; nothing was deleted`
      : `Refusing to clean up: ${what}, more than a day ahead of now; nothing was deleted`,
  );
}

/** How a version is named in a reason: its versioned tag, else its first tag, else its digest. */
export function versionLabel(version: PackageVersion): string {
  const tags = version.tags.toSorted();
  return tags.find((t) => IMAGE_TAG.test(t)) ?? tags[0] ?? version.name;
}

function checkPolicy(policy: CleanupPolicy, now: Date): number {
  const { retentionDays, minVersions } = policy;
  if (
    !Number.isInteger(retentionDays) || retentionDays < 0 || retentionDays > MAX_RETENTION_DAYS
  ) {
    throw new CheckError(
      `Retention days must be a whole number from 0 to ${MAX_RETENTION_DAYS}, not ${retentionDays}`,
    );
  }
  if (!policy.ageOnly && (!Number.isInteger(minVersions) || minVersions < 1)) {
    throw new CheckError(`Min-versions must be a whole number >= 1, not ${minVersions}`);
  }
  const cutoffMs = now.getTime() - retentionDays * DAY_MS;
  if (Number.isNaN(new Date(cutoffMs).getTime())) {
    throw new CheckError(`The cutoff ${retentionDays} days before ${now.toISOString()} is no date`);
  }
  return cutoffMs;
}

interface Entry {
  version: PackageVersion;
  ms: number;
  alias: boolean;
}

/** The versions with their checked times, newest first (ids unique, so the order is total). */
function datedEntries(versions: readonly PackageVersion[], now: Date, aliases: boolean): Entry[] {
  const seenIds = new Set<number>();
  const entries = versions.map((version) => {
    if (seenIds.has(version.id)) throw new CheckError(`Version ${version.id} is listed twice`);
    seenIds.add(version.id);
    return { version, ms: createdMs(version, now.getTime()), alias: aliases && isAlias(version) };
  });
  entries.sort((a, b) => b.ms - a.ms || b.version.id - a.version.id);
  return entries;
}

/** The distinct versioned tags, newest first (tags of one version by name). */
function newestTags(entries: readonly Entry[]): string[] {
  const tags: string[] = [];
  const seen = new Set<string>();
  for (const { version } of entries) {
    for (const tag of version.tags.filter((t) => IMAGE_TAG.test(t)).sort()) {
      if (!seen.has(tag)) {
        seen.add(tag);
        tags.push(tag);
      }
    }
  }
  return tags;
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The links the closure follows, every digest by its key. */
interface Links {
  byDigest: Map<string, PackageVersion[]>;
  /** digest → the versions whose `sha256-<digest>[.x]` tags name it, and as what. */
  referrers: Map<string, { version: PackageVersion; reason: CleanupReason }[]>;
  /** digest → what its manifest lists. */
  lists: Map<string, string[]>;
  /** digest → the alias versions whose index lists it. */
  aliasesOf: Map<string, PackageVersion[]>;
  alias: Set<number>;
}

function linksOf(entries: readonly Entry[], references: References): Links {
  const links: Links = {
    byDigest: new Map(),
    referrers: new Map(),
    lists: new Map(),
    aliasesOf: new Map(),
    alias: new Set(),
  };
  for (const [digest, children] of references) {
    const key = digestKey(digest);
    links.lists.set(key, [...(links.lists.get(key) ?? []), ...children.map(digestKey)]);
  }
  for (const { version, alias } of entries) {
    const key = digestKey(version.name);
    append(links.byDigest, key, version);
    for (const tag of version.tags) {
      const digest = referencedDigest(tag);
      const reason = tag.endsWith(".sig") ? "signature of kept image" : "attestation of kept image";
      if (digest) append(links.referrers, digest, { version, reason });
    }
    if (alias) {
      links.alias.add(version.id);
      for (const child of new Set(links.lists.get(key))) append(links.aliasesOf, child, version);
    }
  }
  return links;
}

/**
 * Grows the kept set until nothing new is reached: every version with a kept digest, the
 * attestations and signatures of kept versions, what a kept manifest lists, and the aliases
 * that list a kept version (whose other listed images are then kept too).
 */
function closeOver(kept: PackageVersion[], reasons: Map<number, CleanupReason>, links: Links) {
  const keep = (version: PackageVersion, reason: CleanupReason) => {
    if (reasons.has(version.id)) return;
    reasons.set(version.id, reason);
    kept.push(version);
  };
  for (let i = 0; i < kept.length; i++) {
    const parent = kept[i]!;
    const key = digestKey(parent.name);
    for (const twin of links.byDigest.get(key) ?? []) {
      keep(twin, `same digest as version ${parent.id}`);
    }
    for (const { version, reason } of links.referrers.get(key) ?? []) keep(version, reason);
    const label = versionLabel(parent);
    const how = links.alias.has(parent.id) ? `listed by ${label}` : `referenced by ${label}`;
    for (const digest of links.lists.get(key) ?? []) {
      for (const child of links.byDigest.get(digest) ?? []) keep(child, how as CleanupReason);
    }
    for (const alias of links.aliasesOf.get(key) ?? []) keep(alias, "alias of kept image");
  }
}

/**
 * Decides, for every version, whether it is kept or deleted under the cleanup rules:
 * delete only what was created before now − retention days, carries none of the
 * `minVersions` newest `zfs-*_kernel-*` tags, is no `sha256-<digest>` attestation or
 * signature of a kept version, shares no digest with a kept version and is not listed
 * (directly or transitively) by the manifest of a kept version (`references`).
 * `fcos-<release>` aliases are kept exactly while an image they list is kept. A package
 * with fewer versioned tags than `minVersions` keeps everything (`notice` says why). Throws
 * CheckError (delete nothing) for a created_at that is no RFC 3339 time or lies ahead.
 */
export function planCleanup(
  versions: readonly PackageVersion[],
  policy: CleanupPolicy,
  now: Date,
  references: References = new Map(),
): CleanupPlan {
  const cutoffMs = checkPolicy(policy, now);
  const ageOnly = Boolean(policy.ageOnly);
  const { retentionDays, minVersions } = policy;
  const entries = datedEntries(versions, now, !ageOnly);
  const versionedTags = ageOnly ? [] : newestTags(entries);
  const reasons = new Map<number, CleanupReason>();
  let notice: string | undefined;
  if (!ageOnly && versionedTags.length < minVersions) {
    notice = `The package has ${versionedTags.length} versioned (zfs-*_kernel-*) ` +
      `tag${versionedTags.length === 1 ? "" : "s"}, fewer than the ${minVersions} to keep ` +
      `(cleanup <retention-days> <min-versions>): nothing is deleted until it has ${minVersions}`;
    for (const { version } of entries) {
      reasons.set(version.id, `fewer than ${minVersions} versioned tags`);
    }
  } else {
    const newest = new Set(versionedTags.slice(0, minVersions));
    const kept: PackageVersion[] = [];
    for (const { version, ms, alias } of entries) {
      if (alias) continue; // an alias never keeps itself: only what it lists does
      if (version.tags.some((t) => newest.has(t))) {
        reasons.set(version.id, `newest ${minVersions} versioned tags`);
        kept.push(version);
      } else if (ms >= cutoffMs) {
        reasons.set(version.id, "inside retention");
        kept.push(version);
      }
    }
    closeOver(kept, reasons, linksOf(entries, references));
  }
  const planned: PlannedVersion[] = entries.map(({ version, alias }) => {
    const reason = reasons.get(version.id) ?? (alias ? "alias of deleted images" : "expired");
    return { ...version, action: reasons.has(version.id) ? "keep" : "delete", reason };
  });
  const deleteCount = planned.filter((v) => v.action === "delete").length;
  return {
    now: now.toISOString(),
    cutoff: new Date(cutoffMs).toISOString(),
    policy: ageOnly ? { retentionDays, minVersions: 0, ageOnly } : { retentionDays, minVersions },
    versionedTags: versionedTags.length,
    versions: planned,
    keepCount: planned.length - deleteCount,
    deleteCount,
    ...(notice ? { notice } : {}),
  };
}

/** The versions a plan deletes, newest first. */
export function toDelete(plan: CleanupPlan): PlannedVersion[] {
  return plan.versions.filter((v) => v.action === "delete");
}

// ---------------------------------------------------------------------------------------
// Text forms. Tags and messages come from the API: the terminal gets them sanitised, the
// step summary escaped (textTable and markdownTable do both), JSON gets them as they are.
// --json, $GITHUB_OUTPUT and the step summary are one TaskResult rendered by lib/cli/render.ts.

/** What the deletions did, once they ran. */
export interface CleanupResult {
  deleted: number[];
  /** Versions GitHub refused to delete because they have over 5,000 downloads. */
  retained: number[];
  failed: DeleteFailure[];
}

/** A version that could not be deleted, and why. */
export interface DeleteFailure {
  id: number;
  status?: number;
  message: string;
}

/** The note shown for a version GitHub refuses to delete for its downloads. */
export const RETAINED_NOTE = "retained by GitHub (over 5,000 downloads)";

/** `sha256:<64 hex>` and `sha256-<64 hex>` shortened to `sha256:0f3a…91c2` for people. */
export function shortDigests(text: string): string {
  return text.replace(
    /sha256([:-])([0-9a-fA-F]{4})[0-9a-fA-F]{56}([0-9a-fA-F]{4})/g,
    (_, sep: string, head: string, tail: string) => `sha256${sep}${head}…${tail}`,
  );
}

/** A version's tags for people: comma-separated, or `-` (docs/vocabulary.md). */
export function tagsText(v: PackageVersion): string {
  return v.tags.length ? v.tags.join(", ") : "-";
}

function rowOf(v: PlannedVersion, note?: string): string[] {
  return [
    String(v.id),
    shortDigests(v.name),
    shortDigests(tagsText(v)),
    timeText(v.createdAt),
    shortDigests(note ?? v.reason),
  ];
}

/** The column headers of every cleanup table (docs/vocabulary.md). */
const HEADER = ["id", "digest", "tags", "created", "reason"];

/** The counts of a plan (and of its run, when given) in one line. */
export function planCounts(plan: CleanupPlan, result?: CleanupResult): string {
  const retained = result ? `, retained by GitHub ${result.retained.length}` : "";
  const failed = result?.failed.length ? `, failed ${result.failed.length}` : "";
  const deleted = result ? `, deleted ${result.deleted.length}` : "";
  const keep = plan.policy.ageOnly
    ? "age only"
    : `keep newest ${plan.policy.minVersions} of ${plan.versionedTags} versioned tags`;
  return `${plan.versions.length} versions: keep ${plan.keepCount}, ` +
    `delete ${plan.deleteCount}${deleted}${retained}${failed} ` +
    `(retention ${plan.policy.retentionDays} days, cutoff ${timeText(plan.cutoff)}, ${keep})`;
}

/** Kept versions to list one by one and, unless verbose, untagged ones counted by reason. */
function keptRows(plan: CleanupPlan, verbose: boolean) {
  const listed: PlannedVersion[] = [];
  const collapsed = new Map<string, number>();
  for (const v of plan.versions) {
    if (v.action !== "keep") continue;
    if (verbose || v.tags.length > 0) listed.push(v);
    else collapsed.set(v.reason, (collapsed.get(v.reason) ?? 0) + 1);
  }
  return { listed, collapsed };
}

export interface FormatOptions {
  /** List every kept untagged version instead of a count per reason. */
  verbose?: boolean;
  /** Colour the delete rows (a terminal without NO_COLOR). */
  colour?: boolean;
}

const RED = "\x1b[31m";
const RESET = "\x1b[0m";

/**
 * The plan for people: the counts first, then the versions to delete, then the kept ones
 * (untagged kept versions collapsed into a count per reason unless `verbose`).
 */
export function formatPlan(plan: CleanupPlan, options: FormatOptions = {}): string {
  const lines = [planCounts(plan)];
  const doomed = toDelete(plan);
  lines.push("", `Delete (${doomed.length}):`);
  if (doomed.length) {
    const table = textTable(HEADER, doomed.map((v) => rowOf(v))).split("\n");
    for (let i = 0; i < table.length; i++) {
      // the header line stays plain; every delete row stands out
      lines.push(options.colour && i > 0 ? `${RED}${table[i]}${RESET}` : table[i]!);
    }
  }
  const { listed, collapsed } = keptRows(plan, Boolean(options.verbose));
  lines.push("", `Keep (${plan.keepCount}):`);
  if (listed.length) lines.push(textTable(HEADER, listed.map((v) => rowOf(v))));
  for (const [reason, count] of collapsed) {
    lines.push(
      sanitizeTerminal(
        `+ ${count} untagged version${count === 1 ? "" : "s"}: ${shortDigests(reason)}`,
      ),
    );
  }
  return lines.join("\n");
}

/** The rows of the versions GitHub retained (at most `limit`), noted as such. */
function retainedRows(plan: CleanupPlan, retained: readonly number[], limit?: number): string[][] {
  const byId = new Map(plan.versions.map((v) => [v.id, v]));
  return retained.slice(0, limit).map((id) => byId.get(id))
    .filter((v) => v !== undefined).map((v) => rowOf(v, RETAINED_NOTE));
}

/** What the run did, for people: the retained and failed versions, then the counts. */
export function formatResult(plan: CleanupPlan, result: CleanupResult): string {
  const lines: string[] = [];
  const retained = retainedRows(plan, result.retained);
  if (retained.length) {
    lines.push(
      `Retained by GitHub (${retained.length}):`,
      textTable(HEADER, retained),
      "",
    );
  }
  if (result.failed.length) {
    lines.push(
      `Failed (${result.failed.length}):`,
      textTable(["id", "error"], result.failed.map((f) => [String(f.id), f.message])),
      "",
    );
  }
  lines.push(planCounts(plan, result));
  return lines.join("\n");
}

/** The names cleanup writes to $GITHUB_OUTPUT (also keys of its --json document). */
export const CLEANUP_OUTPUTS = [
  "delete-versions",
  "delete-count",
  "keep-count",
  "deleted-versions",
  "deleted-count",
  "retained-versions",
  "retained-count",
  "failed-count",
] as const;

/** How a plan and its run are shown: dry run or not, where, and what the run did. */
export interface CleanupShow {
  dryRun: boolean;
  endpoint: Record<string, string>;
  result?: CleanupResult;
  /** The most rows of a step-summary table (default 500). */
  limit?: number;
}

/**
 * The plan and its run as one result for lib/cli/render.ts: the values (the $GITHUB_OUTPUT names,
 * also keys of the --json document), the whole --json document and the step summary. The
 * terminal text is formatPlan/formatResult, printed by the task (it keeps its colours).
 */
export function cleanupTaskResult(plan: CleanupPlan, show: CleanupShow): TaskResult {
  const result = show.result ?? { deleted: [], retained: [], failed: [] };
  const limit = show.limit ?? 500;
  const doomed = toDelete(plan);
  const values = {
    "delete-versions": doomed.map((v) => v.id),
    "delete-count": plan.deleteCount,
    "keep-count": plan.keepCount,
    "deleted-versions": result.deleted,
    "deleted-count": result.deleted.length,
    "retained-versions": result.retained,
    "retained-count": result.retained.length,
    "failed-count": result.failed.length,
  } satisfies Record<(typeof CLEANUP_OUTPUTS)[number], ResultValue>;
  const json = {
    "dry-run": show.dryRun,
    endpoint: show.endpoint,
    now: plan.now,
    cutoff: plan.cutoff,
    "retention-days": plan.policy.retentionDays,
    "min-versions": plan.policy.minVersions,
    "age-only": Boolean(plan.policy.ageOnly),
    "versioned-tags": plan.versionedTags,
    notice: plan.notice ?? null,
    ...values,
    versions: plan.versions.map((v) => ({
      id: v.id,
      name: v.name,
      "created-at": v.createdAt,
      tags: v.tags,
      action: v.action,
      reason: v.reason,
    })),
    failed: result.failed,
  };
  const ran = show.result && !show.dryRun ? show.result : undefined;
  let note = doomed.length > limit ? `\n… and ${doomed.length - limit} more\n` : "";
  if (ran?.retained.length) {
    note += `\n#### Retained by GitHub (${ran.retained.length})\n\n` +
      markdownTable(HEADER, retainedRows(plan, ran.retained, limit));
  }
  if (ran?.failed.length) {
    note += `\n#### Failed (${ran.failed.length})\n\n` + markdownTable(
      ["id", "error"],
      ran.failed.slice(0, limit).map((f) => [String(f.id), f.message]),
    );
  }
  if (show.dryRun) note += "\nDry run: nothing deleted.\n";
  const notice = plan.notice ? `\n\n${escapeMarkdown(plan.notice)}` : "";
  return {
    values,
    json,
    outputs: CLEANUP_OUTPUTS,
    lines: [], // the terminal text is the task's (formatPlan keeps the delete rows red)
    summaryTitle: `### Cleanup\n\n${escapeMarkdown(planCounts(plan, ran))}${notice}\n\n` +
      `#### Delete (${doomed.length})`,
    summaryTable: { header: HEADER, rows: doomed.slice(0, limit).map((v) => rowOf(v)) },
    summaryNote: note.trim() ? note.replace(/^\n/, "") : undefined,
  };
}

/** The plan as Markdown for $GITHUB_STEP_SUMMARY: counts, deletions, retained, failures. */
export function planMarkdown(plan: CleanupPlan, result?: CleanupResult, limit = 500): string {
  const show = { dryRun: result === undefined, endpoint: {}, result, limit };
  return renderResult(cleanupTaskResult(plan, show), { githubOutput: true }).stepSummary ?? "";
}

/** The plan (and its run) as its --json document, with the kebab-case keys of every task. */
export function planJson(plan: CleanupPlan, show: CleanupShow): Record<string, unknown> {
  return cleanupTaskResult(plan, show).json as Record<string, unknown>;
}
