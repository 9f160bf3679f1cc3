// A cleanup plan of N versions made and printed in every form (terminal with every row,
// Markdown, JSON) in a process of its own, so its peak RSS can be reported.
// deno run -A bench/cleanup_scale.ts <versions>   (run by bench/cleanup_bench.ts)
import {
  formatPlan,
  type PackageVersion,
  planCleanup,
  planJson,
  planMarkdown,
} from "../lib/cleanup/cleanup.ts";

const DAY_MS = 86_400_000;
const hex = (n: number) => n.toString(16).padStart(64, "0");

/**
 * A package history like the real one: a multi-arch index with a versioned tag whose two
 * platform manifests are untagged versions, and its attestation, 100 versions a day; every
 * 40th version is an `fcos-<release>` alias listing the two tagged indexes before it.
 */
export function bigHistory(
  count: number,
  now: Date,
): { versions: PackageVersion[]; references: Map<string, string[]> } {
  const versions: PackageVersion[] = new Array(count);
  const references = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const id = 100_000 + i;
    const tags = i % 40 === 39
      ? [`fcos-42.${20_250_000 + i}.3.0`]
      : i % 4 === 0
      ? [`zfs-2.4.${i % 9}_kernel-6.${i % 20}.${i}-200.fc42.x86_64`]
      : i % 4 === 1
      ? [`sha256-${hex(id - 1)}`]
      : [];
    if (i % 40 === 39) {
      references.set(`sha256:${hex(id)}`, [hex(id - 3), hex(id - 7)].map((h) => `sha256:${h}`));
    } else if (i % 4 === 0) {
      references.set(
        `sha256:${hex(id)}`,
        [hex(id + 2), hex(id + 3)].map((h) => `sha256:${h}`),
      );
    }
    const createdAt = new Date(now.getTime() - Math.floor(i / 100) * DAY_MS).toISOString();
    versions[i] = { id, name: `sha256:${hex(id)}`, createdAt, tags };
  }
  return { versions, references };
}

/** Peak resident memory of this process in MiB (VmHWM). */
function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? 10_000);
  const now = new Date("2025-06-01T00:00:00Z");
  const started = performance.now();
  const { versions, references } = bigHistory(count, now);
  const plan = planCleanup(versions, { retentionDays: 90, minVersions: 3 }, now, references);
  const text = formatPlan(plan, { verbose: true });
  const markdown = planMarkdown(plan);
  const json = JSON.stringify(planJson(plan, { dryRun: true, endpoint: {} }));
  const ms = performance.now() - started;
  const rss = peakRssMiB();
  console.log(
    `${count} versions: planned and printed (${(text.length / 1e6).toFixed(1)} MB text, ` +
      `${(json.length / 1e6).toFixed(1)} MB JSON, ${markdown.length} B summary) in ` +
      `${ms.toFixed(0)} ms, peak RSS ${rss.toFixed(0)} MiB ` +
      `(${((rss * 1024 * 1024) / count).toFixed(0)} B per version)`,
  );
}
