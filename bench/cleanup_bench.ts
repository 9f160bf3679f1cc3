// Cleanup at scale: planning 10,000 package versions (target: well under 100 ms), and
// listing 10,000 versions from a local GitHub API stand-in in pages of 100 (exactly 100
// requests). Run with `deno task bench`.
import { type PackageVersion, planCleanup } from "../lib/cleanup.ts";
import { listPackageVersions } from "../lib/packages.ts";

const COUNT = 10_000;
const PER_PAGE = 100;
const DAY_MS = 86_400_000;
const now = new Date("2025-06-01T00:00:00Z");
const hex = (n: number) => n.toString(16).padStart(64, "0");

/** A package history like the real one: a tagged image, its attestation, untagged layers. */
function versionAt(i: number) {
  const id = 100_000 + i;
  const tags = i % 4 === 0
    ? [`zfs-2.4.${i % 9}_kernel-6.${i % 20}.${i}-200.fc42.x86_64`]
    : i % 4 === 1
    ? [`sha256-${hex(id - 1)}`]
    : [];
  const createdAt = new Date(now.getTime() - Math.floor(i / 8) * DAY_MS).toISOString();
  return { id, name: `sha256:${hex(id)}`, createdAt, tags };
}

const versions: PackageVersion[] = Array.from({ length: COUNT }, (_, i) => versionAt(i)).reverse();

Deno.bench("planCleanup() 10,000 versions", () => {
  planCleanup(versions, { retentionDays: 90, minVersions: 3 }, now);
});

// The REST shape GitHub answers with, pre-serialised per page so the bench measures the client.
const pages = Array.from({ length: Math.ceil(COUNT / PER_PAGE) }, (_, p) =>
  JSON.stringify(
    versions.slice(p * PER_PAGE, (p + 1) * PER_PAGE).map((v) => ({
      id: v.id,
      name: v.name,
      url: `https://api.github.com/orgs/acme/packages/container/x/versions/${v.id}`,
      package_html_url: "https://github.com/orgs/acme/packages/container/package/x",
      created_at: v.createdAt.replace(/\.\d+Z$/, "Z"),
      updated_at: v.createdAt.replace(/\.\d+Z$/, "Z"),
      html_url: `https://github.com/orgs/acme/packages/container/x/${v.id}`,
      metadata: { package_type: "container", container: { tags: v.tags } },
    })),
  ));

let requests = 0;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
  requests++;
  const url = new URL(request.url);
  const page = Number(url.searchParams.get("page") ?? 1);
  const headers = new Headers({ "content-type": "application/json" });
  if (page < pages.length) {
    headers.set(
      "link",
      `<${url.origin}/organizations/1/packages/container/x/versions?per_page=${PER_PAGE}&page=${
        page + 1
      }>; rel="next"`,
    );
  }
  return new Response(pages[page - 1] ?? "[]", { headers });
});
server.unref();
const client = { baseUrl: `http://127.0.0.1:${server.addr.port}`, token: "bench" };
const endpoint = {
  owner: "acme",
  packageName: "x",
  ownerType: "org" as const,
  path: "/orgs/acme/packages/container/x",
};

// One measured run up front, so the request count and wall time are printed once.
{
  requests = 0;
  const started = performance.now();
  const listed = await listPackageVersions(endpoint, client);
  const ms = (performance.now() - started).toFixed(0);
  const planStarted = performance.now();
  const plan = planCleanup(listed.versions, { retentionDays: 90, minVersions: 3 }, now);
  const planMs = (performance.now() - planStarted).toFixed(1);
  console.log(
    `listed ${listed.versions.length} versions in ${ms} ms with ${requests} requests ` +
      `(expected ${Math.ceil(COUNT / PER_PAGE)}); planned in ${planMs} ms: ` +
      `keep ${plan.keepCount}, delete ${plan.deleteCount}`,
  );
  if (requests !== Math.ceil(COUNT / PER_PAGE)) throw new Error(`made ${requests} requests`);
}

Deno.bench("listPackageVersions() 10,000 versions, pages of 100", async () => {
  await listPackageVersions(endpoint, client);
});
