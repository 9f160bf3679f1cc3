// Plain fetch with a timeout per attempt and bounded retries with backoff for network
// errors, 5xx and rate limits. Every failure names the URL and the status.
import { RemoteError } from "./errors.ts";

export interface RetryOptions {
  /** Milliseconds before one attempt is abandoned (default 30 s). */
  timeoutMs?: number;
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First backoff in milliseconds, doubled each retry (default 500). */
  backoffMs?: number;
  /** Longest wait a `retry-after` or `x-ratelimit-reset` may ask for (default 60 s). */
  maxWaitMs?: number;
  /** The fetch to use (tests pass one that counts). */
  fetch?: typeof fetch;
}

const env = (name: string) => Deno.env.get(name);

/** Defaults, overridable by HTTP_TIMEOUT_MS / HTTP_RETRIES / HTTP_BACKOFF_MS. */
export function defaultRetryOptions(): Required<Omit<RetryOptions, "fetch">> {
  return {
    timeoutMs: Number(env("HTTP_TIMEOUT_MS") ?? 30_000),
    retries: Number(env("HTTP_RETRIES") ?? 3),
    backoffMs: Number(env("HTTP_BACKOFF_MS") ?? 500),
    maxWaitMs: 60_000,
  };
}

function isRateLimited(response: Response): boolean {
  if (response.status === 429) return true;
  return response.status === 403 &&
    (response.headers.get("x-ratelimit-remaining") === "0" ||
      response.headers.has("retry-after"));
}

function retryable(response: Response): boolean {
  return response.status >= 500 || isRateLimited(response);
}

function waitFor(response: Response, fallbackMs: number, maxWaitMs: number): number {
  const retryAfter = response.headers.get("retry-after");
  const reset = response.headers.get("x-ratelimit-reset");
  let ms = fallbackMs;
  if (retryAfter !== null && /^\d+$/.test(retryAfter)) ms = Number(retryAfter) * 1000;
  else if (reset !== null && /^\d+$/.test(reset)) ms = Number(reset) * 1000 - Date.now();
  return Math.min(Math.max(ms, 0), maxWaitMs);
}

/** Why a response failed, in a few words, for an error message. */
export function statusText(response: Response): string {
  if (isRateLimited(response)) return "Rate limited";
  if (response.status === 401 || response.status === 403) return "Access denied";
  if (response.status === 404) return "Not found";
  return "Request failed";
}

/**
 * fetch() with a timeout per attempt and bounded retries. Returns the last response
 * when it is not retryable (including 4xx, which the caller inspects); throws
 * RemoteError when every attempt failed with a network error, timeout, 5xx or rate limit.
 */
export async function fetchWithRetry(
  url: string | URL,
  init: RequestInit = {},
  options: RetryOptions = {},
): Promise<Response> {
  const { timeoutMs, retries, backoffMs, maxWaitMs } = { ...defaultRetryOptions(), ...options };
  const doFetch = options.fetch ?? fetch;
  const href = String(url);
  for (let attempt = 0;; attempt++) {
    const backoff = backoffMs * 2 ** attempt;
    let failure: RemoteError;
    let delay = backoff;
    try {
      const response = await doFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      if (!retryable(response)) return response;
      await response.body?.cancel();
      failure = new RemoteError(href, response.status, statusText(response));
      delay = waitFor(response, backoff, maxWaitMs);
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      const reason = timedOut
        ? `Timed out after ${timeoutMs} ms`
        : `Cannot connect (${error instanceof Error ? error.message.split("\n")[0] : error})`;
      failure = new RemoteError(href, undefined, reason);
    }
    if (attempt >= retries) throw failure;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** A RemoteError for a failed answer, with the server's own `message` when it gave one. */
export async function remoteErrorOf(url: string, response: Response): Promise<RemoteError> {
  let detail = statusText(response);
  try {
    const body = await response.text();
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === "string" && message) detail += ` (${message.split("\n")[0]})`;
  } catch {
    // no JSON body: the status says enough
  }
  return new RemoteError(url, response.status, detail);
}

/** GET a URL and parse its JSON body; non-2xx answers throw RemoteError. */
export async function getJson<T = unknown>(
  url: string | URL,
  init: RequestInit = {},
  options: RetryOptions = {},
): Promise<{ body: T; response: Response }> {
  const response = await fetchWithRetry(url, init, options);
  if (!response.ok) throw await remoteErrorOf(String(url), response);
  try {
    return { body: (await response.json()) as T, response };
  } catch {
    throw new RemoteError(String(url), response.status, "Malformed JSON in the answer");
  }
}
