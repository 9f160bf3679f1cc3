// GitHub Packages REST for a container package: which endpoint serves the owner (user,
// organisation, or the authenticated user's own), listing every version (all pages,
// validated, before anything is decided) and deleting versions one by one with retries.
import { z } from "zod";
import {
  type CleanupResult,
  type DeleteFailure,
  type PackageVersion,
  RETAINED_NOTE,
  shortDigests,
  tagsText,
} from "./cleanup.ts";
import type { Logger } from "../cli/cli.ts";
import { RemoteError, UsageError } from "../core/errors.ts";
import { sanitizeTerminal } from "../core/sanitize.ts";
import {
  fetchWithRetry,
  getJson,
  isLoopbackRegistry,
  readBytes,
  statusText,
} from "../core/http.ts";
import {
  githubApiUrl,
  type GithubClientOptions,
  githubHeaders,
  githubPaginate,
  type PaginateOptions,
} from "../github/github.ts";

/** A tag as the OCI distribution spec allows it. */
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Pages read at once when listing versions. */
export const LIST_CONCURRENCY = 8;

export type OwnerType = "user" | "org";

/** Where a package's versions live on the REST API. */
export interface PackageEndpoint {
  owner: string;
  packageName: string;
  ownerType: OwnerType;
  /** `/user/packages/container/<name>`, `/users/<owner>/…` or `/orgs/<owner>/…`. */
  path: string;
}

/** A GitHub user or organisation login. */
export const OWNER = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/;
/** A container package name (the image path after the owner, lower case). */
export const PACKAGE_NAME = /^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$/;

/** Validates an owner login. */
export function ownerName(value: string): string {
  if (!OWNER.test(value)) {
    throw new UsageError(`Invalid owner: ${JSON.stringify(value)} (expected a GitHub login)`);
  }
  return value;
}

/** Validates a container package name. */
export function packageName(value: string): string {
  if (!PACKAGE_NAME.test(value)) {
    throw new UsageError(
      `Invalid package name: ${JSON.stringify(value)} (expected e.g. fedora-zfs-kmods)`,
    );
  }
  return value;
}

/**
 * `ghcr.io/<owner>/<package>[:tag]` → registry host, owner and package name. A loopback
 * registry (`127.0.0.1:PORT/<owner>/<package>`) is accepted too, for local stand-ins.
 */
export function packageOfImage(
  image: string,
): { registry: string; owner: string; packageName: string } {
  const match = /^([^/]+)\/([^/]+)\/([^:@]+)(?:[:@].*)?$/.exec(image);
  if (!match || (match[1] !== "ghcr.io" && !isLoopbackRegistry(image))) {
    throw new UsageError(
      `The publish image ${image} is not on ghcr.io: pass --owner and --package`,
    );
  }
  return {
    registry: match[1]!,
    owner: ownerName(match[2]!),
    packageName: packageName(match[3]!),
  };
}

/** The registry repository of a package: `<registry>/<owner>/<package>`, lower case as OCI wants. */
export function packageRepository(registry: string, owner: string, name: string): string {
  return `${registry}/${owner.toLowerCase()}/${name}`;
}

function packagePath(prefix: string, name: string): string {
  return `${prefix}/packages/container/${encodeURIComponent(name)}`;
}

const userSchema = z.object({ login: z.string(), type: z.string().optional() });

/**
 * Chooses the endpoint for a package. An explicit owner type is used as given
 * (`/users/<owner>` or `/orgs/<owner>`); otherwise GET /users/<owner> tells a user from an
 * organisation, and `/user/…` is used only when the owner is the authenticated user.
 */
export async function resolvePackage(
  owner: string,
  name: string,
  options: GithubClientOptions & { ownerType?: OwnerType } = {},
): Promise<PackageEndpoint> {
  ownerName(owner);
  packageName(name);
  const base = options.baseUrl ?? githubApiUrl();
  const init = { headers: githubHeaders(options.token) };
  let ownerType = options.ownerType;
  if (!ownerType) {
    const url = `${base}/users/${owner}`;
    const { body } = await getJson(url, init, options);
    const parsed = userSchema.safeParse(body);
    if (!parsed.success || !["User", "Organization"].includes(parsed.data.type ?? "")) {
      throw new RemoteError(url, 200, "Expected a user or organisation in the answer");
    }
    ownerType = parsed.data.type === "Organization" ? "org" : "user";
    if (ownerType === "user" && await isAuthenticatedUser(owner, base, init, options)) {
      return { owner, packageName: name, ownerType, path: packagePath("/user", name) };
    }
  }
  const prefix = ownerType === "org" ? `/orgs/${owner}` : `/users/${owner}`;
  return { owner, packageName: name, ownerType, path: packagePath(prefix, name) };
}

async function isAuthenticatedUser(
  owner: string,
  base: string,
  init: RequestInit,
  options: GithubClientOptions,
): Promise<boolean> {
  if (!options.token) return false;
  // An Actions GITHUB_TOKEN cannot read /user (403): then it is not a user's own token.
  const response = await fetchWithRetry(`${base}/user`, init, options);
  if (!response.ok) {
    await response.body?.cancel();
    return false;
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(await readBytes(response, `${base}/user`, 1 << 20)));
  } catch {
    return false; // an unreadable answer is not proof of ownership
  }
  const parsed = userSchema.safeParse(body);
  return parsed.success && parsed.data.login.toLowerCase() === owner.toLowerCase();
}

const ACTIONS_PERMISSION = "give the workflow job `permissions: packages: write` and the " +
  "repository Admin access to the package (package settings → Manage Actions access)";

/** Adds the fix to GitHub's 403 "Resource not accessible by integration" (keeps the status). */
function explainForbidden(error: unknown, endpoint: PackageEndpoint): unknown {
  if (!(error instanceof RemoteError) || error.status !== 403) return error;
  if (!/not accessible by integration/i.test(error.message)) return error;
  const fix = endpoint.path.startsWith("/user/")
    ? `this token cannot use the /user/… endpoint: pass --owner-type user (uses ` +
      `/users/${endpoint.owner}/…) or --owner-type org (uses /orgs/${endpoint.owner}/…), ` +
      `and ${ACTIONS_PERMISSION}`
    : ACTIONS_PERMISSION;
  error.message = `${error.message}: ${fix}`;
  return error;
}

const versionSchema = z.object({
  id: z.number().int().positive(),
  // ghcr.io names a version by its digest; case is compared away by the planner
  name: z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, "is not a sha256 digest"),
  // a string here; the planner refuses one that is no RFC 3339 instant, naming the version
  created_at: z.string().max(64, "is not a timestamp"),
  metadata: z.object({
    package_type: z.literal("container"),
    // OCI tag grammar: anything else is not a tag ghcr.io could hold
    container: z.object({ tags: z.array(z.string().regex(OCI_TAG, "is not an OCI tag")) }),
  }),
});

/**
 * Lists every version of the package, reading all pages (100 a page, LIST_CONCURRENCY at a
 * time when GitHub names the last page) before returning. Any failed page or malformed
 * item throws: the caller must not decide on a partial list.
 */
export async function listPackageVersions(
  endpoint: PackageEndpoint,
  options: PaginateOptions = {},
): Promise<{ versions: PackageVersion[]; requests: number }> {
  const path = `${endpoint.path}/versions?per_page=100`;
  let items: unknown[];
  let requests: number;
  try {
    ({ items, requests } = await githubPaginate<unknown>(path, {
      concurrency: LIST_CONCURRENCY,
      ...options,
    }));
  } catch (error) {
    throw explainForbidden(error, endpoint);
  }
  const url = `${options.baseUrl ?? githubApiUrl()}${path}`;
  const versions = items.map((item, i): PackageVersion => {
    const parsed = versionSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new RemoteError(
        url,
        200,
        `Malformed package version #${i + 1} (${issue.path.join(".")} ${issue.message})`,
      );
    }
    const v = parsed.data;
    return { id: v.id, name: v.name, createdAt: v.created_at, tags: v.metadata.container.tags };
  });
  return { versions, requests };
}

/**
 * The start of GitHub's refusal to delete a public version with more than 5,000 downloads
 * (REFERENCE.md "GitHub REST"), and the statuses it may come with (GitHub does not document
 * which: the ones a refused request gets).
 */
export const DOWNLOADS_REFUSAL =
  "Publicly visible package versions with more than 5000 downloads cannot be deleted";
const DOWNLOADS_REFUSAL_STATUSES: readonly number[] = [400, 403, 409, 422];

/** What a refused DELETE means. */
export type DeleteRefusal =
  | { kind: "permission"; hint: string }
  | { kind: "downloads" }
  | { kind: "other" };

const PERMISSION_WORDS =
  /not accessible by integration|admin|permission|scope|must have|forbidden|requires authentication|bad credentials/i;

/**
 * Sorts a refused DELETE (pure): permission failures first (a 401, a 403 that names access,
 * or a token whose `x-oauth-scopes` lack delete:packages), with the hint that names what is
 * missing; then GitHub's 5,000-downloads refusal, by its status and the start of its message;
 * anything else is a plain failure.
 */
export function classifyDeleteRefusal(
  status: number,
  message: string,
  oauthScopes?: string | null,
): DeleteRefusal {
  const scopes = oauthScopes?.split(",").map((s) => s.trim()).filter(Boolean);
  if (status === 401) {
    return {
      kind: "permission",
      hint:
        "the token is not accepted: set GH_TOKEN to a token with read:packages and delete:packages",
    };
  }
  if (status === 403 || status === 404) {
    if (scopes && !scopes.includes("delete:packages")) {
      return {
        kind: "permission",
        hint: `the token lacks the delete:packages scope (it has: ${scopes.join(", ") || "none"})`,
      };
    }
    if (/not accessible by integration/i.test(message)) {
      return { kind: "permission", hint: ACTIONS_PERMISSION };
    }
    if (status === 403 && PERMISSION_WORDS.test(message)) {
      return {
        kind: "permission",
        hint: "the token needs delete:packages (a personal access token) or, as GITHUB_TOKEN, " +
          ACTIONS_PERMISSION.replace(/^give /, ""),
      };
    }
  }
  const start = message.trimStart().slice(0, DOWNLOADS_REFUSAL.length);
  if (
    DOWNLOADS_REFUSAL_STATUSES.includes(status) &&
    start.toLowerCase() === DOWNLOADS_REFUSAL.toLowerCase()
  ) {
    return { kind: "downloads" };
  }
  return { kind: "other" };
}

/** The server's JSON `message` (first line, no control characters, at most 300), or "". */
async function refusalMessage(response: Response, url: string): Promise<string> {
  try {
    const body = new TextDecoder().decode(await readBytes(response, url, 64 * 1024));
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === "string") {
      // deno-lint-ignore no-control-regex -- removing them is the point
      return message.split("\n")[0]!.replace(/[\x00-\x1f\x7f-\x9f]/g, "").slice(0, 300);
    }
  } catch {
    // no JSON body (or too big, or cut off): the status says enough
  }
  return "";
}

/**
 * Deletes one version; 5xx and rate limits are retried, GitHub's 5,000-downloads refusal means
 * GitHub retains it. A 404 is "gone" only when the version no longer answers either: GitHub also
 * answers 404 to a token without admin rights on the package. Any other refusal throws.
 */
export async function deletePackageVersion(
  endpoint: PackageEndpoint,
  id: number,
  options: GithubClientOptions = {},
): Promise<"deleted" | "gone" | "retained"> {
  const url = `${options.baseUrl ?? githubApiUrl()}${endpoint.path}/versions/${id}`;
  const response = await fetchWithRetry(
    url,
    { method: "DELETE", headers: githubHeaders(options.token) },
    options,
  );
  if (response.ok) {
    await response.body?.cancel();
    return "deleted";
  }
  const message = await refusalMessage(response, url);
  // A retried DELETE whose first attempt went through answers 404, and so does a DELETE by a
  // token without admin rights on the package: only a version that is no longer there is gone.
  const refusal = classifyDeleteRefusal(
    response.status,
    message,
    response.headers.get("x-oauth-scopes"),
  );
  if (response.status === 404) {
    const left = await stillThere(url, options);
    if (left === false) return "gone";
    // the token's missing scope when it tells, else the admin rights GitHub's 404 hides
    const hint = refusal.kind === "permission"
      ? refusal.hint
      : `${
        left ? "the version is still there" : "cannot tell whether the version is gone"
      }; GitHub answers 404 to a token without admin rights on the package: ${ACTIONS_PERMISSION}` +
        ", or use a personal access token with delete:packages";
    throw new RemoteError(
      url,
      404,
      `${statusText(response)}${message ? ` (${message})` : ""}: ${hint}`,
    );
  }
  if (refusal.kind === "downloads") return "retained";
  const error = new RemoteError(
    url,
    response.status,
    statusText(response) + (message ? ` (${message})` : ""),
  );
  if (refusal.kind === "permission") {
    const user = endpoint.path.startsWith("/user/") && /not accessible/i.test(message);
    if (user) throw explainForbidden(error, endpoint);
    error.message = `${error.message}: ${refusal.hint}`;
  }
  throw error;
}

/** Whether a version still answers (GET …/versions/<id>): true, false on a 404, else undefined. */
async function stillThere(url: string, options: GithubClientOptions): Promise<boolean | undefined> {
  try {
    const response = await fetchWithRetry(url, { headers: githubHeaders(options.token) }, options);
    await response.body?.cancel();
    return response.ok ? true : response.status === 404 ? false : undefined;
  } catch {
    return undefined; // a network failure: the deletion is not confirmed
  }
}

/**
 * Deletes versions one at a time (GitHub asks for serial writes), reporting progress as
 * "N of M", and keeps going past failures. Returns what was deleted, what GitHub retains
 * (over 5,000 downloads) and what failed.
 */
export async function deleteVersions(
  endpoint: PackageEndpoint,
  versions: readonly PackageVersion[],
  options: GithubClientOptions & { logger: Logger },
): Promise<CleanupResult> {
  const deleted: number[] = [];
  const retained: number[] = [];
  const failed: DeleteFailure[] = [];
  const started = performance.now();
  for (const [i, version] of versions.entries()) {
    const step = `[${i + 1} of ${versions.length}]`;
    const label = sanitizeTerminal(shortDigests(`${version.id} (${tagsText(version)})`));
    try {
      const result = await deletePackageVersion(endpoint, version.id, options);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (result === "retained") {
        retained.push(version.id);
        options.logger.info(`${step} ${label} ${RETAINED_NOTE} ${seconds} s`);
        continue;
      }
      deleted.push(version.id);
      options.logger.info(
        `${step} ${result === "gone" ? "already gone" : "deleted"} ${label} ${seconds} s`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const status = error instanceof RemoteError ? error.status : undefined;
      failed.push({ id: version.id, status, message });
      options.logger.warn(`${step} cannot delete ${label}: ${sanitizeTerminal(message)}`);
    }
  }
  return { deleted, retained, failed };
}
