// Domain lib/github/ — GitHub: the REST API (base URL, token, pagination) and the gh CLI
// (gh.ts, gh_hint.ts). May import: lib/core/. See docs/architecture.md.
//
// GitHub REST: base URL (GITHUB_API_URL), token discovery and paginated reads. Pagination
// follows Link URLs only to the API's own origin, never reads a page twice and stops at a
// page cap counted in requests, so neither the token nor the process can be led astray.
import { RemoteError } from "../core/errors.ts";
import { getJson, httpUrl, type RetryOptions } from "../core/http.ts";
import { envUrl } from "../core/settings.ts";

/**
 * The REST base URL: GITHUB_API_URL (the Actions convention, validated: no query or fragment,
 * https unless a loopback stand-in, since the token goes there) or api.github.com.
 */
export function githubApiUrl(): string {
  return envUrl("GITHUB_API_URL", "https://api.github.com", { httpsUnlessLoopback: true });
}

/** How long `gh auth token` may take before it counts as "no token". */
const GH_AUTH_TIMEOUT_MS = 10_000;

/**
 * GH_TOKEN, GITHUB_TOKEN, else `gh auth token` when gh is installed and answers within
 * `timeoutMs` (default 10 s), else none.
 */
export async function githubToken(
  options: { timeoutMs?: number } = {},
): Promise<string | undefined> {
  const fromEnv = Deno.env.get("GH_TOKEN") || Deno.env.get("GITHUB_TOKEN");
  if (fromEnv) return fromEnv.trim() || undefined;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("gh", {
      args: ["auth", "token"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch {
    return undefined; // gh is not installed (or may not be run)
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, options.timeoutMs ?? GH_AUTH_TIMEOUT_MS);
  try {
    const { code, stdout } = await child.output();
    const token = new TextDecoder().decode(stdout).trim();
    // A token is one line of printable characters; anything else is not one.
    return code === 0 && /^[\x21-\x7e]{1,1000}$/.test(token) ? token : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Request headers for the GitHub REST API, with the token when there is one. */
export function githubHeaders(token: string | undefined): HeadersInit {
  return {
    Accept: "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "fedora-zfs-kmods",
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
  };
}

/** The URL of one relation (`next`, `last`) in a Link header, verbatim. */
export function linkOf(link: string | null, rel: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.slice(0, 16_384).split(",")) {
    const match = /<([^>]*)>\s*;\s*rel="?([a-z ]+)"?/.exec(part);
    if (match && match[2]!.split(" ").includes(rel)) return match[1];
  }
  return undefined;
}

/** The `rel="next"` URL of a Link header, verbatim. */
export function nextLink(link: string | null): string | undefined {
  return linkOf(link, "next");
}

export interface GithubClientOptions extends RetryOptions {
  baseUrl?: string;
  token?: string;
}

export interface PaginateOptions extends GithubClientOptions {
  /** Pages read at once when the first page names the last one (default 1: sequential). */
  concurrency?: number;
  /** Most page requests made before giving up (default MAX_PAGES), repeats included. */
  maxPages?: number;
  /**
   * Refuse a link back to a page already read (default true). The page cap holds without
   * it; tests turn it off to check that the cap alone stops a loop.
   */
  refuseRepeatedPages?: boolean;
  /** Largest page in bytes (default 32 MiB). */
  maxPageBytes?: number;
}

/** Default page cap: 10,000 pages, a million items at 100 a page. */
export const MAX_PAGES = 10_000;
/** Default size cap of one page: 32 MiB. */
export const MAX_PAGE_BYTES = 32 * 1024 * 1024;

/**
 * A pagination URL from a server, resolved against the page that named it, accepted only
 * on the API's own origin (scheme, host and port): the token is sent to nowhere else.
 */
export function sameOriginLink(link: string, from: string, origin: string): string {
  const url = httpUrl(link, from);
  if (url.origin !== origin) {
    throw new RemoteError(
      from,
      undefined,
      `Refusing to follow a pagination link to another origin (${url.origin.slice(0, 100)})`,
    );
  }
  return url.href;
}

/** The URL of page `n`, taking the `last` link as the template (its `page` query set to n). */
function pageUrl(last: URL, n: number): string {
  const url = new URL(last);
  url.searchParams.set("page", String(n));
  return url.href;
}

/** One page of a GitHub list: its items (a JSON array, or an error) and its Link header. */
async function readListPage<T>(
  url: string,
  headers: HeadersInit,
  options: PaginateOptions,
): Promise<{ items: T[]; link: string | null }> {
  const { body, response }: { body: unknown; response: Response } = await getJson(
    url,
    { headers },
    { ...options, maxBytes: options.maxPageBytes ?? MAX_PAGE_BYTES },
  );
  if (!Array.isArray(body)) {
    throw new RemoteError(url, response.status, "Expected a JSON array in the answer");
  }
  return { items: body as T[], link: response.headers.get("link") };
}

/** Reads every URL, at most `concurrency` at a time; the results in the URLs' order. */
async function readAll<R>(
  urls: string[],
  concurrency: number,
  read: (url: string) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(urls.length);
  let nextIndex = 0;
  let failed = false;
  // Once one page fails, the other workers take no new page (the answer is an error anyway).
  const worker = async () => {
    while (!failed && nextIndex < urls.length) {
      const index = nextIndex++;
      try {
        results[index] = await read(urls[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.min(concurrency, urls.length); i++) workers.push(worker());
  await Promise.all(workers);
  return results;
}

/**
 * Reads every page of a GitHub list endpoint before returning (no partial answers). With
 * `concurrency > 1` and a `rel="last"` link on the first page, the other pages are read
 * at most `concurrency` at a time; items come back in page order either way.
 */
export async function githubPaginate<T>(
  path: string,
  options: PaginateOptions = {},
): Promise<{ items: T[]; requests: number }> {
  const base = options.baseUrl ?? githubApiUrl();
  const origin = httpUrl(base).origin;
  const first = path.startsWith("http")
    ? sameOriginLink(path, base, origin)
    : httpUrl(`${base}${path}`).href;
  const maxPages = Math.max(1, options.maxPages ?? MAX_PAGES);
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, 16));
  const headers = githubHeaders(options.token);
  const refuseRepeats = options.refuseRepeatedPages ?? true;
  const seen = new Set<string>();
  const pages: T[][] = [];
  let requests = 0;
  // Pages claimed: every request counts toward the cap, distinct URL or not.
  let claimed = 0;

  const readPage = (url: string) => {
    requests++;
    return readListPage<T>(url, headers, options);
  };
  const claim = (url: string) => {
    if (refuseRepeats && seen.has(url)) {
      throw new RemoteError(url, undefined, "Pagination points back to a page already read");
    }
    if (claimed >= maxPages) {
      throw new RemoteError(url, undefined, `More than ${maxPages} pages, giving up`);
    }
    claimed++;
    seen.add(url);
  };

  claim(first);
  let page = await readPage(first);
  pages.push(page.items);
  let from = first;

  const lastHref = linkOf(page.link, "last");
  const lastUrl = lastHref ? new URL(sameOriginLink(lastHref, first, origin)) : undefined;
  const lastPage = Number(lastUrl?.searchParams.get("page"));
  if (concurrency > 1 && lastUrl && Number.isSafeInteger(lastPage) && lastPage >= 2) {
    if (lastPage > maxPages) {
      throw new RemoteError(lastUrl.href, undefined, `More than ${maxPages} pages, giving up`);
    }
    const urls: string[] = [];
    for (let n = 2; n <= lastPage; n++) {
      const url = pageUrl(lastUrl, n);
      claim(url);
      urls.push(url);
    }
    const results = await readAll(urls, concurrency, readPage);
    for (const result of results) pages.push(result.items);
    page = results[results.length - 1]!;
    from = urls[urls.length - 1]!;
  }

  // Sequential: from the first page, or on from the last one when the list grew meanwhile.
  for (;;) {
    const next = nextLink(page.link);
    if (!next) break;
    const url = sameOriginLink(next, from, origin);
    claim(url);
    page = await readPage(url);
    pages.push(page.items);
    from = url;
  }

  const items: T[] = [];
  for (const list of pages) for (const item of list) items.push(item);
  return { items, requests };
}
