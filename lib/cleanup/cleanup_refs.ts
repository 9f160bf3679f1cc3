// Where the digests kept versions reference are found: the manifest of every kept version
// and of every `fcos-<release>` alias is read from the registry (an index lists its platform
// and attestation manifests, an artifact manifest names its subject) and the plan is made
// again until it keeps nothing new. ghcr.io has no referrers API, so this is the only way to
// see those links.
import {
  type CleanupPlan,
  type CleanupPolicy,
  digestKey,
  isAlias,
  type PackageVersion,
  planCleanup,
  type PlannedVersion,
  versionLabel,
} from "./cleanup.ts";
import { CheckError } from "../core/errors.ts";
import { DIGEST } from "../core/patterns.ts";

/** The parts of a manifest that point at other manifests. */
export interface ManifestLinks {
  manifests?: readonly { digest: string }[];
  subject?: { digest: string };
}

/** Reads the manifest stored under a digest (verified against it) from the package's repository. */
export type ReadManifest = (digest: string) => Promise<ManifestLinks>;

/** Manifest reads in flight at once. */
export const READ_CONCURRENCY = 8;

/** The manifest digests a manifest lists: an index's entries and an artifact's subject. */
export function listedDigests(manifest: ManifestLinks): string[] {
  const digests: string[] = [];
  for (const entry of manifest.manifests ?? []) digests.push(entry.digest);
  if (manifest.subject) digests.push(manifest.subject.digest);
  // A malformed digest names no version (version names are checked digests): drop it.
  return digests.filter((d) => typeof d === "string" && DIGEST.test(d.toLowerCase()))
    .map(digestKey);
}

/**
 * Plans the cleanup with what kept versions reference: reads the manifest of every kept
 * version and of every alias (an alias is kept by what it lists; READ_CONCURRENCY at a time,
 * each digest once, in lower case), plans again with those links, and repeats until no new
 * version is kept. A manifest that cannot be read throws CheckError: a plan without it could
 * delete something a kept image needs.
 */
export async function planWithReferences(
  versions: readonly PackageVersion[],
  policy: CleanupPolicy,
  now: Date,
  read: ReadManifest,
  options: { concurrency?: number } = {},
): Promise<{ plan: CleanupPlan; references: Map<string, string[]>; reads: number }> {
  const concurrency = Math.max(1, options.concurrency ?? READ_CONCURRENCY);
  const references = new Map<string, string[]>();
  let reads = 0;
  for (;;) {
    const plan = planCleanup(versions, policy, now, references);
    // A plan that keeps everything for its notice (a new package) needs no links.
    if (plan.notice) return { plan, references, reads };
    const pending: PlannedVersion[] = [];
    const queued = new Set<string>();
    for (const v of plan.versions) {
      const key = digestKey(v.name);
      const wanted = v.action === "keep" || (!policy.ageOnly && isAlias(v));
      if (wanted && !references.has(key) && !queued.has(key)) {
        queued.add(key);
        pending.push(v);
      }
    }
    if (pending.length === 0) return { plan, references, reads };
    let next = 0;
    let stopped = false; // after a failure, start no more reads
    const worker = async () => {
      while (next < pending.length && !stopped) {
        const version = pending[next++]!;
        reads++;
        let manifest: ManifestLinks;
        try {
          manifest = await read(digestKey(version.name));
        } catch (error) {
          stopped = true;
          const detail = error instanceof Error ? error.message : String(error);
          throw new CheckError(
            `Cannot read the manifest of ${
              version.action === "keep" ? "kept " : ""
            }version ${version.id} ` +
              `(${versionLabel(version)}), so nothing was deleted: ${detail}`,
          );
        }
        references.set(digestKey(version.name), listedDigests(manifest));
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(concurrency, pending.length); i++) workers.push(worker());
    await Promise.all(workers);
  }
}
