import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CleanupPlan,
  type CleanupResult,
  formatPlan,
  formatResult,
  minVersionsOf,
  type PackageVersion,
  planCleanup,
  planJson,
  planMarkdown,
  referencedDigest,
  type References,
  retentionDaysOf,
  shortDigests,
  toDelete,
} from "../lib/cleanup.ts";
import { listedDigests, planWithReferences } from "../lib/cleanup_refs.ts";
import { CheckError, UsageError } from "../lib/errors.ts";
import { IMAGE_TAG } from "../lib/patterns.ts";

const DAY_MS = 86_400_000;
const NOW = new Date("2025-06-01T12:00:00.000Z");
const RUNS = 3_000;

const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const versionedTag = (id: number, i: number) =>
  `zfs-2.4.${i}_kernel-6.${id % 20}.${id}-200.fc42.x86_64`;

/**
 * Random package histories: tagged, untagged, several tags per version, attestation and
 * signature tags of other (or missing) versions, and timestamps bunched around the cutoff
 * so equal timestamps and off-by-one-millisecond cases are common.
 */
const history = fc.record({
  retentionDays: fc.integer({ min: 0, max: 4 }),
  minVersions: fc.integer({ min: 1, max: 5 }),
  versions: fc.array(
    fc.record({
      kind: fc.constantFrom("versioned", "untagged", "attestation", "other"),
      tagCount: fc.integer({ min: 1, max: 3 }),
      // days before now, then a small nudge in ms: lands exactly on, just before and
      // just after the cutoff of every retention tried
      days: fc.integer({ min: 0, max: 6 }),
      nudgeMs: fc.constantFrom(-1, 0, 1, -3_600_000, 3_600_000),
      target: fc.nat(),
      suffix: fc.constantFrom("", ".sig", ".att"),
      // what this version's manifest lists: other versions of the history (by position),
      // missing digests, itself (cycles), or nothing (a plain image manifest)
      lists: fc.array(fc.nat(), { maxLength: 3 }),
    }),
    { maxLength: 30 },
  ),
}).map(({ retentionDays, minVersions, versions }) => {
  const list: PackageVersion[] = versions.map((v, i) => {
    const id = 1000 + i * 7;
    let tags: string[] = [];
    if (v.kind === "versioned") {
      tags = Array.from({ length: v.tagCount }, (_, j) => versionedTag(id, j));
    } else if (v.kind === "attestation") {
      // points at another version of this history (or one that is gone: target past the end)
      const target = 1000 + (v.target % (versions.length + 2)) * 7;
      tags = [`sha256-${digestOf(target).slice("sha256:".length)}${v.suffix}`];
    } else if (v.kind === "other") {
      tags = v.tagCount > 1 ? ["latest", versionedTag(id, 0)] : ["latest-x86_64"];
    }
    const createdAt = new Date(NOW.getTime() - v.days * DAY_MS + v.nudgeMs).toISOString();
    return { id, name: digestOf(id), createdAt, tags };
  });
  const references = new Map<string, string[]>();
  versions.forEach((v, i) => {
    const listed = v.lists.map((n) => digestOf(1000 + (n % (versions.length + 2)) * 7));
    if (listed.length) references.set(list[i]!.name, listed);
  });
  return { versions: list, policy: { retentionDays, minVersions }, references };
});

function tryPlan(
  versions: PackageVersion[],
  policy: { retentionDays: number; minVersions: number },
  references: References = new Map(),
) {
  try {
    return planCleanup(versions, policy, NOW, references);
  } catch (error) {
    if (error instanceof CheckError) return undefined; // refused: deletes nothing
    throw error;
  }
}

const versionedTagsOf = (v: PackageVersion) => v.tags.filter((t) => IMAGE_TAG.test(t));

Deno.test("planCleanup() never deletes one of the newest N versioned tags", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      // Independent of tie-breaking: a deleted versioned tag must have at least N kept
      // versioned tags at least as new as it.
      const keptTagTimes = plan.versions.filter((v) => v.action === "keep")
        .flatMap((v) => versionedTagsOf(v).map(() => Date.parse(v.createdAt)));
      for (const deleted of toDelete(plan)) {
        if (versionedTagsOf(deleted).length === 0) continue;
        const t = Date.parse(deleted.createdAt);
        assert.ok(keptTagTimes.filter((k) => k >= t).length >= policy.minVersions);
      }
      // The very newest versioned version is always kept.
      const newest = plan.versions.find((v) => versionedTagsOf(v).length > 0);
      assert.equal(newest?.action, "keep");
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() never deletes an attestation or signature of a kept version", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      const keptDigests = new Set(
        plan.versions.filter((v) => v.action === "keep").map((v) => v.name),
      );
      for (const deleted of toDelete(plan)) {
        for (const tag of deleted.tags) {
          const digest = referencedDigest(tag);
          assert.ok(!digest || !keptDigests.has(digest), `${deleted.id} attests a kept version`);
        }
      }
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() never deletes a version created at or after the cutoff", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      const cutoff = NOW.getTime() - policy.retentionDays * DAY_MS;
      assert.equal(Date.parse(plan.cutoff), cutoff);
      for (const deleted of toDelete(plan)) assert.ok(Date.parse(deleted.createdAt) < cutoff);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() deletes every expired version that nothing protects", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      const cutoff = NOW.getTime() - policy.retentionDays * DAY_MS;
      for (const v of plan.versions) {
        if (v.reason === "inside retention") assert.ok(Date.parse(v.createdAt) >= cutoff);
        assert.equal(v.action === "delete", v.reason === "expired");
      }
      assert.equal(plan.keepCount + plan.deleteCount, versions.length);
      // an untagged version past the cutoff that no kept manifest lists is always deleted
      const listed = new Set(
        plan.versions.filter((v) => v.action === "keep")
          .flatMap((v) => references.get(v.name) ?? []),
      );
      for (const v of plan.versions) {
        if (v.tags.length === 0 && Date.parse(v.createdAt) < cutoff && !listed.has(v.name)) {
          assert.equal(v.action, "delete");
        }
      }
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() is deterministic: the input order does not matter", () => {
  fc.assert(
    fc.property(
      history.chain((h) =>
        fc.shuffledSubarray(h.versions, { minLength: h.versions.length }).map((shuffled) => ({
          ...h,
          shuffled,
        }))
      ),
      ({ versions, shuffled, policy, references }) => {
        const a = tryPlan(versions, policy, references);
        const b = tryPlan(shuffled, policy, references);
        assert.deepEqual(a, b);
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() is idempotent: after its deletions a new plan deletes nothing", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      const gone = new Set(toDelete(plan).map((v) => v.id));
      const again: CleanupPlan | undefined = tryPlan(
        versions.filter((v) => !gone.has(v.id)),
        policy,
        references,
      );
      assert.ok(again, "the second plan refused");
      assert.equal(again.deleteCount, 0);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() refuses when there are fewer versioned tags than min-versions", async (t) => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: old, tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: old, tags: [] },
  ];
  await t.step("one versioned tag, keep 2", () => {
    assert.throws(
      () => planCleanup(versions, { retentionDays: 0, minVersions: 2 }, NOW),
      (e) => e instanceof CheckError && /fewer than the 2 to keep/.test(e.message),
    );
  });
  await t.step("no versioned tag at all, only latest", () => {
    assert.throws(
      () =>
        planCleanup(
          [{ id: 3, name: digestOf(3), createdAt: old, tags: ["latest"] }],
          { retentionDays: 0, minVersions: 1 },
          NOW,
        ),
      CheckError,
    );
  });
  await t.step("exactly enough is allowed", () => {
    const plan = planCleanup(versions, { retentionDays: 0, minVersions: 1 }, NOW);
    assert.deepEqual(plan.versions.map((v) => [v.id, v.action, v.reason]), [
      [2, "delete", "expired"],
      [1, "keep", "newest-1"],
    ]);
  });
});

Deno.test("planCleanup() gives every reason on a small known history", () => {
  const at = (days: number) => new Date(NOW.getTime() - days * DAY_MS).toISOString();
  const hex = (n: number) => digestOf(n).slice("sha256:".length);
  const versions: PackageVersion[] = [
    { id: 10, name: digestOf(10), createdAt: at(200), tags: [versionedTag(10, 0)] },
    { id: 11, name: digestOf(11), createdAt: at(150), tags: [versionedTag(11, 0)] },
    { id: 12, name: digestOf(12), createdAt: at(150), tags: [`sha256-${hex(11)}`] },
    { id: 13, name: digestOf(13), createdAt: at(150), tags: [`sha256-${hex(12)}.sig`] },
    { id: 14, name: digestOf(14), createdAt: at(150), tags: [`sha256-${hex(10)}.att`] },
    { id: 15, name: digestOf(15), createdAt: at(120), tags: [] },
    { id: 16, name: digestOf(16), createdAt: at(10), tags: [] },
    { id: 17, name: digestOf(17), createdAt: at(90), tags: [] }, // exactly at the cutoff
    { id: 18, name: digestOf(18), createdAt: at(100), tags: [versionedTag(18, 0)] },
  ];
  const plan = planCleanup(versions, { retentionDays: 90, minVersions: 2 }, NOW);
  const byId = Object.fromEntries(plan.versions.map((v) => [v.id, v.reason]));
  assert.deepEqual(byId, {
    10: "expired",
    11: "newest-2",
    12: "attestation of kept image",
    13: "attestation of kept image", // signature of a kept attestation
    14: "expired", // attestation of a deleted image
    15: "expired",
    16: "inside retention",
    17: "inside retention",
    18: "newest-2",
  });
  assert.deepEqual(plan.versions.map((v) => v.id), [16, 17, 18, 15, 14, 13, 12, 11, 10]);
  assert.equal(plan.deleteCount, 3);
  assert.equal(plan.keepCount, 6);
});

Deno.test("referencedDigest() reads sha256-<hex> and its .sig/.att forms only", () => {
  const hex = "a".repeat(64);
  assert.equal(referencedDigest(`sha256-${hex}`), `sha256:${hex}`);
  assert.equal(referencedDigest(`sha256-${hex}.sig`), `sha256:${hex}`);
  assert.equal(referencedDigest(`sha256-${hex}.att`), `sha256:${hex}`);
  assert.equal(referencedDigest(`sha256-${hex.slice(1)}`), undefined);
  assert.equal(referencedDigest("latest"), undefined);
});

Deno.test("planCleanup() never deletes a version a kept version's manifest lists, directly or transitively", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan) return;
      const deleted = new Set(toDelete(plan).map((v) => v.name));
      // walk the links from every kept version, through any depth and any cycle
      const reached = new Set(plan.versions.filter((v) => v.action === "keep").map((v) => v.name));
      const queue = [...reached];
      while (queue.length) {
        for (const child of references.get(queue.pop()!) ?? []) {
          assert.ok(!deleted.has(child), `${child} is listed by a kept version but deleted`);
          if (!reached.has(child)) {
            reached.add(child);
            queue.push(child);
          }
        }
      }
      // and a version kept only for a reference says which version listed it
      for (const v of plan.versions) {
        if (v.reason.startsWith("referenced by ")) assert.ok(v.reason.length > 14);
      }
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() with references keeps an index's children and follows nested indexes", () => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const v = (id: number, tags: string[] = []) => ({ id, name: digestOf(id), createdAt: old, tags });
  const versions = [v(1, [versionedTag(1, 0)]), v(2), v(3), v(4), v(5), v(6, ["latest"])];
  // 1 (tagged index) → 2 (nested index) → 3, 4; 5 lists 1 but is not kept itself
  const references = new Map([
    [digestOf(1), [digestOf(2)]],
    [digestOf(2), [digestOf(3), digestOf(4), digestOf(1)]],
    [digestOf(5), [digestOf(1), digestOf(6)]],
  ]);
  const plan = planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW, references);
  assert.deepEqual(Object.fromEntries(plan.versions.map((p) => [p.id, p.reason])), {
    1: "newest-1",
    2: `referenced by ${versionedTag(1, 0)}`,
    3: `referenced by ${digestOf(2)}`,
    4: `referenced by ${digestOf(2)}`,
    5: "expired",
    6: "expired",
  });
});

Deno.test("planWithReferences() reads each kept manifest once and plans again until nothing new is kept", async (t) => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const v = (id: number, tags: string[] = []) => ({ id, name: digestOf(id), createdAt: old, tags });
  const versions = [v(1, [versionedTag(1, 0)]), v(2), v(3), v(4), v(5)];
  const manifests = new Map([
    [digestOf(1), { manifests: [{ digest: digestOf(2) }] }],
    [digestOf(2), { manifests: [{ digest: digestOf(3) }, { digest: "sha256:../../etc" }] }],
    [digestOf(3), { subject: { digest: digestOf(1) } }],
  ]);
  await t.step("three rounds, three reads", async () => {
    const read: string[] = [];
    const { plan, reads } = await planWithReferences(
      versions,
      { retentionDays: 30, minVersions: 1 },
      NOW,
      (digest) => {
        read.push(digest);
        return Promise.resolve(manifests.get(digest) ?? {});
      },
    );
    assert.deepEqual(read, [digestOf(1), digestOf(2), digestOf(3)]);
    assert.equal(reads, 3);
    assert.deepEqual(toDelete(plan).map((p) => p.id), [5, 4]);
  });
  await t.step("a failed read is a CheckError naming the kept version", async () => {
    await assert.rejects(
      planWithReferences(
        versions,
        { retentionDays: 30, minVersions: 1 },
        NOW,
        (digest) =>
          digest === digestOf(2)
            ? Promise.reject(new Error("Not found: http://r/v2/x/manifests/… (HTTP 404)"))
            : Promise.resolve(manifests.get(digest) ?? {}),
      ),
      (e) =>
        e instanceof CheckError &&
        /^Cannot read the manifest of kept version 2 \(sha256:0+2\), so nothing was deleted: Not found/
          .test(e.message),
    );
  });
  await t.step("listedDigests() drops what is no sha256 digest", () => {
    assert.deepEqual(
      listedDigests({
        manifests: [{ digest: digestOf(7) }, { digest: "sha512:abc" }],
        subject: { digest: digestOf(8) },
      }),
      [digestOf(7), digestOf(8)],
    );
  });
});

Deno.test("retention days and min-versions are bounded: no cutoff before any date", async (t) => {
  for (const good of ["0", "90", "36500"]) {
    await t.step(
      `retention ${good} is accepted`,
      () => assert.equal(retentionDaysOf(good), Number(good)),
    );
  }
  for (const bad of ["200000000", "36501", "-1", "1.5", "1e3", "", "9".repeat(400)]) {
    await t.step(`retention ${bad.slice(0, 12)} is a usage error`, () => {
      assert.throws(() => retentionDaysOf(bad), UsageError);
    });
  }
  assert.throws(() => minVersionsOf("0"), UsageError);
  assert.throws(() => minVersionsOf("99999999999999999999999"), UsageError);
  assert.throws(
    () => planCleanup([], { retentionDays: 200_000_000, minVersions: 1 }, NOW),
    CheckError,
  );
});

Deno.test("shortDigests() shortens sha256 digests and sha256- tags for people only", () => {
  const hex = "0f3a" + "5".repeat(56) + "91c2";
  assert.equal(shortDigests(`sha256:${hex}`), "sha256:0f3a…91c2");
  assert.equal(shortDigests(`tag sha256-${hex}.sig`), "tag sha256-0f3a…91c2.sig");
  assert.equal(shortDigests("sha256:0f3a"), "sha256:0f3a");
});

/** `count` versions: a tagged image and its attestation every fourth, the rest untagged. */
function bigHistory(count: number): PackageVersion[] {
  const list: PackageVersion[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const id = 1_000_000 + i;
    const tags = i % 4 === 0
      ? [versionedTag(id, 0)]
      : i % 4 === 1
      ? [`sha256-${digestOf(id - 1).slice(7)}`]
      : [];
    const createdAt = new Date(NOW.getTime() - Math.floor(i / 100) * DAY_MS).toISOString();
    list[i] = { id, name: digestOf(id), createdAt, tags };
  }
  return list;
}

Deno.test("a plan of 160,000 versions is made and printed in every form without a crash", () => {
  const versions = bigHistory(160_000);
  // every untagged version is listed by the tagged one before it: deep link chains
  const references = new Map<string, string[]>();
  for (let i = 0; i < versions.length; i += 4) {
    references.set(
      versions[i]!.name,
      [versions[i + 2]?.name, versions[i + 3]?.name]
        .filter((d) => d !== undefined),
    );
  }
  const plan = planCleanup(versions, { retentionDays: 90, minVersions: 3 }, NOW, references);
  assert.equal(plan.keepCount + plan.deleteCount, 160_000);
  const result: CleanupResult = {
    deleted: toDelete(plan).map((v) => v.id),
    retained: [],
    failed: [],
  };
  const text = formatPlan(plan, { verbose: true, colour: true });
  assert.ok(text.split("\n").length > 160_000);
  // kept only through links: the newest tagged images' untagged children, one line each
  const later = new Date(NOW.getTime() + 1); // the newest versions are just past the cutoff
  const linked = planCleanup(versions, { retentionDays: 0, minVersions: 3 }, later, references);
  assert.equal(linked.keepCount, 3 * 4);
  const collapsed = formatPlan(linked).split("\n").filter((l) => l.startsWith("+ "));
  assert.deepEqual(collapsed, [
    // equal timestamps: the higher id counts as newer
    `+ 2 untagged versions: referenced by ${versionedTag(1_000_096, 0)}`,
    `+ 2 untagged versions: referenced by ${versionedTag(1_000_092, 0)}`,
    `+ 2 untagged versions: referenced by ${versionedTag(1_000_088, 0)}`,
  ]);
  assert.match(formatResult(plan, result), /deleted \d+, retained by GitHub 0/);
  assert.match(planMarkdown(plan, result), /… and \d+ more/);
  assert.equal(JSON.stringify(planJson(plan, { dryRun: true, endpoint: {} })).length > 0, true);
});

Deno.test("cleanup shows times one way (timeText) to people, ISO in --json", () => {
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: "2025-01-02T03:04:05.678Z", tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: "2025-05-30T10:20:30Z", tags: [versionedTag(2, 0)] },
  ];
  const plan = planCleanup(versions, { retentionDays: 30, minVersions: 1 }, NOW);
  const text = `${formatPlan(plan, { verbose: true })}\n${planMarkdown(plan)}`;
  assert.match(text, /2025-01-02 03:04 UTC/);
  assert.match(text, /cutoff 2025-05-02 12:00 UTC/);
  assert.doesNotMatch(text, /\d\d:\d\d:\d\d|\.\d{3}Z/);
  const json = planJson(plan, { dryRun: true, endpoint: {} });
  assert.equal(json.cutoff, "2025-05-02T12:00:00.000Z");
  assert.match(JSON.stringify(json), /"created-at":"2025-01-02T03:04:05\.678Z"/);
});
