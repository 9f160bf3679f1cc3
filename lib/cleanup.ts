// Where a cleanup plan is made: a pure function from the package's versions, the digests
// their manifests reference, the policy and the clock to a keep/delete decision for every
// version, plus its text forms (terminal, Markdown, JSON).
import { escapeMarkdown, markdownTable, sanitizeTerminal, textTable, wholeNumber } from "./cli.ts";
import { CheckError } from "./errors.ts";
import { IMAGE_TAG } from "./patterns.ts";
import { timeText } from "./render.ts";

/** One version of a container package, as listed by GitHub Packages. */
export interface PackageVersion {
  id: number;
  /** The manifest digest, `sha256:…`. */
  name: string;
  /** ISO 8601 timestamp. */
  createdAt: string;
  tags: string[];
}

export interface CleanupPolicy {
  /** Versions created within this many days before `now` are kept. */
  retentionDays: number;
  /** How many of the newest `zfs-*_kernel-*` tags are kept whatever their age. */
  minVersions: number;
}

export type CleanupReason =
  | `newest-${number}`
  | "attestation of kept image"
  | `referenced by ${string}`
  | "inside retention"
  | "expired";

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
}

const DAY_MS = 86_400_000;
/** The longest retention accepted: 100 years keeps every cutoff a real date. */
export const MAX_RETENTION_DAYS = 36_500;
/** The most newest tags that can be asked to be kept. */
export const MAX_MIN_VERSIONS = 1_000_000;

/** Validates the retention-days argument: a whole number from 0 to MAX_RETENTION_DAYS. */
export function retentionDaysOf(value: string): number {
  return wholeNumber("retention days", 0, MAX_RETENTION_DAYS)(value);
}

/** Validates the min-versions argument: a whole number from 1 to MAX_MIN_VERSIONS. */
export function minVersionsOf(value: string): number {
  return wholeNumber("min-versions", 1, MAX_MIN_VERSIONS)(value);
}

/** `sha256-<hex>`, `sha256-<hex>.sig`, `sha256-<hex>.att`, …: the digest it belongs to. */
export function referencedDigest(tag: string): string | undefined {
  const match = /^sha256-([0-9a-f]{64})(?:\.[A-Za-z0-9_.-]+)?$/.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

function createdMs(version: PackageVersion): number {
  const ms = Date.parse(version.createdAt);
  // The client validates dates; refusing here keeps the planner safe on its own.
  if (Number.isNaN(ms)) {
    throw new CheckError(
      `Version ${version.id} has an unreadable created_at: ${version.createdAt}`,
    );
  }
  return ms;
}

/** How a version is named in a reason: its versioned tag, else its first tag, else its digest. */
export function versionLabel(version: PackageVersion): string {
  const tags = version.tags.toSorted();
  return tags.find((t) => IMAGE_TAG.test(t)) ?? tags[0] ?? version.name;
}

/**
 * Decides, for every version, whether it is kept or deleted under the cleanup rules:
 * delete only what was created before now − retention days, carries none of the
 * `minVersions` newest `zfs-*_kernel-*` tags, is no `sha256-<digest>` attestation or
 * signature of a kept version, and is not listed (directly or transitively) by the
 * manifest of a kept version (`references`). Throws CheckError (delete nothing) when the
 * package has fewer versioned tags than `minVersions`.
 */
export function planCleanup(
  versions: readonly PackageVersion[],
  policy: CleanupPolicy,
  now: Date,
  references: References = new Map(),
): CleanupPlan {
  const { retentionDays, minVersions } = policy;
  if (
    !Number.isInteger(retentionDays) || retentionDays < 0 || retentionDays > MAX_RETENTION_DAYS
  ) {
    throw new CheckError(
      `Retention days must be a whole number from 0 to ${MAX_RETENTION_DAYS}, not ${retentionDays}`,
    );
  }
  if (!Number.isInteger(minVersions) || minVersions < 1) {
    throw new CheckError(`Min-versions must be a whole number >= 1, not ${minVersions}`);
  }
  const cutoffMs = now.getTime() - retentionDays * DAY_MS;
  if (Number.isNaN(new Date(cutoffMs).getTime())) {
    throw new CheckError(`The cutoff ${retentionDays} days before ${now.toISOString()} is no date`);
  }

  const seenIds = new Set<number>();
  const entries = versions.map((v) => {
    if (seenIds.has(v.id)) throw new CheckError(`Version ${v.id} is listed twice`);
    seenIds.add(v.id);
    return { version: v, ms: createdMs(v) };
  });
  // Newest first; ids are unique, so the order does not depend on the input order.
  entries.sort((a, b) => b.ms - a.ms || b.version.id - a.version.id);

  // The newest versioned tags, in the same order (tags of one version by name).
  const versionedTags: string[] = [];
  const seenTags = new Set<string>();
  for (const { version } of entries) {
    for (const tag of version.tags.filter((t) => IMAGE_TAG.test(t)).sort()) {
      if (!seenTags.has(tag)) {
        seenTags.add(tag);
        versionedTags.push(tag);
      }
    }
  }
  if (versionedTags.length < minVersions) {
    throw new CheckError(
      `Refusing to clean up: the package has ${versionedTags.length} versioned ` +
        `(zfs-*_kernel-*) tags, fewer than the ${minVersions} to keep; nothing was deleted`,
    );
  }
  const newest = new Set(versionedTags.slice(0, minVersions));

  const reasons = new Map<number, CleanupReason>();
  const kept: PackageVersion[] = [];
  for (const { version, ms } of entries) {
    if (version.tags.some((t) => newest.has(t))) {
      reasons.set(version.id, `newest-${minVersions}`);
      kept.push(version);
    } else if (ms >= cutoffMs) {
      reasons.set(version.id, "inside retention");
      kept.push(version);
    }
  }

  // Versions by digest, and the versions whose sha256-<digest> tags point at a digest.
  const byDigest = new Map<string, PackageVersion[]>();
  const referrers = new Map<string, PackageVersion[]>();
  const append = (map: Map<string, PackageVersion[]>, key: string, version: PackageVersion) => {
    const list = map.get(key);
    if (list) list.push(version);
    else map.set(key, [version]);
  };
  for (const { version } of entries) {
    append(byDigest, version.name, version);
    for (const tag of version.tags) {
      const digest = referencedDigest(tag);
      if (digest) append(referrers, digest, version);
    }
  }
  // Whatever a kept version points at, or is pointed at by as its attestation, is kept:
  // a worklist over the kept versions, growing until nothing new is reached.
  const keep = (version: PackageVersion, reason: CleanupReason) => {
    if (reasons.has(version.id)) return;
    reasons.set(version.id, reason);
    kept.push(version);
  };
  for (let i = 0; i < kept.length; i++) {
    const parent = kept[i]!;
    for (const referrer of referrers.get(parent.name) ?? []) {
      keep(referrer, "attestation of kept image");
    }
    for (const digest of references.get(parent.name) ?? []) {
      for (const child of byDigest.get(digest) ?? []) {
        keep(child, `referenced by ${versionLabel(parent)}`);
      }
    }
  }

  const planned: PlannedVersion[] = entries.map(({ version }) => {
    const reason = reasons.get(version.id) ?? "expired";
    return { ...version, action: reason === "expired" ? "delete" : "keep", reason };
  });
  const deleteCount = planned.filter((v) => v.action === "delete").length;
  return {
    now: now.toISOString(),
    cutoff: new Date(cutoffMs).toISOString(),
    policy: { retentionDays, minVersions },
    versionedTags: versionedTags.length,
    versions: planned,
    keepCount: planned.length - deleteCount,
    deleteCount,
  };
}

/** The versions a plan deletes, newest first. */
export function toDelete(plan: CleanupPlan): PlannedVersion[] {
  return plan.versions.filter((v) => v.action === "delete");
}

// ---------------------------------------------------------------------------------------
// Text forms. Tags and messages come from the API: the terminal gets them sanitised, the
// step summary escaped (textTable and markdownTable do both), JSON gets them as they are.

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
    /sha256([:-])([0-9a-f]{4})[0-9a-f]{56}([0-9a-f]{4})/g,
    (_, sep: string, head: string, tail: string) => `sha256${sep}${head}…${tail}`,
  );
}

/** A version's tags for people: comma-separated, or `<untagged>`. */
export function tagsText(v: PackageVersion): string {
  return v.tags.length ? v.tags.join(", ") : "<untagged>";
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

const HEADER = ["id", "digest", "tags", "created", "reason"];

/** The counts of a plan (and of its run, when given) in one line. */
export function planCounts(plan: CleanupPlan, result?: CleanupResult): string {
  const retained = result ? `, retained by GitHub ${result.retained.length}` : "";
  const failed = result?.failed.length ? `, failed ${result.failed.length}` : "";
  const deleted = result ? `, deleted ${result.deleted.length}` : "";
  return `${plan.versions.length} versions: keep ${plan.keepCount}, ` +
    `delete ${plan.deleteCount}${deleted}${retained}${failed} ` +
    `(retention ${plan.policy.retentionDays} days, cutoff ${timeText(plan.cutoff)}, ` +
    `keep newest ${plan.policy.minVersions} of ${plan.versionedTags} versioned tags)`;
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
  } else {
    lines.push("nothing");
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
  if (plan.keepCount === 0) lines.push("nothing");
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

/** The plan as Markdown for $GITHUB_STEP_SUMMARY: counts, deletions, retained, failures. */
export function planMarkdown(plan: CleanupPlan, result?: CleanupResult, limit = 500): string {
  const doomed = toDelete(plan);
  let text = `### Cleanup\n\n${escapeMarkdown(planCounts(plan, result))}\n\n`;
  if (doomed.length) {
    text += `#### Delete (${doomed.length})\n\n`;
    text += markdownTable(HEADER, doomed.slice(0, limit).map((v) => rowOf(v)));
    if (doomed.length > limit) text += `\n… and ${doomed.length - limit} more\n`;
  }
  if (result?.retained.length) {
    text += `\n#### Retained by GitHub (${result.retained.length})\n\n`;
    text += markdownTable(HEADER, retainedRows(plan, result.retained, limit));
  }
  if (result?.failed.length) {
    text += `\n#### Failed (${result.failed.length})\n\n`;
    text += markdownTable(
      ["id", "error"],
      result.failed.slice(0, limit).map((f) => [String(f.id), f.message]),
    );
  }
  return text;
}

/** The plan (and its run) as one JSON value with the kebab-case keys of every task. */
export function planJson(
  plan: CleanupPlan,
  extra: { dryRun: boolean; endpoint: Record<string, string>; result?: CleanupResult },
): Record<string, unknown> {
  const result = extra.result ?? { deleted: [], retained: [], failed: [] };
  return {
    "dry-run": extra.dryRun,
    endpoint: extra.endpoint,
    now: plan.now,
    cutoff: plan.cutoff,
    "retention-days": plan.policy.retentionDays,
    "min-versions": plan.policy.minVersions,
    "versioned-tags": plan.versionedTags,
    "keep-count": plan.keepCount,
    "delete-count": plan.deleteCount,
    "deleted-count": result.deleted.length,
    "retained-count": result.retained.length,
    "failed-count": result.failed.length,
    versions: plan.versions.map((v) => ({
      id: v.id,
      name: v.name,
      "created-at": v.createdAt,
      tags: v.tags,
      action: v.action,
      reason: v.reason,
    })),
    deleted: result.deleted,
    retained: result.retained,
    failed: result.failed,
  };
}
