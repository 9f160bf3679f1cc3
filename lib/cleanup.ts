// Where a cleanup plan is made: a pure function from the package's versions, the policy
// and the clock to a keep/delete decision for every version, plus its text forms.
import { markdownTable, textTable } from "./cli.ts";
import { CheckError } from "./errors.ts";
import { IMAGE_TAG } from "./patterns.ts";

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
  | "inside retention"
  | "expired";

export interface PlannedVersion extends PackageVersion {
  action: "keep" | "delete";
  reason: CleanupReason;
}

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

/**
 * Decides, for every version, whether it is kept or deleted under the cleanup rules:
 * delete only what was created before now − retention days, carries none of the
 * `minVersions` newest `zfs-*_kernel-*` tags, and is no `sha256-<digest>` attestation or
 * signature of a kept version. Throws CheckError (delete nothing) when the package has
 * fewer versioned tags than `minVersions`.
 */
export function planCleanup(
  versions: readonly PackageVersion[],
  policy: CleanupPolicy,
  now: Date,
): CleanupPlan {
  const { retentionDays, minVersions } = policy;
  if (!Number.isInteger(retentionDays) || retentionDays < 0) {
    throw new CheckError(`Retention days must be a whole number >= 0, not ${retentionDays}`);
  }
  if (!Number.isInteger(minVersions) || minVersions < 1) {
    throw new CheckError(`Min-versions must be a whole number >= 1, not ${minVersions}`);
  }
  const cutoffMs = now.getTime() - retentionDays * DAY_MS;

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

  // Attestations and signatures of kept versions are kept too, and so are theirs.
  const referrers = new Map<string, PackageVersion[]>();
  for (const { version } of entries) {
    for (const tag of version.tags) {
      const digest = referencedDigest(tag);
      if (digest) referrers.set(digest, [...(referrers.get(digest) ?? []), version]);
    }
  }
  for (let i = 0; i < kept.length; i++) {
    for (const referrer of referrers.get(kept[i]!.name) ?? []) {
      if (!reasons.has(referrer.id)) {
        reasons.set(referrer.id, "attestation of kept image");
        kept.push(referrer);
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

function rowOf(v: PlannedVersion): string[] {
  return [
    String(v.id),
    v.tags.length ? v.tags.join(", ") : "<untagged>",
    v.createdAt,
    v.action,
    v.reason,
  ];
}

const HEADER = ["id", "tags", "created", "action", "reason"];

/** A one-line count summary of a plan. */
export function planCounts(plan: CleanupPlan): string {
  return `${plan.versions.length} versions: keep ${plan.keepCount}, delete ${plan.deleteCount} ` +
    `(retention ${plan.policy.retentionDays} days, cutoff ${plan.cutoff}, ` +
    `keep newest ${plan.policy.minVersions} of ${plan.versionedTags} versioned tags)`;
}

/** The plan as a text table of every version, then the counts. */
export function formatPlan(plan: CleanupPlan): string {
  return `${textTable(HEADER, plan.versions.map(rowOf))}\n\n${planCounts(plan)}`;
}

/** The plan as Markdown for $GITHUB_STEP_SUMMARY: counts, then the deleted versions. */
export function planMarkdown(plan: CleanupPlan, limit = 500): string {
  const deleted = toDelete(plan);
  let text = `### Cleanup\n\n${planCounts(plan)}\n\n`;
  if (deleted.length) text += markdownTable(HEADER, deleted.slice(0, limit).map(rowOf));
  if (deleted.length > limit) text += `\n… and ${deleted.length - limit} more\n`;
  return text;
}
