// The kernel forecast: which streams are forecast, the verdicts, the stable estimate, the
// issue body, and collectForecast() against a stand-in of the Fedora CoreOS builds server.
import assert from "node:assert/strict";
import fc from "fast-check";
import { fetchBuildKernel, fetchReleaseIndex } from "../../lib/coreos/coreos.ts";
import { lastCompatibleRelease } from "../../lib/coreos/fallback.ts";
import {
  aroundText,
  collectForecast,
  expectedOnStable,
  FORECAST_ISSUE,
  forecastComplete,
  forecastJson,
  type ForecastRow,
  forecastRows,
  type ForecastSources,
  forecastSubjects,
  issueBody,
  STABLE_AFTER_SNAPSHOT_DAYS,
  type StreamObservation,
  supportingReleases,
} from "../../lib/coreos/forecast.ts";
import { parseMatrix } from "../../lib/matrix/matrix_schema.ts";
import { CROSSING, digestOf, fcosBuilds, kernel, testMatrix } from "../helpers/release_index.ts";
import { withServer } from "../helpers/server.ts";

const matrix = parseMatrix(testMatrix());

/** The real sources against a stand-in, without retries so failures are quick. */
function standInSources(base: string): ForecastSources {
  const retry = { retries: 0, backoffMs: 1 };
  return {
    releaseIndex: (stream) => fetchReleaseIndex(stream, { base, retry }),
    buildKernel: (stream, version, arch) =>
      fetchBuildKernel(stream, version, arch, { base, retry }),
    lastCompatible: (options) => lastCompatibleRelease({ ...options, base }),
  };
}

function observe(
  stream: string,
  version: string,
  kernelVersion: string | undefined,
  target = stream === "stable",
): StreamObservation {
  return {
    stream,
    arch: "x86_64",
    series: "2.4",
    target,
    release: {
      version,
      image: `quay.io/fedora/fedora-coreos@${digestOf(stream, version, "x86_64")}`,
    },
    kernelVersion,
  };
}

Deno.test("forecastSubjects() takes enabled targets' streams and the streams ahead of them", async (t) => {
  await t.step("a stable target brings testing and next, stable first", () => {
    const subjects = forecastSubjects(matrix);
    assert.deepEqual(subjects.map((s) => [s.stream, s.arch, s.series, s.target]), [
      ["stable", "x86_64", "2.4", true],
      ["testing", "x86_64", "2.4", false],
      ["next", "x86_64", "2.4", false],
    ]);
  });
  await t.step("disabled targets are left out", () => {
    const m = parseMatrix(
      testMatrix([{ stream: "stable" }, { stream: "stable", arch: "aarch64", enabled: false }]),
    );
    assert.ok(forecastSubjects(m).every((s) => s.arch === "x86_64"));
  });
  await t.step("a testing target is a target once, and next is ahead of it", () => {
    const m = parseMatrix(testMatrix([{ stream: "testing" }, { stream: "stable" }]));
    assert.deepEqual(forecastSubjects(m).map((s) => `${s.stream}:${s.target}`), [
      "stable:true",
      "testing:true",
      "next:false",
    ]);
  });
  await t.step("a stream outside next/testing/stable has nothing ahead of it", () => {
    const m = parseMatrix(testMatrix([{ stream: "rawhide" }]));
    assert.deepEqual(forecastSubjects(m).map((s) => s.stream), ["rawhide"]);
  });
});

Deno.test("supportingReleases() picks the newest pinned release and names a newer unpinned one", () => {
  const tags = (kernelVersion: string) => {
    const { pinned, unpinned } = supportingReleases(matrix, "2.4", kernelVersion);
    return [pinned?.tag, unpinned?.tag];
  };
  assert.deepEqual(tags(kernel("6.18.1")), ["zfs-2.4.2", "zfs-2.4.4"]);
  assert.deepEqual(tags(kernel("7.0.5")), ["zfs-2.4.2", "zfs-2.4.4"]);
  assert.deepEqual(tags(kernel("7.1.2")), [undefined, "zfs-2.4.4"]);
  assert.deepEqual(tags(kernel("7.3.0")), [undefined, undefined]);
  assert.deepEqual(supportingReleases(matrix, "2.3", kernel("6.12.1")), {
    pinned: undefined,
    unpinned: undefined,
  });
  // a release below its min-kernel does not support it
  const withMin = parseMatrix(
    testMatrix().replace(/(max-kernel: "[0-9.]+")/g, `$1\n      min-kernel: "6.12"`),
  );
  assert.equal(supportingReleases(withMin, "2.4", "5.14").pinned?.tag, undefined);
});

Deno.test("expectedOnStable() is a range, 15 to 23 days after the snapshot date the version names", () => {
  assert.deepEqual(expectedOnStable("43.20251124.2.0"), { from: "2025-12-09", to: "2025-12-17" });
  // across a month and a year end
  assert.deepEqual(expectedOnStable("43.20251224.2.0"), { from: "2026-01-08", to: "2026-01-16" });
  assert.deepEqual(STABLE_AFTER_SNAPSHOT_DAYS, { min: 15, max: 23 });
  assert.equal(
    aroundText({ from: "2025-12-09", to: "2025-12-17" }),
    "around 2025-12-09 – 2025-12-17",
  );
  assert.equal(expectedOnStable("43.20251345.2.0"), undefined);
  assert.equal(expectedOnStable("latest"), undefined);
});

Deno.test("forecastRows() decides the verdict of each stream", async (t) => {
  await t.step("supported kernels are ok with the release and the kmods tag", () => {
    const [row] = forecastRows(matrix, [observe("stable", "43.20251110.3.1", kernel("6.19.3"))]);
    assert.equal(row!.verdict, "ok");
    assert.equal(row!.supported, true);
    assert.equal(row!.zfsTag, "zfs-2.4.2");
    assert.equal(row!.maxKernel, "7.0");
    assert.equal(row!.imageTag, "zfs-2.4.2_kernel-6.19.3-200.fc43.x86_64");
    assert.equal(row!.snapshotDate, "2025-11-10");
    assert.equal(row!.fix, null);
  });
  await t.step("a target's stream nothing pinned supports is unsupported, with the fix", () => {
    const [row] = forecastRows(matrix, [observe("stable", "43.20251124.3.0", kernel("7.1.2"))]);
    assert.equal(row!.verdict, "unsupported");
    assert.equal(row!.supported, false);
    assert.equal(row!.zfsTag, null);
    assert.equal(row!.fix, "deno task matrix add zfs-2.4.4");
  });
  await t.step("a stream ahead is a warning; testing gets its date on stable", () => {
    const rows = forecastRows(matrix, [
      observe("stable", "43.20251110.3.1", kernel("6.19.3")),
      observe("testing", "43.20251124.2.0", kernel("7.1.2")),
      observe("next", "43.20251124.1.0", kernel("7.3.0")),
    ]);
    assert.deepEqual(rows.map((r) => r.verdict), ["ok", "warning", "warning"]);
    assert.deepEqual(rows[1]!.expectedOnStable, { from: "2025-12-09", to: "2025-12-17" });
    assert.equal(rows[2]!.expectedOnStable, null, "next has no promotion date of its own");
    assert.equal(rows[2]!.fix, "no OpenZFS release supports 7.3 yet");
  });
  await t.step("no estimate when stable already runs that kernel", () => {
    const rows = forecastRows(matrix, [
      observe("stable", "43.20251124.3.0", kernel("7.1.1")),
      observe("testing", "43.20251124.2.0", kernel("7.1.2")),
    ]);
    assert.equal(rows[1]!.expectedOnStable, null);
  });
  await t.step("a kernel that could not be read is unknown, never ok", () => {
    const rows = forecastRows(matrix, [
      observe("stable", "43.20251110.3.1", undefined),
      {
        ...observe("testing", "43.20251124.2.0", undefined),
        error: "Access denied: http://x (HTTP 500)",
      },
    ]);
    assert.deepEqual(rows.map((r) => [r.verdict, r.supported]), [["unknown", null], [
      "unknown",
      null,
    ]]);
    assert.match(rows[0]!.error!, /No kernel found in the build metadata of 43\.20251110\.3\.1/);
    assert.equal(rows[1]!.error, "Access denied: http://x (HTTP 500)");
    assert.equal(forecastComplete(rows), false);
  });
});

Deno.test("forecastRows() calls a kernel supported exactly when a pinned release of the series covers it", () => {
  const kernels = fc.record({
    major: fc.integer({ min: 5, max: 8 }),
    minor: fc.integer({ min: 0, max: 25 }),
  });
  fc.assert(fc.property(kernels, ({ major, minor }) => {
    const [row] = forecastRows(matrix, [
      observe("stable", "43.20251110.3.1", kernel(`${major}.${minor}.1`)),
    ]);
    const covered = matrix.zfs.releases.some((r) => {
      const [maxMajor, maxMinor] = r["max-kernel"].split(".").map(Number);
      return r.sha256 !== undefined &&
        (major < maxMajor! || (major === maxMajor && minor <= maxMinor!));
    });
    assert.equal(row!.supported, covered);
    assert.equal(row!.verdict, covered ? "ok" : "unsupported");
    assert.equal(row!.zfsTag !== null, covered);
  }));
});

function rowsOf(...observations: StreamObservation[]): ForecastRow[] {
  return forecastRows(matrix, observations);
}

Deno.test("issueBody() tells what is unsupported, when, the fix and what to pin", async (t) => {
  const rows = rowsOf(
    observe("stable", "43.20251110.3.1", kernel("6.19.3")),
    observe("testing", "43.20251124.2.0", kernel("7.1.2")),
    observe("next", "43.20251124.1.0", kernel("7.3.0")),
  );
  rows[1]!.fallback = {
    release: "43.20251110.2.0",
    image: `quay.io/fedora/fedora-coreos@${digestOf("testing", "43.20251110.2.0", "x86_64")}`,
    kernelVersion: kernel("7.0.5"),
    zfsTag: "zfs-2.4.2",
    imageTag: `zfs-2.4.2_kernel-${kernel("7.0.5")}`,
  };
  rows[2]!.fallbackNote = "no release of next has a kernel a pinned release supports";
  const body = issueBody(rows, "ghcr.io/example/fedora-zfs-kmods")!;

  await t.step("it starts with the marker the issue is found by", () => {
    assert.ok(body.startsWith(`${FORECAST_ISSUE.marker}\n`));
  });
  await t.step("one section per unsupported stream, none for a supported one", () => {
    assert.deepEqual([...body.matchAll(/^### (.+)$/gm)].map((m) => m[1]), [
      "testing (x86_64): kernel 7.1",
      "next (x86_64): kernel 7.3",
    ]);
  });
  await t.step("the estimate, the fix and the pin", () => {
    assert.match(
      body,
      /Expected on stable around 2025-12-09 – 2025-12-17: an estimate, 15–23 days after the snapshot/,
    );
    // The version's date is the content snapshot, and is called that.
    assert.match(
      body,
      /Release `43\.20251124\.2\.0` \(content snapshot of 2025-11-24\) has kernel/,
    );
    assert.doesNotMatch(body, /release date|released on/i);
    assert.match(body, /Fix: `deno task matrix add zfs-2\.4\.4`/);
    assert.match(body, /Fix: none yet, no OpenZFS release supports 7\.3 yet\./);
    assert.match(body, /^ {2}FROM quay\.io\/fedora\/fedora-coreos:43\.20251110\.2\.0$/m);
    assert.match(
      body,
      /^ {2}# kmods image: ghcr\.io\/example\/fedora-zfs-kmods:zfs-2\.4\.2_kernel-7\.0\.5-200\.fc43\.x86_64$/m,
    );
    assert.match(body, /No release to pin: no release of next has a kernel/);
  });
  await t.step("the same forecast gives the same body, a new kernel another", () => {
    const again = rowsOf(
      observe("stable", "43.20251110.3.1", kernel("6.19.3")),
      observe("testing", "43.20251124.2.0", kernel("7.1.2")),
      observe("next", "43.20251124.1.0", kernel("7.3.0")),
    );
    again[1]!.fallback = rows[1]!.fallback;
    again[2]!.fallbackNote = rows[2]!.fallbackNote;
    assert.equal(issueBody(again, "ghcr.io/example/fedora-zfs-kmods"), body);
    again[2]!.kernelVersion = kernel("7.4.0");
    again[2]!.kernelMajorMinor = "7.4";
    assert.notEqual(issueBody(again, "ghcr.io/example/fedora-zfs-kmods"), body);
  });
  await t.step("nothing unsupported, no body: the issue is closed", () => {
    assert.equal(issueBody(rows.slice(0, 1), "ghcr.io/example/fedora-zfs-kmods"), undefined);
  });
  await t.step("text from the network cannot inject Markdown", () => {
    const hostile = rowsOf(observe("next", "43.20251124.1.0", kernel("7.3.0")));
    hostile[0]!.fallbackNote = "the look-up failed: [click](https://evil.example) <img src=x>";
    const text = issueBody(hostile, "ghcr.io/example/fedora-zfs-kmods")!;
    assert.ok(!text.includes("[click](https://evil.example)"));
    assert.doesNotMatch(text, /(?<!\\)<img/);
  });
});

Deno.test("collectForecast() reads the stand-in builds server and finds what to pin", async () => {
  await withServer(fcosBuilds(CROSSING), async (server) => {
    const rows = await collectForecast(matrix, standInSources(server.url));
    const json = forecastJson(rows);
    assert.deepEqual(
      json.map((
        r,
      ) => [r.verdict, r.stream, r.release, r["kernel-version"], r["zfs-tag"], r.compatible]),
      [
        ["ok", "stable", "43.20251110.3.1", kernel("6.19.3"), "zfs-2.4.2", true],
        ["warning", "testing", "43.20251124.2.0", kernel("7.1.2"), null, false],
        ["warning", "next", "43.20251124.1.0", kernel("7.3.0"), null, false],
      ],
    );
    assert.equal(json[0]!["kernel-major-minor"], "6.19");
    assert.equal(
      json[0]!.image,
      `quay.io/fedora/fedora-coreos@${digestOf("stable", "43.20251110.3.1", "x86_64")}`,
    );
    // testing and next are only ahead of the stable target: no kmods tag is built for their
    // releases, so no pin advice (and no walk) for them
    for (const row of json.slice(1)) {
      assert.equal(row["fallback-release"], null);
      assert.equal(row["fallback-note"], null);
    }
    assert.equal(json[1]!["expected-on-stable-from"], "2025-12-09");
    assert.equal(json[1]!["expected-on-stable-to"], "2025-12-17");
    assert.equal(json[1]!["snapshot-date"], "2025-11-24");
    assert.ok(!("release-date" in json[1]!), "a snapshot date is not a release date");
    assert.equal(forecastComplete(rows), true);
    const body = issueBody(rows, "ghcr.io/example/fedora-zfs-kmods")!;
    assert.doesNotMatch(body, /FROM quay\.io/);
    assert.match(
      body,
      /The stable build is supported meanwhile: release `43\.20251110\.3\.1`, kmods image `ghcr\.io\/example\/fedora-zfs-kmods:zfs-2\.4\.2_kernel-6\.19\.3-200\.fc43\.x86_64`\./,
    );
    // one release index per stream, shared by the forecast and the fallback walk
    const indexReads = server.requests.filter((r) => r.path.endsWith("/releases.json"));
    assert.deepEqual(indexReads.map((r) => r.path).sort(), [
      "/next/releases.json",
      "/stable/releases.json",
      "/testing/releases.json",
    ]);
  });
});

Deno.test("collectForecast() finds what to pin for a target stream, walking below its release", async () => {
  // A testing target on 7.1, which nothing pinned supports; next is only ahead of it.
  const testing = parseMatrix(testMatrix([{ stream: "testing" }]));
  await withServer(fcosBuilds(CROSSING), async (server) => {
    const sources = standInSources(server.url);
    const walks: string[] = [];
    const rows = await collectForecast(testing, {
      ...sources,
      lastCompatible: (options) => {
        walks.push(`${options.stream} before ${options.before}`);
        return sources.lastCompatible(options);
      },
    });
    assert.deepEqual(rows.map((r) => [r.verdict, r.stream]), [
      ["unsupported", "testing"],
      ["warning", "next"],
    ]);
    assert.deepEqual(walks, ["testing before 43.20251124.2.0"]);
    // testing falls back to its newest release with a kernel zfs-2.4.2 supports (7.0)
    assert.deepEqual(
      [rows[0]!.fallback?.release, rows[0]!.fallback?.zfsTag, rows[0]!.fallback?.imageTag],
      ["43.20251110.2.0", "zfs-2.4.2", `zfs-2.4.2_kernel-${kernel("7.0.5")}`],
    );
    assert.equal(
      rows[0]!.fallback?.image,
      `quay.io/fedora/fedora-coreos@${digestOf("testing", "43.20251110.2.0", "x86_64")}`,
    );
    assert.equal(rows[1]!.fallback, null);
    // the newest release's build metadata is read once (the forecast), not again by the walk
    const reads = server.requests.map((r) => r.path).filter((p) => p.endsWith("commitmeta.json"));
    assert.equal(reads.filter((p) => p.includes("43.20251124.2.0")).length, 1, reads.join(" "));
  });
});

Deno.test("collectForecast() marks what it could not read and keeps the rest", async (t) => {
  await t.step("a newest build without commitmeta (403 AccessDenied) is unknown", async () => {
    await withServer(
      fcosBuilds(CROSSING, { missingCommitmeta: ["43.20251124.2.0"] }),
      async (server) => {
        const rows = await collectForecast(matrix, standInSources(server.url));
        assert.deepEqual(rows.map((r) => r.verdict), ["ok", "unknown", "warning"]);
        assert.match(
          rows[1]!.error!,
          /No kernel found in the build metadata of 43\.20251124\.2\.0/,
        );
        assert.equal(forecastComplete(rows), false);
      },
    );
  });
  await t.step(
    "a release index that fails (502) makes that stream unknown with the URL",
    async () => {
      await withServer(fcosBuilds(CROSSING, { failingStreams: ["testing"] }), async (server) => {
        const rows = await collectForecast(matrix, standInSources(server.url));
        assert.deepEqual(rows.map((r) => r.verdict), ["ok", "unknown", "warning"]);
        assert.match(rows[1]!.error!, /testing\/releases\.json \(HTTP 502\)$/);
        assert.ok(!rows[1]!.error!.includes("\n"));
        assert.equal(forecastComplete(rows), false);
      });
    },
  );
  await t.step("a stream the server does not know (403) is unknown", async () => {
    const { next: _, ...withoutNext } = CROSSING;
    await withServer(fcosBuilds(withoutNext), async (server) => {
      const rows = await collectForecast(matrix, standInSources(server.url));
      assert.equal(rows[2]!.verdict, "unknown");
      assert.match(rows[2]!.error!, /HTTP 403/);
    });
  });
});
