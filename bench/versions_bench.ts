// Version discovery under latency: `versions` of the default target (the official image of
// a known stream), and of the same image given as `--image …/fedora/fedora-coreos:stable`, against a real local registry, an FCOS metadata server and a GitHub API
// stand-in, each answer delayed by 100 ms. Prints wall time and requests per host (target:
// ≤ 5 requests; today 4 in about 2 delays: the tag's index and the stream's releases.json in
// parallel, then the release's commitmeta.json, GitHub beside them; no manifest or config
// blob), beside one `skopeo inspect` (what the shell version ran once per value).
// Run with `deno task bench`.
import { $ } from "zx";
import { discoverVersions } from "../lib/coreos/discover.ts";
import { defaultTarget, loadMatrix, type Matrix } from "../lib/matrix/matrix.ts";
import { chooseZfsRelease, newestOfSeries } from "../lib/matrix/zfs_releases.ts";
import { inspectImage } from "../lib/registry/registry.ts";
import {
  FCOS43,
  FCOS43_KERNEL,
  FCOS43_VERSION,
  pushFixtureImages,
  RELEASES,
  releasesHandler,
} from "../tests/helpers/fcos_fixtures.ts";
import { fcosBuilds } from "../tests/helpers/release_index.ts";
import { startRegistry } from "../tests/helpers/registry.ts";

const DELAY_MS = 100;
let delayMs = DELAY_MS;
const RUNS = 5;
const counts = new Map<string, number>();

/** A loopback server that waits DELAY_MS before every answer and counts requests by host. */
function delayed(label: string, handler: (request: Request) => Response | Promise<Response>) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    counts.set(label, (counts.get(label) ?? 0) + 1);
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return handler(request);
  });
}

const registry = await startRegistry();
const servers: Deno.HttpServer[] = [];
const saved = ["FCOS_BUILDS_URL", "GITHUB_API_URL", "GH_TOKEN"].map((k) =>
  [k, Deno.env.get(k)] as const
);
try {
  const refs = await pushFixtureImages(registry.host, `bench-${crypto.randomUUID().slice(0, 8)}`);
  const front = delayed("registry", async (request) => {
    const url = new URL(request.url);
    const response = await fetch(`http://${registry.host}${url.pathname}${url.search}`, {
      method: request.method,
      headers: { Accept: request.headers.get("accept") ?? "*/*" },
    });
    return new Response(response.body, { status: response.status, headers: response.headers });
  });
  const metadata = delayed(
    "fcos-metadata",
    fcosBuilds({
      stable: [{
        version: FCOS43_VERSION,
        kernels: { x86_64: FCOS43_KERNEL },
        digests: { x86_64: (await inspectImage(refs.fcos43, "x86_64")).manifestDigest },
      }],
    }),
  );
  const github = delayed("github", releasesHandler(RELEASES, 100));
  servers.push(front, metadata, github);
  Deno.env.set("FCOS_BUILDS_URL", `http://127.0.0.1:${metadata.addr.port}`);
  Deno.env.set("GITHUB_API_URL", `http://127.0.0.1:${github.addr.port}`);
  Deno.env.set("GH_TOKEN", "bench");
  const image = refs.fcos43.replace(registry.host, `127.0.0.1:${front.addr.port}`);
  // The common path: the default target of matrix.yaml (its stream known) is the image.
  const loaded = await loadMatrix();
  const matrix: Matrix = {
    ...loaded,
    targets: [{ ...defaultTarget(loaded), image, stream: "stable", arch: "x86_64" }],
  };

  /** Runs discovery RUNS times under latency and prints its figures; fails over budget. */
  const measure = async (what: string, options: Parameters<typeof discoverVersions>[0]) => {
    // The same discovery without added latency: what the local services themselves cost.
    delayMs = 0;
    const baselineStart = performance.now();
    await discoverVersions(options);
    const baseline = performance.now() - baselineStart;
    delayMs = DELAY_MS;
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      counts.clear();
      const started = performance.now();
      const v = await discoverVersions(options);
      times.push(performance.now() - started);
      if (
        v.kernelSource !== "coreos build metadata" ||
        v.kernelVersion !== `${FCOS43.version}-${FCOS43.release}.${FCOS43.arch}`
      ) {
        throw new Error(`unexpected discovery: ${JSON.stringify(v)}`);
      }
    }
    const perHost = [...counts].map(([host, n]) => `${host} ${n}`).join(", ");
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const sorted = times.sort((a, b) => a - b);
    const median = sorted[Math.floor(RUNS / 2)]!;
    console.log(
      `versions (${what}, ${DELAY_MS} ms per answer): median ${median.toFixed(0)} ms, ` +
        `min ${sorted[0]!.toFixed(0)} ms (${(median / DELAY_MS).toFixed(1)} delays) over ` +
        `${RUNS} runs; ${total} requests: ${perHost}; without added latency ` +
        `${baseline.toFixed(0)} ms`,
    );
    if (total > 5) {
      throw new Error(`${total} requests for ${what} (${perHost}; target: at most 5)`);
    }
    if ((counts.get("registry") ?? 0) > 1) {
      throw new Error(`${what} read ${counts.get("registry")} registry answers (1)`);
    }
    if (median > 2.5 * DELAY_MS + baseline + 50) {
      throw new Error(`${what} took ${(median / DELAY_MS).toFixed(1)} delays (target: 2.5)`);
    }
  };

  await measure("official image of the default target", { matrix });
  // An explicit image named …/fedora/fedora-coreos:<stream> that is no matrix target: its
  // stream comes from its name, so it is as fast as a target.
  await $({
    quiet: true,
  })`skopeo copy --all --src-tls-verify=false --dest-tls-verify=false docker://${refs.fcos43} docker://${registry.host}/fedora/fedora-coreos:stable`;
  await measure("--image …/fedora/fedora-coreos:stable, no matrix target", {
    matrix: loaded,
    image: `127.0.0.1:${front.addr.port}/fedora/fedora-coreos:stable`,
  });

  counts.clear();
  const started = performance.now();
  const skopeo = await $({
    quiet: true,
    nothrow: true,
  })`skopeo inspect --tls-verify=false docker://${image}`;
  const skopeoMs = performance.now() - started;
  if (skopeo.exitCode === 0) {
    console.log(
      `one skopeo inspect of the same image: ${skopeoMs.toFixed(0)} ms, ${
        counts.get("registry") ?? 0
      } ` +
        `registry requests (the shell version ran one per value, in sequence)`,
    );
  }
} finally {
  for (const [key, value] of saved) {
    value === undefined ? Deno.env.delete(key) : Deno.env.set(key, value);
  }
  for (const server of servers) await server.shutdown();
  await registry.stop();
}

// deno bench needs a bench: the pure part of discovery, for completeness.
Deno.bench("newestOfSeries() over a releases page", () => {
  newestOfSeries(RELEASES, "2.4");
});

const benchMatrix = await loadMatrix();
Deno.bench("chooseZfsRelease() for a kernel no pinned release supports", () => {
  chooseZfsRelease(benchMatrix, {
    series: "2.4",
    published: ["zfs-2.4.5", "zfs-2.4.4", "zfs-2.4.3", "zfs-2.4.2", "zfs-2.4.1", "zfs-2.4.0"],
    kernel: "7.3.1-100.fc44.x86_64",
  });
});
