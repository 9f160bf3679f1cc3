// `deno task forecast` as a user runs it, against a stand-in of the Fedora CoreOS builds
// server (FCOS_BUILDS_URL) and a matrix.yaml of its own (MATRIX_FILE).
import assert from "node:assert/strict";
import {
  CROSSING,
  fcosBuilds,
  kernel,
  type StandInRelease,
  testMatrix,
} from "./helpers/release_index.ts";
import { runTaskFile, type TaskResult } from "./helpers/run_task.ts";
import { withServer } from "./helpers/server.ts";

async function forecast(
  streams: Record<string, StandInRelease[]>,
  args: string[],
  options: {
    builds?: Parameters<typeof fcosBuilds>[1];
    matrix?: string;
    env?: Record<string, string>;
  } = {},
): Promise<TaskResult & { dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "forecast_task_test_" });
  await Deno.writeTextFile(`${dir}/matrix.yaml`, options.matrix ?? testMatrix());
  return await withServer(fcosBuilds(streams, options.builds), async (server) => ({
    dir,
    ...await runTaskFile("forecast.ts", args, {
      FCOS_BUILDS_URL: server.url,
      MATRIX_FILE: `${dir}/matrix.yaml`,
      HTTP_RETRIES: "0",
      GITHUB_OUTPUT: "",
      GITHUB_STEP_SUMMARY: "",
      ...options.env,
    }),
  }));
}

/** Streams whose kernels pinned zfs-2.4.2 (max 7.0) all supports. */
const ALL_SUPPORTED: Record<string, StandInRelease[]> = {
  stable: [{ version: "43.20251110.3.1", kernels: { x86_64: kernel("6.19.3") } }],
  testing: [{ version: "43.20251124.2.0", kernels: { x86_64: kernel("7.0.5") } }],
  next: [{ version: "43.20251124.1.0", kernels: { x86_64: kernel("7.0.6") } }],
};

Deno.test("forecast prints a table, verdict first, and exits 0 for a complete report", async () => {
  const result = await forecast(CROSSING, []);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^verdict\s+stream\s+arch\s+release\s+kernel\s+zfs release\s+note$/);
  assert.match(
    lines[1]!,
    /^ok\s+stable\s+x86_64\s+43\.20251110\.3\.1\s+6\.19\.3-200\.fc43\.x86_64\s+zfs-2\.4\.2\s+6\.19 ≤ 7\.0$/,
  );
  assert.match(
    lines[2]!,
    /^warning\s+testing\s+x86_64\s+43\.20251124\.2\.0\s+7\.1\.2-200\.fc43\.x86_64\s+-\s+expected on stable around 2025-12-09 – 2025-12-17; nothing pinned supports 7\.1: deno task matrix add zfs-2\.4\.4$/,
  );
  assert.match(lines[3]!, /^warning\s+next\s+.*no OpenZFS release supports 7\.3 yet$/);
  assert.equal(lines.length, 4);
  assert.equal(result.stderr, "");
});

Deno.test("forecast --json prints one array with the documented keys", async () => {
  const result = await forecast(CROSSING, ["--json"]);
  assert.equal(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
  assert.equal(rows.length, 3);
  for (
    const key of [
      "stream",
      "arch",
      "release",
      "kernel-version",
      "kernel-major-minor",
      "zfs-tag",
      "compatible",
    ]
  ) {
    assert.ok(rows.every((row) => key in row), `every row has ${key}`);
  }
  assert.deepEqual(rows.map((r) => [r.stream, r["zfs-tag"], r.compatible]), [
    ["stable", "zfs-2.4.2", true],
    ["testing", null, false],
    ["next", null, false],
  ]);
  // testing is only ahead of the stable target: no pin advice for a stream nothing builds
  assert.equal(rows[1]!["fallback-release"], null);
});

Deno.test("forecast --fail-on-unsupported exits 1 only when something is unsupported", async (t) => {
  await t.step("kernels nothing pinned supports: exit 1 with one line", async () => {
    const result = await forecast(CROSSING, ["--fail-on-unsupported"]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      "error: 2 forecast kernel(s) not supported by a pinned OpenZFS release\n",
    );
  });
  await t.step("everything supported: exit 0", async () => {
    const result = await forecast(ALL_SUPPORTED, ["--fail-on-unsupported"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^ok\s+next\s/m);
  });
});

Deno.test("forecast --github-output writes forecast, unsupported-count and a summary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "forecast_outputs_" });
  const output = `${dir}/output`;
  const summary = `${dir}/summary`;
  const result = await forecast(CROSSING, ["--github-output"], {
    env: { GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary },
  });
  assert.equal(result.code, 0, result.stderr);
  const lines = (await Deno.readTextFile(output)).trimEnd().split("\n");
  assert.equal(lines.length, 2);
  assert.ok(lines[0]!.startsWith("forecast="));
  const rows = JSON.parse(lines[0]!.slice("forecast=".length)) as { stream: string }[];
  assert.deepEqual(rows.map((r) => r.stream), ["stable", "testing", "next"]);
  assert.equal(lines[1], "unsupported-count=2");
  const markdown = await Deno.readTextFile(summary);
  assert.match(markdown, /^## Kernel forecast$/m);
  assert.match(markdown, /^\| verdict \| stream \| arch \|/m);
  assert.doesNotMatch(markdown, /FROM quay\.io/);
  assert.match(markdown, /The stable build is supported meanwhile: release `43\.20251110\.3\.1`/);
});

Deno.test("forecast exits 1 with one line per stream it could not read, and still reports", async (t) => {
  await t.step("a release index that fails", async () => {
    const result = await forecast(CROSSING, [], { builds: { failingStreams: ["next"] } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^ok\s+stable\s/m);
    assert.match(result.stdout, /^unknown\s+next\s+x86_64\s+-\s+-\s+-\s+.*HTTP 502/m);
    const errors = result.stderr.trimEnd().split("\n");
    assert.equal(errors.length, 1);
    assert.match(
      errors[0]!,
      /^error: Cannot forecast next \(x86_64\): .*next\/releases\.json \(HTTP 502\)$/,
    );
  });
  await t.step("a build whose commitmeta is missing (403 AccessDenied)", async () => {
    const result = await forecast(CROSSING, ["--json"], {
      builds: { missingCommitmeta: ["43.20251110.3.1"] },
    });
    assert.equal(result.code, 1);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(rows[0]!.verdict, "unknown");
    assert.equal(rows[0]!.compatible, null);
    assert.match(
      result.stderr,
      /^error: Cannot forecast stable \(x86_64\): No kernel found in the build metadata of 43\.20251110\.3\.1\n$/,
    );
  });
  await t.step("an incomplete forecast leaves the issue alone", async () => {
    // PATH without gh: calling it would fail differently
    const result = await forecast(CROSSING, ["--update-issue"], {
      builds: { failingStreams: ["testing"] },
      env: { PATH: "/nonexistent" },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: The forecast issue is left as it is: the forecast is incomplete$/m,
    );
    assert.doesNotMatch(result.stderr, /gh is not installed/);
  });
});

Deno.test("forecast refuses bad usage with exit 2 and explains itself with --help", async (t) => {
  await t.step("--help", async () => {
    const result = await forecast(CROSSING, ["--help"]);
    assert.equal(result.code, 0);
    for (
      const flag of [
        "--json",
        "--github-output",
        "--fail-on-unsupported",
        "--update-issue",
        "--repo",
        "--max-walk",
      ]
    ) {
      assert.ok(result.stdout.includes(flag), `--help mentions ${flag}`);
    }
  });
  await t.step("an unknown flag", async () => {
    const result = await forecast(CROSSING, ["--stream", "stable"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--stream'/);
  });
  await t.step("a malformed --repo or --max-walk", async () => {
    for (const args of [["--repo", "o/r;rm"], ["--max-walk", "0"]]) {
      const result = await forecast(CROSSING, args);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, /^error: Invalid (repository|max-walk): /);
    }
  });
  await t.step(
    "a bad setting is one usage error, not a stream that could not be read",
    async () => {
      const result = await forecast(CROSSING, [], { env: { HTTP_RETRIES: "many" } });
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'error: Invalid HTTP_RETRIES: "many" (expected a whole number from 0 to 10)\n',
      );
    },
  );
  await t.step("a malformed matrix.yaml", async () => {
    const result = await forecast(CROSSING, [], { matrix: "zfs: {}\n" });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: Cannot parse .*matrix\.yaml/);
    assert.equal(result.stderr.trimEnd().split("\n").length, 1);
  });
});
