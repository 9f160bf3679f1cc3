import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkArgumentOrder,
  type CleanupPlan,
  type CleanupResult,
  DELETE_REASONS,
  formatPlan,
  formatResult,
  isAlias,
  minVersionsOf,
  type PackageVersion,
  planCleanup,
  planJson,
  planMarkdown,
  referencedDigest,
  type References,
  retentionDaysOf,
  rfc3339Ms,
  shortDigests,
  toDelete,
} from "../../lib/cleanup/cleanup.ts";
import { listedDigests, planWithReferences } from "../../lib/cleanup/cleanup_refs.ts";
import { CheckError, UsageError } from "../../lib/core/errors.ts";
import { IMAGE_TAG } from "../../lib/core/patterns.ts";

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
      kind: fc.constantFrom("versioned", "untagged", "attestation", "other", "alias"),
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
      // the digest of another version of this history (ghcr.io lists a digest twice, in
      // either case), or its own
      twin: fc.option(fc.nat(), { freq: 4 }),
      upper: fc.boolean(),
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
    } else if (v.kind === "alias") {
      tags = [`fcos-42.${20250000 + i}.3.0`];
    }
    const createdAt = new Date(NOW.getTime() - v.days * DAY_MS + v.nudgeMs).toISOString();
    const digest = digestOf(v.twin === null ? id : 1000 + (v.twin % versions.length) * 7);
    const name = v.upper ? `sha256:${digest.slice(7).toUpperCase()}` : digest;
    return { id, name, createdAt, tags };
  });
  const references = new Map<string, string[]>();
  versions.forEach((v, i) => {
    const listed = v.lists.map((n) => digestOf(1000 + (n % (versions.length + 2)) * 7));
    if (listed.length) references.set(key(list[i]!.name), listed);
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

/** Checks `check` against the plan of every random history that the planner does not refuse. */
function forEveryPlan(
  check: (plan: CleanupPlan, input: {
    versions: PackageVersion[];
    policy: { retentionDays: number; minVersions: number };
    references: Map<string, string[]>;
  }) => void,
): void {
  fc.assert(
    fc.property(history, (input) => {
      const plan = tryPlan(input.versions, input.policy, input.references);
      if (plan) check(plan, input);
    }),
    { numRuns: RUNS },
  );
}

const versionedTagsOf = (v: PackageVersion) => v.tags.filter((t) => IMAGE_TAG.test(t));
/** Digests compare without regard to case. */
const key = (digest: string) => digest.toLowerCase();
const keptKeys = (plan: CleanupPlan) =>
  new Set(plan.versions.filter((v) => v.action === "keep").map((v) => key(v.name)));

Deno.test("planCleanup() never deletes one of the newest N versioned tags", () => {
  forEveryPlan((plan, { policy }) => {
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
    if (newest) assert.equal(newest.action, "keep");
  });
});

Deno.test("planCleanup() never deletes an attestation or signature of a kept version", () => {
  forEveryPlan((plan) => {
    const keptDigests = keptKeys(plan);
    for (const deleted of toDelete(plan)) {
      for (const tag of deleted.tags) {
        const digest = referencedDigest(tag);
        assert.ok(!digest || !keptDigests.has(digest), `${deleted.id} attests a kept version`);
      }
    }
  });
});

Deno.test("planCleanup() never deletes a version created at or after the cutoff", () => {
  forEveryPlan((plan, { policy }) => {
    const cutoff = NOW.getTime() - policy.retentionDays * DAY_MS;
    assert.equal(Date.parse(plan.cutoff), cutoff);
    for (const deleted of toDelete(plan)) {
      // an alias goes with the images it lists, whatever its age
      if (deleted.reason === "alias of deleted images") continue;
      assert.ok(Date.parse(deleted.createdAt) < cutoff);
    }
  });
});

Deno.test("planCleanup() deletes every expired version that nothing protects", () => {
  forEveryPlan((plan, { versions, policy, references }) => {
    const cutoff = NOW.getTime() - policy.retentionDays * DAY_MS;
    for (const v of plan.versions) {
      if (v.reason === "inside retention") assert.ok(Date.parse(v.createdAt) >= cutoff);
      assert.equal(v.action === "delete", DELETE_REASONS.includes(v.reason));
    }
    assert.equal(plan.keepCount + plan.deleteCount, versions.length);
    // an untagged version past the cutoff that no kept manifest lists, whose digest no
    // other kept version carries, is always deleted
    const listed = new Set(
      plan.versions.filter((v) => v.action === "keep")
        .flatMap((v) => references.get(key(v.name)) ?? []),
    );
    const twinKept = (v: PackageVersion) =>
      plan.versions.some((o) =>
        o.id !== v.id && o.action === "keep" && key(o.name) === key(v.name)
      );
    for (const v of plan.versions) {
      if (plan.notice) break;
      if (
        v.tags.length === 0 && Date.parse(v.createdAt) < cutoff && !listed.has(key(v.name)) &&
        !twinKept(v)
      ) {
        assert.equal(v.action, "delete");
      }
    }
  });
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
  forEveryPlan((plan, { versions, policy, references }) => {
    const gone = new Set(toDelete(plan).map((v) => v.id));
    const again: CleanupPlan | undefined = tryPlan(
      versions.filter((v) => !gone.has(v.id)),
      policy,
      references,
    );
    assert.ok(again, "the second plan refused");
    assert.equal(again.deleteCount, 0);
  });
});

Deno.test("planCleanup() deletes nothing when there are fewer versioned tags than min-versions", async (t) => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: old, tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: old, tags: [] },
  ];
  await t.step("one versioned tag, keep 2", () => {
    const plan = planCleanup(versions, { retentionDays: 0, minVersions: 2 }, NOW);
    assert.equal(plan.deleteCount, 0);
    assert.match(plan.notice ?? "", /fewer than the 2 to keep/);
  });
  await t.step("no versioned tag at all, only latest", () => {
    const plan = planCleanup(
      [{ id: 3, name: digestOf(3), createdAt: old, tags: ["latest"] }],
      { retentionDays: 0, minVersions: 1 },
      NOW,
    );
    assert.equal(plan.deleteCount, 0);
    assert.match(plan.notice ?? "", /has 0 versioned \(zfs-\*_kernel-\*\) tags/);
  });
  await t.step("exactly enough is allowed", () => {
    const plan = planCleanup(versions, { retentionDays: 0, minVersions: 1 }, NOW);
    assert.deepEqual(plan.versions.map((v) => [v.id, v.action, v.reason]), [
      [2, "delete", "expired"],
      [1, "keep", "newest 1 versioned tags"],
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
    11: "newest 2 versioned tags",
    12: "attestation of kept image",
    13: "signature of kept image", // signature of a kept attestation
    14: "expired", // attestation of a deleted image
    15: "expired",
    16: "inside retention",
    17: "inside retention",
    18: "newest 2 versioned tags",
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
  forEveryPlan((plan, { references }) => {
    const deleted = new Set(toDelete(plan).map((v) => key(v.name)));
    // walk the links from every kept version, through any depth and any cycle
    const reached = keptKeys(plan);
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
      if (v.reason.startsWith("listed by ")) assert.match(v.reason, /^listed by fcos-/);
    }
  });
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
    1: "newest 1 versioned tags",
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

// --- issue 17 §1–2, issue 16 (signatures, fcos aliases), issue 18 (new fork, vocabulary) ---

const hexOf = (n: number) => digestOf(n).slice("sha256:".length);

Deno.test("planCleanup() keeps every version id that carries a kept digest, in any case", async (t) => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  await t.step("id 10 tagged and newest, id 11 untagged and old, same digest", () => {
    const versions: PackageVersion[] = [
      { id: 10, name: digestOf(1), createdAt: NOW.toISOString(), tags: [versionedTag(10, 0)] },
      { id: 11, name: digestOf(1), createdAt: old, tags: [] },
      { id: 12, name: digestOf(2), createdAt: old, tags: [] },
    ];
    const plan = planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW);
    assert.deepEqual(plan.versions.map((v) => [v.id, v.action, v.reason]), [
      [10, "keep", "newest 1 versioned tags"],
      [12, "delete", "expired"],
      [11, "keep", "same digest as version 10"],
    ]);
  });
  await t.step("the same digest in upper case", () => {
    const versions: PackageVersion[] = [
      { id: 20, name: digestOf(0xabc), createdAt: old, tags: [versionedTag(20, 0)] },
      {
        id: 21,
        name: digestOf(0xabc).toUpperCase().replace("SHA256", "sha256"),
        createdAt: old,
        tags: [],
      },
    ];
    const plan = planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW);
    assert.equal(plan.deleteCount, 0);
    assert.equal(plan.versions.find((v) => v.id === 21)?.reason, "same digest as version 20");
  });
});

Deno.test("planCleanup() refuses a created_at that is no real RFC 3339 time or lies more than a day ahead", async (t) => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const base: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: old, tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: old, tags: [versionedTag(2, 0)] },
  ];
  const bad = [
    "2024-02-30T00:00:00Z", // rolled over to March by Date.parse
    "2023-02-29T00:00:00Z",
    "9999-12-31T00:00:00Z", // would take a newest slot
    "2025-06-02T12:00:01Z", // one day and a second ahead
    "2025-06-01T24:00:00Z",
    "2025-06-01T12:00:00", // no offset: no instant
    "2025-06-01 12:00:00Z",
    "2025-13-01T00:00:00Z",
    "Sun, 01 Jun 2025 12:00:00 GMT",
  ];
  for (const createdAt of bad) {
    await t.step(`${createdAt} is refused, naming the version`, () => {
      const versions = [...base, {
        id: 3,
        name: digestOf(3),
        createdAt,
        tags: [versionedTag(3, 0)],
      }];
      assert.throws(
        () => planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW),
        (e) =>
          e instanceof CheckError && e.message.includes("version 3 (") &&
          e.message.includes(JSON.stringify(createdAt)) && /nothing was deleted/.test(e.message) &&
          !e.message.includes("\n"),
      );
    });
  }
  for (
    const createdAt of [
      "2024-02-29T00:00:00Z",
      "2025-06-02T12:00:00Z",
      "2025-06-01T13:00:00+01:00",
      "2025-05-01t10:00:00.123456z",
    ]
  ) {
    await t.step(`${createdAt} is accepted`, () => {
      const versions = [...base, { id: 3, name: digestOf(3), createdAt, tags: [] }];
      assert.equal(
        planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW).versions.length,
        3,
      );
    });
  }
  assert.equal(rfc3339Ms("2025-06-01T13:00:00+01:00"), Date.parse("2025-06-01T12:00:00Z"));
});

Deno.test("planCleanup() keeps the sha256-<hex>.sig signature of a kept image and deletes it with its image", () => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: old, tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: old, tags: [`sha256-${hexOf(1)}.sig`] },
    { id: 3, name: digestOf(3), createdAt: old, tags: [`sha256-${hexOf(1)}`] },
    { id: 4, name: digestOf(4), createdAt: NOW.toISOString(), tags: [versionedTag(4, 0)] },
    { id: 5, name: digestOf(5), createdAt: NOW.toISOString(), tags: [`sha256-${hexOf(4)}.sig`] },
  ];
  const reasons = (minVersions: number) =>
    Object.fromEntries(
      planCleanup(versions, { retentionDays: 90, minVersions }, NOW).versions.map((
        v,
      ) => [v.id, `${v.action}: ${v.reason}`]),
    );
  assert.deepEqual(reasons(2), {
    1: "keep: newest 2 versioned tags",
    2: "keep: signature of kept image",
    3: "keep: attestation of kept image",
    4: "keep: newest 2 versioned tags",
    5: "keep: inside retention",
  });
  assert.deepEqual(reasons(1), {
    1: "delete: expired",
    2: "delete: expired",
    3: "delete: expired",
    4: "keep: newest 1 versioned tags",
    5: "keep: inside retention",
  });
});

Deno.test("planCleanup() treats fcos-<release> indexes as aliases of the images they list", async (t) => {
  const at = (days: number) => new Date(NOW.getTime() - days * DAY_MS).toISOString();
  // 1, 2: amd64 and arm64 of release A (old); 3, 4: of release B (new); 5: an old image
  // nothing lists; 10: fcos-A lists 1, 2; 11: fcos-B lists 3, 4; 12: fcos-C lists 5 only,
  // young; 13: the signature of fcos-A
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: at(200), tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: at(200), tags: [versionedTag(2, 0)] },
    { id: 3, name: digestOf(3), createdAt: at(100), tags: [versionedTag(3, 0)] },
    { id: 4, name: digestOf(4), createdAt: at(100), tags: [versionedTag(4, 0)] },
    { id: 5, name: digestOf(5), createdAt: at(300), tags: [versionedTag(5, 0)] },
    { id: 10, name: digestOf(10), createdAt: at(200), tags: ["fcos-42.20250101.3.0"] },
    { id: 11, name: digestOf(11), createdAt: at(100), tags: ["fcos-42.20250301.3.0"] },
    { id: 12, name: digestOf(12), createdAt: at(1), tags: ["fcos-41.20240101.3.0"] },
    { id: 13, name: digestOf(13), createdAt: at(200), tags: [`sha256-${hexOf(10)}.sig`] },
  ];
  const references = new Map([
    [digestOf(10), [digestOf(1), digestOf(2)]],
    [digestOf(11), [digestOf(3), digestOf(4)]],
    [digestOf(12), [digestOf(5)]],
  ]);
  const plan = (minVersions: number) =>
    Object.fromEntries(
      planCleanup(versions, { retentionDays: 90, minVersions }, NOW, references).versions.map((
        v,
      ) => [v.id, `${v.action}: ${v.reason}`]),
    );
  await t.step("one image of a release kept: the alias stays and keeps its other image", () => {
    assert.deepEqual(plan(3), {
      1: "keep: listed by fcos-42.20250101.3.0", // 4, 3, 2 are the newest 3
      2: "keep: newest 3 versioned tags",
      3: "keep: newest 3 versioned tags",
      4: "keep: newest 3 versioned tags",
      5: "delete: expired",
      10: "keep: alias of kept image",
      11: "keep: alias of kept image",
      12: "delete: alias of deleted images", // young, but it lists only a deleted image
      13: "keep: signature of kept image",
    });
    const three = planCleanup(versions, { retentionDays: 90, minVersions: 2 }, NOW, references);
    // 4 and 3 are the newest 2; nothing else keeps 1 or 2, so fcos-A goes with them
    assert.deepEqual(
      toDelete(three).map((v) => v.id).toSorted((a, b) => a - b),
      [1, 2, 5, 10, 12, 13],
    );
  });
  await t.step("an alias is never counted among the newest versioned tags", () => {
    const p = planCleanup(versions, { retentionDays: 90, minVersions: 1 }, NOW, references);
    const byId = Object.fromEntries(p.versions.map((v) => [v.id, `${v.action}: ${v.reason}`]));
    assert.equal(byId[4], "keep: newest 1 versioned tags");
    assert.equal(byId[3], "keep: listed by fcos-42.20250301.3.0");
    assert.equal(byId[11], "keep: alias of kept image");
    assert.equal(byId[10], "delete: alias of deleted images");
    assert.equal(p.versionedTags, 5);
  });
});

Deno.test("planCleanup() keeps everything, with a notice, when a new package has fewer versioned tags than min-versions", () => {
  const old = new Date(NOW.getTime() - 400 * DAY_MS).toISOString();
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: old, tags: [versionedTag(1, 0)] },
    { id: 2, name: digestOf(2), createdAt: old, tags: [] },
  ];
  const plan = planCleanup(versions, { retentionDays: 0, minVersions: 3 }, NOW);
  assert.equal(plan.deleteCount, 0);
  assert.deepEqual(plan.versions.map((v) => v.reason), [
    "fewer than 3 versioned tags",
    "fewer than 3 versioned tags",
  ]);
  assert.match(plan.notice ?? "", /1 versioned \(zfs-\*_kernel-\*\) tag, fewer than the 3 to keep/);
  assert.match(plan.notice ?? "", /<retention-days> <min-versions>/);
  assert.equal(planCleanup(versions, { retentionDays: 0, minVersions: 1 }, NOW).notice, undefined);
});

Deno.test("checkArgumentOrder() names the order when the numbers look swapped", () => {
  assert.throws(
    () => checkArgumentOrder(3, 90),
    (e) => e instanceof UsageError && /order is <retention-days> <min-versions>/.test(e.message),
  );
  for (const [days, min] of [[90, 3], [0, 5], [30, 30], [365, 50], [10, 29]] as const) {
    checkArgumentOrder(days, min);
  }
});

Deno.test("planCleanup() in the age-only (cache) mode keeps by age alone", () => {
  const at = (days: number) => new Date(NOW.getTime() - days * DAY_MS).toISOString();
  const versions: PackageVersion[] = [
    { id: 1, name: digestOf(1), createdAt: at(40), tags: ["a".repeat(64)] },
    { id: 2, name: digestOf(2), createdAt: at(10), tags: ["b".repeat(64)] },
    { id: 3, name: digestOf(2), createdAt: at(50), tags: [] },
    { id: 4, name: digestOf(4), createdAt: at(50), tags: [versionedTag(4, 0)] },
    { id: 5, name: digestOf(5), createdAt: at(45), tags: [`sha256-${hexOf(2)}`] },
  ];
  const plan = planCleanup(versions, { retentionDays: 30, minVersions: 0, ageOnly: true }, NOW);
  assert.deepEqual(Object.fromEntries(plan.versions.map((v) => [v.id, v.reason])), {
    1: "expired",
    2: "inside retention",
    3: "same digest as version 2",
    4: "expired", // no tag is protected in the cache
    5: "attestation of kept image",
  });
  assert.equal(plan.notice, undefined);
  assert.equal(plan.versionedTags, 0);
});

Deno.test("planCleanup() never deletes a version whose digest a kept version carries, in any case", () => {
  forEveryPlan((plan) => {
    const kept = keptKeys(plan);
    for (const v of toDelete(plan)) {
      assert.ok(!kept.has(key(v.name)), `${v.id} shares a kept digest`);
    }
  });
});

Deno.test("planCleanup() keeps an fcos alias exactly while an image it lists is kept, never for itself", () => {
  fc.assert(
    fc.property(history, ({ versions, policy, references }) => {
      const plan = tryPlan(versions, policy, references);
      if (!plan || plan.notice) return;
      const kept = keptKeys(plan);
      const aliases = plan.versions.filter(isAlias);
      for (const alias of aliases) {
        const listsKept = (references.get(key(alias.name)) ?? []).some((d) => kept.has(d));
        // a version of another kind with the same digest keeps it too (ghcr.io: one manifest)
        const twinKept = plan.versions.some((o) =>
          !isAlias(o) && o.action === "keep" && key(o.name) === key(alias.name)
        );
        if (listsKept) assert.equal(alias.action, "keep", `${alias.id} lists a kept image`);
        // kept as an alias only for a kept image it lists (else for a link like any version)
        if (alias.reason === "alias of kept image") assert.ok(listsKept || twinKept);
        if (alias.action === "delete") assert.equal(alias.reason, "alias of deleted images");
      }
      // never on its own: when the plan without the aliases deletes all they list (and none
      // shares a digest with a kept version), the aliases change nothing but go themselves
      const without = tryPlan(versions.filter((v) => !isAlias(v)), policy, references);
      if (!without || without.notice) return;
      const keptWithout = keptKeys(without);
      const aliasKeys = aliases.flatMap((a) => [
        key(a.name),
        ...(references.get(key(a.name)) ?? []),
      ]);
      const listedByKept = without.versions.filter((v) => v.action === "keep")
        .flatMap((v) => references.get(key(v.name)) ?? []);
      if (aliasKeys.some((d) => keptWithout.has(d) || listedByKept.includes(d))) return;
      for (const alias of aliases) assert.equal(alias.action, "delete");
      const action = new Map(without.versions.map((v) => [v.id, v.action]));
      for (const v of plan.versions) if (!isAlias(v)) assert.equal(v.action, action.get(v.id));
    }),
    { numRuns: RUNS },
  );
});

Deno.test("planCleanup() refuses any listing with a created_at more than a day ahead of now", () => {
  fc.assert(
    fc.property(
      history,
      fc.integer({ min: DAY_MS + 1, max: 8_000_000 * DAY_MS }),
      fc.nat(),
      ({ versions, policy, references }, aheadMs, which) => {
        if (versions.length === 0) return;
        const i = which % versions.length;
        const future = new Date(NOW.getTime() + aheadMs).toISOString();
        const bad = versions.map((v, j) => j === i ? { ...v, createdAt: future } : v);
        assert.throws(
          () => planCleanup(bad, policy, NOW, references),
          (e) => e instanceof CheckError && e.message.includes(`version ${bad[i]!.id} (`),
        );
      },
    ),
    { numRuns: RUNS },
  );
});
