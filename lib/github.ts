// GitHub REST: base URL (GITHUB_API_URL), token discovery and paginated reads.
import { $ } from "zx";
import { RemoteError } from "./errors.ts";
import { getJson, type RetryOptions } from "./http.ts";

/** The REST base URL: GITHUB_API_URL (the Actions convention) or api.github.com. */
export function githubApiUrl(): string {
  return (Deno.env.get("GITHUB_API_URL") ?? "https://api.github.com").replace(/\/+$/, "");
}

/** GH_TOKEN, GITHUB_TOKEN, else `gh auth token` when gh is installed, else none. */
export async function githubToken(): Promise<string | undefined> {
  const fromEnv = Deno.env.get("GH_TOKEN") || Deno.env.get("GITHUB_TOKEN");
  if (fromEnv) return fromEnv;
  try {
    const result = await $({ quiet: true, nothrow: true, timeout: "10s" })`gh auth token`;
    const token = result.stdout.trim();
    return result.exitCode === 0 && token ? token : undefined;
  } catch {
    return undefined; // gh is not installed
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

/** The `rel="next"` URL of a Link header, verbatim. */
export function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return match[1];
  }
  return undefined;
}

export interface GithubClientOptions extends RetryOptions {
  baseUrl?: string;
  token?: string;
}

/** Reads every page of a GitHub list endpoint before returning (no partial answers). */
export async function githubPaginate<T>(
  path: string,
  options: GithubClientOptions = {},
): Promise<{ items: T[]; requests: number }> {
  const base = options.baseUrl ?? githubApiUrl();
  let url: string | undefined = path.startsWith("http") ? path : `${base}${path}`;
  const headers = githubHeaders(options.token);
  const items: T[] = [];
  let requests = 0;
  while (url) {
    const { body, response }: { body: unknown; response: Response } = await getJson(
      url,
      { headers },
      options,
    );
    requests++;
    if (!Array.isArray(body)) {
      throw new RemoteError(url, response.status, "Expected a JSON array in the answer");
    }
    items.push(...(body as T[]));
    url = nextLink(response.headers.get("link"));
  }
  return { items, requests };
}
