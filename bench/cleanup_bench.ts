// Cleanup at scale. Listing 10,000 package versions from a local GitHub API stand-in that
// answers each page after 50 ms (target: ≤ 1.0 s with exactly ceil(N/100) requests, pages
// read 8 at a time; sequential for comparison), planning 10,000 versions, and planning plus
// printing 10k/100k/300k versions in a subprocess each, to report its peak RSS.
// Run with `deno task bench`.
import { type PackageVersion, planCleanup } from "../lib/cleanup/cleanup.ts";
import { listPackageVersions } from "../lib/cleanup/packages.ts";
import { bigHistory } from "./cleanup_scale.ts";

const COUNT = 10_000;
const PER_PAGE = 100;
const LATENCY_MS = 50;
const now = new Date("2025-06-01T00:00:00Z");

const { versions, references } = bigHistory(COUNT, now);

Deno.bench("planCleanup() 10,000 versions with references", () => {
  planCleanup(versions, { retentionDays: 90, minVersions: 3 }, now, references);
});

// The REST shape GitHub answers with, pre-serialised per page so the bench measures the client.
const restItem = (v: PackageVersion) => ({
  id: v.id,
  name: v.name,
  url: `https://api.github.com/orgs/acme/packages/container/x/versions/${v.id}`,
  package_html_url: "https://github.com/orgs/acme/packages/container/package/x",
  created_at: v.createdAt.replace(/\.\d+Z$/, "Z"),
  updated_at: v.createdAt.replace(/\.\d+Z$/, "Z"),
  html_url: `https://github.com/orgs/acme/packages/container/x/${v.id}`,
  metadata: { package_type: "container", container: { tags: v.tags } },
});
const pageCount = Math.ceil(COUNT / PER_PAGE);
const pages = Array.from(
  { length: pageCount },
  (_, p) => JSON.stringify(versions.slice(p * PER_PAGE, (p + 1) * PER_PAGE).map(restItem)),
);

let requests = 0;
let latencyMs = 0;
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    requests++;
    if (latencyMs) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const url = new URL(request.url);
    const page = Number(url.searchParams.get("page") ?? 1);
    const headers = new Headers({ "content-type": "application/json" });
    const link = (n: number) =>
      `<${url.origin}/organizations/1/packages/container/x/versions?per_page=${PER_PAGE}&page=${n}>`;
    if (page < pageCount) {
      headers.set("link", `${link(page + 1)}; rel="next", ${link(pageCount)}; rel="last"`);
    }
    return new Response(pages[page - 1] ?? "[]", { headers });
  },
);
server.unref();
const client = { baseUrl: `http://127.0.0.1:${server.addr.port}`, token: "bench" };
const endpoint = {
  owner: "acme",
  packageName: "x",
  ownerType: "org" as const,
  path: "/orgs/acme/packages/container/x",
};

/** One listing under the stand-in's latency; checks the request count. */
async function measureListing(concurrency: number): Promise<number> {
  requests = 0;
  latencyMs = LATENCY_MS;
  const started = performance.now();
  const listed = await listPackageVersions(endpoint, { ...client, concurrency });
  const ms = performance.now() - started;
  latencyMs = 0;
  if (listed.versions.length !== COUNT) throw new Error(`listed ${listed.versions.length}`);
  if (requests !== pageCount) throw new Error(`made ${requests} requests, not ${pageCount}`);
  return ms;
}

// Measured once up front, so the figures are printed once; a first listing without latency
// warms the JIT up, as Deno.bench does before it measures.
{
  await listPackageVersions(endpoint, client);
  const concurrent = await measureListing(8);
  const sequential = await measureListing(1);
  console.log(
    `listing ${COUNT} versions at ${LATENCY_MS} ms per answer, ${pageCount} requests each: ` +
      `${concurrent.toFixed(0)} ms 8 at a time (target ≤ 1000 ms: ` +
      `${concurrent <= 1000 ? "met" : "NOT MET"}), ${sequential.toFixed(0)} ms sequential`,
  );
  const scale = new URL("./cleanup_scale.ts", import.meta.url).pathname;
  for (const size of [10_000, 100_000, 300_000]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", scale, String(size)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.code === 0 ? output.stdout : output.stderr);
    if (output.code !== 0) throw new Error(`planning ${size} versions failed: ${text}`);
    console.log(text.trim());
  }
}

Deno.bench("listPackageVersions() 10,000 versions, pages of 100, no latency", async () => {
  await listPackageVersions(endpoint, client);
});
