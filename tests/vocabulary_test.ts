// Every task says each fact the way docs/vocabulary.md says: its text labels, its `--json` and
// `$GITHUB_OUTPUT` keys and its column headers are the table's, empty cells are `-`, and the
// verdict is worded one way. The table is read from the document itself, so the two cannot
// drift apart.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SHARED_OPTION_HELP } from "../lib/cli/cli.ts";
import { checkCompatibility } from "../lib/matrix/compat.ts";
import { fallbackMessage, type Versions, versionsOutput } from "../lib/coreos/discover.ts";
import { forecastJson, type ForecastRow, forecastTable } from "../lib/coreos/forecast.ts";
import { runsTable } from "../lib/github/gh.ts";
import { imageValueResult } from "../lib/coreos/image_value_task.ts";
import { parseMatrix } from "../lib/matrix/matrix_schema.ts";
import { type Rendered, renderResult, type TaskResult, verdictLine } from "../lib/cli/render.ts";
import { rpmsResult } from "../lib/build/rpms.ts";
import { compatibilityResult } from "../tasks/check_compatibility.ts";
import { containerResult, OUTPUTS as CONTAINER_OUTPUTS } from "../tasks/check_container.ts";
import { showResult } from "../tasks/matrix.ts";
import { allTargetsResult, versionsResult } from "../tasks/versions.ts";
import { runTaskFile } from "./helpers/run_task.ts";
import { gitArchiveTarball, metaText } from "./helpers/zfs_tarballs.ts";
import { startStandIns } from "./samples/samples.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const doc = await Deno.readTextFile(`${ROOT}docs/vocabulary.md`);
const matrix = parseMatrix(await Deno.readTextFile(`${ROOT}matrix.yaml`));

/** The rows of the Markdown table under a `## title`, cells without backticks. */
function tableUnder(title: string): string[][] {
  const section = doc.split(/^## /m).find((s) => s.startsWith(`${title}\n`));
  assert.ok(section, `docs/vocabulary.md has a section ${title}`);
  return section.split("\n").filter((l) => l.startsWith("|")).slice(2).map((line) =>
    line.slice(1, -1).split("|").map((cell) => cell.trim())
  );
}

/** The backticked words of a cell (`a`, `b` → [a, b]). */
const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

const facts = tableUnder("Facts");
const LABELS = new Set(facts.flatMap((row) => ticked(row[1]!)));
const KEYS = new Set([
  ...facts.flatMap((row) => ticked(row[2]!)),
  ...tableUnder("Other keys").flatMap((row) => ticked(row[0]!)),
]);
const TABLES = new Map(tableUnder("Tables").map((row) => [ticked(row[0]!)[0]!, ticked(row[1]!)]));
const HEADERS = new Set([
  ...facts.flatMap((row) => ticked(row[3]!)),
  ...[...TABLES.values()].flat(),
]);

const KERNEL = "6.17.7-300.fc43.x86_64";
const NEWER = "7.3.1-200.fc43.x86_64";
const discover = { versionsOutput, fallbackMessage };

function versions(compatible: boolean): Versions {
  const kernel = compatible ? KERNEL : NEWER;
  return {
    image: "quay.io/fedora/fedora-coreos:stable",
    arch: "x86_64",
    zfsTag: "zfs-2.4.4",
    zfsVersion: "2.4.4",
    zfsLatest: "zfs-2.4.4",
    zfsPinned: true,
    kernelVersion: kernel,
    kernelMajorMinor: compatible ? "6.17" : "7.3",
    fedoraVersion: "43",
    maxKernel: "7.2",
    compatible,
    imageDigest: `sha256:${"1".repeat(64)}`,
    pinnedImage: `quay.io/fedora/fedora-coreos@sha256:${"1".repeat(64)}`,
    imageTag: `zfs-2.4.4_kernel-${kernel}`,
    kernelSource: "coreos build metadata",
    message: compatible ? "" : "No pinned zfs-2.4 release supports 7.3.1",
    warnings: [],
    ...(compatible ? {} : {
      stream: "stable",
      fallback: {
        release: "43.20251110.3.1",
        image: `quay.io/fedora/fedora-coreos@sha256:${"2".repeat(64)}`,
        kernelVersion: KERNEL,
        zfsTag: "zfs-2.4.4",
        imageTag: `zfs-2.4.4_kernel-${KERNEL}`,
      },
      fallbackWalk: { walked: 3, capped: false },
    }),
  } as Versions;
}

/** Every channel of a result, rendered as a task renders it. */
function channels(result: TaskResult): { text: Rendered; json: unknown; output: Rendered } {
  const text = renderResult(result, { actions: false });
  const json = JSON.parse(renderResult(result, { json: true, actions: false }).stdout);
  const output = renderResult(result, { githubOutput: true, actions: false });
  return { text, json, output };
}

/** The keys of a JSON document: an object's, or those of the objects in a list. */
function keysOf(json: unknown): string[] {
  if (Array.isArray(json)) return json.flatMap(keysOf);
  if (json && typeof json === "object") return Object.keys(json);
  return [];
}

function assertKeys(where: string, keys: Iterable<string>) {
  for (const key of keys) {
    assert.ok(KEYS.has(key), `${where}: key ${key} is not in docs/vocabulary.md`);
    assert.match(key, /^[a-z0-9]+(?:-[a-z0-9]+)*$/, `${where}: ${key} is not kebab-case`);
  }
}

function assertHeaders(where: string, header: string[], table?: string) {
  for (const cell of header) {
    assert.ok(HEADERS.has(cell), `${where}: column ${cell} is not in docs/vocabulary.md`);
    assert.doesNotMatch(cell, /[A-Z:]|^[a-z]+-[a-z-]+$/, `${where}: ${cell} is not prose`);
  }
  if (table) assert.deepEqual(header, TABLES.get(table), `${where}: the columns of ${table}`);
}

function assertCells(where: string, rows: string[][]) {
  for (const row of rows) {
    for (const cell of row) {
      assert.notEqual(cell.trim(), "", `${where}: an empty cell (write -)`);
      assert.doesNotMatch(cell, /^(?:true|false|null|undefined|<untagged>|nothing)$/, where);
    }
  }
}

Deno.test("versions: the labels, keys and outputs of docs/vocabulary.md", () => {
  for (const compatible of [true, false]) {
    const result = versionsResult(versions(compatible), matrix, discover);
    const { text, json, output } = channels(result);
    const lines = text.stdout.split("\n");
    assert.match(lines[0]!, /^[✓✗] zfs-2\.4\.4 /);
    for (const line of lines.slice(1)) {
      const label = /^(.+?) {2,}/.exec(line)?.[1];
      assert.ok(label && LABELS.has(label), `versions: label "${label}" of "${line}"`);
    }
    assertKeys("versions --json", keysOf(json));
    assertKeys("versions $GITHUB_OUTPUT", Object.keys(output.githubOutput!));
    assert.ok(!("supported" in (json as object)));
  }
});

Deno.test("versions --all-targets: prose columns, yes/no and - in the cells, vocabulary keys", () => {
  const targets = [true, false].map((compatible) => ({
    name: `coreos-stable-x86_64-${compatible}`,
    image: "quay.io/fedora/fedora-coreos:stable",
    arch: "x86_64",
    ...versionsOutput(versions(compatible)),
  }));
  // the first has no fallback: its cell is -, not blank
  const result = allTargetsResult(targets);
  assertHeaders("versions --all-targets", result.table!.header, "versions --all-targets");
  assertCells("versions --all-targets", result.table!.rows);
  assert.deepEqual(result.table!.rows.map((r) => r[result.table!.header.indexOf("compatible")]), [
    "yes",
    "no",
  ]);
  assertKeys("versions --all-targets --json", keysOf(channels(result).json));
});

Deno.test("kernel-version, kernel-major-minor, fedora-version: {key: value} and nothing else", () => {
  for (const key of ["kernel-version", "kernel-major-minor", "fedora-version"]) {
    const { text, json, output } = channels(imageValueResult(key, "43"));
    assert.equal(text.stdout, "43");
    assert.deepEqual(json, { [key]: "43" });
    assert.deepEqual(output.githubOutput, { [key]: "43" });
    assertKeys(key, [key]);
  }
});

Deno.test("check-compatibility: the one verdict wording, vocabulary keys", () => {
  const ok = checkCompatibility(matrix, "zfs-2.4.2", "6.18");
  const no = checkCompatibility(matrix, "zfs-2.4.2", "7.1");
  // the verdict lines of docs/vocabulary.md, as the code writes them
  const section = doc.split(/^## /m).find((s) => s.startsWith("The verdict\n"))!;
  const documented = /```text\n([\s\S]*?)```/.exec(section)![1]!.trim().split("\n");
  const shape = (line: string) =>
    line.replace(/zfs-[\d.]+/g, "T").replace(/\b\d+\.\d+(?:\.\d+-[\w.]+)?\b/g, "K");
  for (const verdict of [ok.verdict, no.verdict]) {
    assert.ok(documented.map(shape).includes(shape(verdict)), verdict);
  }
  assert.equal(ok.verdict, "✓ zfs-2.4.2 supports 6.18 (6.18 ≤ 7.0)");
  for (const result of [ok, no]) {
    const { text, json } = channels(compatibilityResult(result));
    assert.equal(text.stdout, result.verdict);
    assertKeys("check-compatibility --json", keysOf(json));
  }
  assert.equal(
    verdictLine({
      zfsTag: "zfs-2.9.9",
      kernel: "6.1",
      kernelMajorMinor: "6.1",
      maxKernel: null,
      compatible: false,
    }),
    documented.at(-1),
  );
});

Deno.test("forecast: prose columns, compatible (never supported), the note's comparison", () => {
  const row: ForecastRow = {
    verdict: "ok",
    stream: "stable",
    arch: "x86_64",
    series: "2.4",
    target: true,
    release: "43.20251110.3.1",
    snapshotDate: "2025-11-10",
    image: `quay.io/fedora/fedora-coreos@sha256:${"3".repeat(64)}`,
    kernelVersion: KERNEL,
    kernelMajorMinor: "6.17",
    zfsTag: "zfs-2.4.4",
    maxKernel: "7.2",
    supported: true,
    imageTag: `zfs-2.4.4_kernel-${KERNEL}`,
    unpinnedZfsTag: null,
    expectedOnStable: null,
    fix: null,
  } as unknown as ForecastRow;
  const table = forecastTable([row]);
  assertHeaders("forecast", table.header, "forecast");
  assertCells("forecast", table.rows);
  assert.equal(table.rows[0]!.at(-1), "6.17 ≤ 7.2");
  const json = forecastJson([row]);
  assertKeys("forecast --json", keysOf(json));
  assert.equal(json[0]!.compatible, true);
});

Deno.test("matrix show: prose columns, counts, - for a missing min kernel", () => {
  const result = showResult(matrix);
  assertHeaders("matrix show", result.table!.header, "matrix show");
  assertCells("matrix show", result.table!.rows);
  assertKeys("matrix show --json", keysOf(channels(result).json));
  assertKeys("matrix show --json releases", keysOf((channels(result).json as never)["releases"]));
});

Deno.test("check-container, list-rpms, workflow-status: vocabulary keys and columns", () => {
  const container = containerResult({
    exists: true,
    attested: true,
    imageTag: `zfs-2.4.4_kernel-${KERNEL}`,
    image: `ghcr.io/o/n:zfs-2.4.4_kernel-${KERNEL}`,
    digest: `sha256:${"4".repeat(64)}`,
  });
  const { json, output } = channels(container);
  assertKeys("check-container --json", keysOf(json));
  assertKeys("check-container $GITHUB_OUTPUT", Object.keys(output.githubOutput!));
  assert.deepEqual(Object.keys(output.githubOutput!), [...CONTAINER_OUTPUTS]);
  const rpms = rpmsResult("ghcr.io/o/n:zfs-2.4.4_kernel-x", [{ folder: "/", rpms: ["a.rpm"] }]);
  assertKeys("list-rpms --json", keysOf(channels(rpms).json));
  assertHeaders("workflow-status", runsTable([]).header, "workflow-status");
});

Deno.test("--help wording of the shared options is the one docs/vocabulary.md gives", () => {
  const help = new Map(
    tableUnder("`--help` wording of shared options").map((row) => [
      ticked(row[0]!)[0]!.split(" ")[0]!,
      ticked(row[1]!)[0]!,
    ]),
  );
  assert.equal(help.get("--json"), SHARED_OPTION_HELP.json);
  assert.equal(help.get("--image"), SHARED_OPTION_HELP.image);
  assert.equal(help.get("--arch"), SHARED_OPTION_HELP.arch);
});

/** The `$GITHUB_OUTPUT` names a task wrote (key=value and key<<DELIMITER lines). */
function outputNames(text: string): string[] {
  return [...text.matchAll(/^([a-z0-9-]+)(?:=|<<)/gm)].map((m) => m[1]!);
}

Deno.test("the tasks as spawned: --json and $GITHUB_OUTPUT keys are the vocabulary's", {
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const tarball = await gitArchiveTarball("zfs-2.4.9", { META: metaText("2.4.9") });
  const standIns = startStandIns();
  const source = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(tarball),
  );
  const env = {
    ...standIns.env,
    ZFS_SOURCE_URL: `http://127.0.0.1:${source.addr.port}`,
    HTTP_RETRIES: "0",
  };
  const runs: [string, string[], boolean][] = [
    ["zfs_version.ts", ["--latest", "--json"], false],
    ["check_compatibility.ts", ["--zfs", "2.4.2", "--kernel", "7.1", "--json"], false],
    ["zfs_tarball_hash.ts", ["2.4.9", "--json"], false],
    ["matrix.ts", ["show", "--json"], false],
    ["matrix.ts", ["check", "--json", "--github-output"], true],
    ["forecast.ts", ["--json", "--github-output"], true],
  ];
  try {
    for (const [file, args, outputs] of runs) {
      await t.step(`${file} ${args.join(" ")}`, async () => {
        const dir = await Deno.makeTempDir();
        try {
          const result = await runTaskFile(file, args, {
            ...env,
            ...(outputs
              ? { GITHUB_OUTPUT: `${dir}/out`, GITHUB_STEP_SUMMARY: `${dir}/summary` }
              : {}),
          });
          assert.ok(result.stdout.startsWith("{") || result.stdout.startsWith("["), result.stderr);
          const json = JSON.parse(result.stdout);
          assertKeys(file, keysOf(json));
          for (const value of Object.values(Array.isArray(json) ? {} : json)) {
            if (Array.isArray(value)) assertKeys(`${file} (rows)`, keysOf(value));
          }
          if (outputs) {
            assertKeys(
              `${file} $GITHUB_OUTPUT`,
              outputNames(await Deno.readTextFile(`${dir}/out`)),
            );
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    }
  } finally {
    await standIns.stop();
    await source.shutdown();
  }
});
