// A stand-in for GitHub Packages (the REST routes cleanup uses, pages of `per_page` with
// `Link` headers, DELETE) and, on the same port, for the package's registry repository
// (`GET /v2/<owner>/<package>/manifests/<digest>`), answering with documented shapes and
// the real services' quirks (the 5,000-downloads refusal, rate limits, failures).
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { basicMatches } from "./auth_proxy.ts";
import { json, type TestServer, withServer } from "./server.ts";

export const PACKAGE = "fedora-zfs-kmods";
/** The layer-cache package beside it (matrix.yaml publish.cache). */
export const CACHE_PACKAGE = "fedora-zfs-kmods-cache";
const DAY_MS = 86_400_000;
const REGISTRY_TOKEN = "registry-token-0123";
const encoder = new TextEncoder();

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** GitHub's refusal for a public version with over 5,000 downloads (REFERENCE.md wording). */
export const DOWNLOADS_MESSAGE = "Publicly visible package versions with more than 5000 " +
  "downloads cannot be deleted. Contact GitHub support for further assistance.";

/** sha256 of bytes as `sha256:<hex>`. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The 64 hex digits of a digest. */
export const hexOf = (digest: string) => digest.slice("sha256:".length);

/** A small, distinct OCI image manifest (the seed makes it unique) and its digest. */
export function imageManifest(seed: string | number): { bytes: Uint8Array; digest: string } {
  const configHex = createHash("sha256").update(`config ${seed}`).digest("hex");
  const bytes = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${configHex}`,
      size: 2,
    },
    layers: [],
  }));
  return { bytes, digest: digestOf(bytes) };
}

/** An OCI index listing `children` (descriptors), and its digest. */
export function imageIndex(
  children: { digest: string; mediaType?: string; platform?: Record<string, string> }[],
): { bytes: Uint8Array; digest: string } {
  const bytes = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, size: 100, ...c })),
  }));
  return { bytes, digest: digestOf(bytes) };
}

export interface VersionJson {
  id: number;
  name: string;
  url: string;
  package_html_url: string;
  created_at: string;
  updated_at: string;
  html_url: string;
  metadata: { package_type: "container"; container: { tags: string[] } };
}

/** A package version as GitHub lists it. */
export function versionJson(
  id: number,
  ageDays: number,
  tags: string[],
  name: string,
): VersionJson {
  const created = new Date(Date.now() - ageDays * DAY_MS).toISOString().replace(/\.\d+Z$/, "Z");
  return {
    id,
    name,
    url: `https://api.github.com/orgs/acme/packages/container/${PACKAGE}/versions/${id}`,
    package_html_url: `https://github.com/orgs/acme/packages/container/package/${PACKAGE}`,
    created_at: created,
    updated_at: created,
    html_url: `https://github.com/orgs/acme/packages/container/${PACKAGE}/${id}`,
    metadata: { package_type: "container", container: { tags } },
  };
}

export interface History {
  versions: VersionJson[];
  /** digest → manifest bytes, what the registry stand-in serves. */
  manifests: Map<string, Uint8Array>;
}

/**
 * `count` versions, one a day (ages 0.5 … count − 0.5 days), each a real manifest: every
 * tenth has a versioned tag, the one after it is that image's attestation
 * (`sha256-<digest>`), the rest are untagged.
 */
export function history(count = 260): History {
  const manifests = new Map<string, Uint8Array>();
  const versions: VersionJson[] = [];
  for (let i = 0; i < count; i++) {
    const id = 5000 + i;
    const { bytes, digest } = imageManifest(id);
    manifests.set(digest, bytes);
    const tags = i % 10 === 0
      ? [`zfs-2.4.${i % 7}_kernel-6.${i % 20}.${i}-200.fc42.x86_64`]
      : i % 10 === 1
      ? [`sha256-${hexOf(versions[i - 1]!.name)}`]
      : [];
    versions.push(versionJson(id, i + 0.5, tags, digest));
  }
  return { versions, manifests };
}

export interface FakeGithub {
  owner: string;
  /** The package served (default PACKAGE). */
  packageName?: string;
  ownerType: "User" | "Organization";
  /** The login of the token's user; undefined → GET /user answers 403 like an Actions token. */
  login?: string;
  orgId?: number;
  versions: VersionJson[];
  /** What the registry serves, by digest; a digest not here answers 404 MANIFEST_UNKNOWN. */
  manifests?: Map<string, Uint8Array>;
  /**
   * Answers to send, in order, before the normal one, keyed by "GET page N", "GET id",
   * "DELETE id" or "MANIFEST digest".
   */
  script?: Record<string, (() => Response | Promise<Response>)[]>;
  /** Versions whose DELETE GitHub refuses for their downloads (400, as a validation failure). */
  popular?: Set<number>;
  /**
   * The token lists the package but has no admin rights on it (a GITHUB_TOKEN whose repository
   * lacks Admin access): GitHub then answers every DELETE 404 "Package not found.".
   */
  noPackageAdmin?: boolean;
  /**
   * The token's classic scopes, sent as `x-oauth-scopes` on every REST answer (a personal
   * access token); a DELETE without `delete:packages` among them answers 403 as GitHub does.
   */
  scopes?: string[];
  /** Added to every page answer, so concurrent reads overlap. */
  delayMs?: number;
  /** Send no `rel="last"` link (clients must then read page after page). */
  noLast?: boolean;
  /**
   * A private package, as every new ghcr.io package is: the registry answers 401 with a Bearer
   * challenge, and its token endpoint gives a token only for Basic `<any user>:<password>`.
   */
  privateRegistry?: { password: string };
  /** Filled in: the most version-list pages that were being answered at once. */
  stats?: { inFlight: number; maxInFlight: number };
}

/** The DELETE requests the stand-in was sent. */
export const deletes = (server: TestServer) => server.requests.filter((r) => r.method === "DELETE");

/** The version ids DELETE was sent for, in ascending order. */
export const deletedIds = (server: TestServer) =>
  deletes(server).map((r) => Number(r.path.split("/").pop())).toSorted((a, b) => a - b);

/** The GitHub REST and registry routes cleanup uses, with pages and `Link` headers. */
export function github(fake: FakeGithub) {
  const name = fake.packageName ?? PACKAGE;
  const pkg = `/packages/container/${name}/versions`;
  const rest = routes(fake, name, pkg);
  return async (request: Request, server: TestServer): Promise<Response> => {
    const response = await rest(request, server);
    if (fake.scopes && !new URL(request.url).pathname.startsWith("/v2/")) {
      response.headers.set("x-oauth-scopes", fake.scopes.join(", "));
    }
    return response;
  };
}

function routes(fake: FakeGithub, name: string, pkg: string) {
  return async (request: Request, server: TestServer): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    const scripted = (key: string) => fake.script?.[key]?.shift()?.();
    if (path === "/v2/") return json({});
    const manifest = new RegExp(`^/v2/${fake.owner.toLowerCase()}/${name}/manifests/(.+)$`)
      .exec(path);
    const closed = fake.privateRegistry;
    if (closed && path === "/token") {
      if (!basicMatches(request.headers.get("authorization"), closed)) {
        return json({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, {
          status: 401,
          headers: { "www-authenticate": `Basic realm="${server.url}/token"` },
        });
      }
      return json({ token: REGISTRY_TOKEN, expires_in: 300 });
    }
    if (closed && manifest && request.headers.get("authorization") !== `Bearer ${REGISTRY_TOKEN}`) {
      const scope = `repository:${fake.owner.toLowerCase()}/${name}:pull`;
      return json({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, {
        status: 401,
        headers: {
          "www-authenticate":
            `Bearer realm="${server.url}/token",service="ghcr.io",scope="${scope}"`,
        },
      });
    }
    if (manifest && request.method === "GET") {
      const answer = scripted(`MANIFEST ${manifest[1]}`);
      if (answer) return answer;
      const bytes = fake.manifests?.get(manifest[1]!);
      if (!bytes) {
        return json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }, {
          status: 404,
        });
      }
      const type = JSON.parse(new TextDecoder().decode(bytes)).mediaType;
      return new Response(bytes as BufferSource, {
        headers: { "content-type": type, "docker-content-digest": manifest[1]! },
      });
    }
    if (path === `/users/${fake.owner}`) {
      return json({ login: fake.owner, id: 4242, type: fake.ownerType });
    }
    if (path === "/user") {
      return fake.login
        ? json({ login: fake.login, id: 1, type: "User" })
        : json({ message: "Resource not accessible by integration" }, { status: 403 });
    }
    const prefixes = fake.ownerType === "Organization"
      ? [`/orgs/${fake.owner}`, `/organizations/${fake.orgId}`]
      : [`/users/${fake.owner}`, `/user`];
    const prefix = prefixes.find((p) => path.startsWith(`${p}${pkg}`));
    if (!prefix) return json({ message: "Not Found" }, { status: 404 });
    if (request.method === "GET" && path === `${prefix}${pkg}`) {
      const stats = fake.stats ??= { inFlight: 0, maxInFlight: 0 };
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        if (fake.delayMs) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
      } finally {
        stats.inFlight--;
      }
      const page = Number(url.searchParams.get("page") ?? 1);
      // GitHub's default is 30 and it serves at most 100, whatever per_page asks for
      const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
      const answer = scripted(`GET page ${page}`);
      if (answer) return answer;
      const items = fake.versions.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      const last = Math.max(1, Math.ceil(fake.versions.length / perPage));
      // GitHub's links for an organisation point at /organizations/<id>/…
      const at = fake.ownerType === "Organization" ? `/organizations/${fake.orgId}` : prefix;
      const link = (n: number, rel: string) =>
        `<${server.url}${at}${pkg}?per_page=${perPage}&page=${n}>; rel="${rel}"`;
      const links: string[] = [];
      if (page < last) links.push(link(page + 1, "next"));
      if (page < last && !fake.noLast) links.push(link(last, "last"));
      if (page > 1) links.push(link(page - 1, "prev"), link(1, "first"));
      if (links.length) headers.link = links.join(", ");
      return json(items, { headers });
    }
    const id = Number(path.slice(`${prefix}${pkg}/`.length));
    if (request.method === "GET" && id) {
      const answer = scripted(`GET ${id}`);
      if (answer) return answer;
      const version = fake.versions.find((v) => v.id === id);
      return version ? json(version) : json({ message: "Not Found" }, { status: 404 });
    }
    if (request.method === "DELETE" && id) {
      const answer = scripted(`DELETE ${id}`);
      if (answer) return answer;
      if (fake.scopes && !fake.scopes.includes("delete:packages")) {
        return json({
          message: "Must have admin rights to Repository.",
          documentation_url: "https://docs.github.com/rest/packages/packages",
        }, { status: 403 });
      }
      if (fake.noPackageAdmin) {
        return json({
          message: "Package not found.",
          documentation_url:
            "https://docs.github.com/rest/packages/packages#delete-package-version-for-an-organization",
        }, { status: 404 });
      }
      if (fake.popular?.has(id)) return json({ message: DOWNLOADS_MESSAGE }, { status: 400 });
      const index = fake.versions.findIndex((v) => v.id === id);
      if (index < 0) return json({ message: "Package version not found." }, { status: 404 });
      fake.versions.splice(index, 1);
      return new Response(null, { status: 204 });
    }
    return json({ message: "Not Found" }, { status: 404 });
  };
}

/** A copy of matrix.yaml whose publish.image is `image` (and publish.cache `cache`); returns its path. */
async function matrixPublishing(image: string, cache?: string): Promise<string> {
  const source = fileURLToPath(new URL("../../matrix.yaml", import.meta.url));
  const text = await Deno.readTextFile(source);
  let replaced = text.replace(
    /^(publish:\n {2}image: ).*$/m,
    (_, head: string) => `${head}${image}`,
  );
  if (replaced === text) throw new Error("matrix.yaml has no publish.image line to replace");
  if (cache) {
    const before = replaced;
    replaced = replaced.replace(/^( {2}cache: ).*$/m, (_, head: string) => `${head}${cache}`);
    if (replaced === before) throw new Error("matrix.yaml has no publish.cache line to replace");
  }
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(path, replaced);
  return path;
}

/**
 * Starts the stand-in and a matrix.yaml publishing to it
 * (`127.0.0.1:PORT/<owner>/fedora-zfs-kmods`, or to `options.image`, e.g. a real registry's
 * repository), runs `action`, cleans up.
 */
export async function withPackages<T>(
  fake: FakeGithub,
  action: (server: TestServer, env: Record<string, string>) => Promise<T>,
  options: { image?: string } = {},
): Promise<T> {
  return await withServer(github(fake), async (server) => {
    const matrix = await matrixPublishing(
      options.image ?? `127.0.0.1:${server.port}/${fake.owner.toLowerCase()}/${PACKAGE}`,
      `127.0.0.1:${server.port}/${fake.owner.toLowerCase()}/${CACHE_PACKAGE}`,
    );
    try {
      return await action(server, { MATRIX_FILE: matrix, GITHUB_API_URL: server.url });
    } finally {
      await Deno.remove(matrix);
    }
  });
}
