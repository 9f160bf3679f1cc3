// Plain fetch with a timeout per attempt and bounded retries with backoff for network
// errors, 5xx and rate limits. Every failure names the URL and the status. Bodies are
// read through an idle timeout and a size cap, and a small answer read whole (readBytes)
// also through a total deadline: a server that stalls, drips or streams forever ends in a
// one-line error, never a hang or unbounded memory.
import { RemoteError } from "./errors.ts";
import { sanitizeTerminal } from "./sanitize.ts";
import { httpSettings, isLoopbackHost } from "./settings.ts";

export interface RetryOptions {
  /**
   * Milliseconds before one attempt is abandoned, and the longest pause while reading a body
   * (default 30 s); a small answer read whole must also be complete within
   * ANSWER_DEADLINE_FACTOR times this (answerDeadlineMs).
   */
  timeoutMs?: number;
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First backoff in milliseconds, doubled each retry (default 500). */
  backoffMs?: number;
  /** Longest wait before a retry; a rate limit asking for longer fails at once (default 60 s). */
  maxWaitMs?: number;
  /** The fetch to use (tests pass one that counts). */
  fetch?: typeof fetch;
  /** Told one line before each retry (default: printed on stderr). */
  onRetry?: (line: string) => void;
}

/** Largest JSON answer getJson() reads unless told otherwise (8 MiB). */
export const DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024;

/**
 * A small answer read whole (a JSON page, a manifest, a token, a config blob, a release
 * index, commitmeta) must be complete within this many HTTP_TIMEOUT_MS after its headers:
 * the idle limit alone lets a server that drips one byte at a time hold a task forever.
 * Layers and tarballs are streamed and keep the idle limit only.
 */
const ANSWER_DEADLINE_FACTOR = 4;

/** The total deadline for reading a small answer: ANSWER_DEADLINE_FACTOR × the timeout. */
export function answerDeadlineMs(options: Pick<RetryOptions, "timeoutMs"> = {}): number {
  return ANSWER_DEADLINE_FACTOR * (options.timeoutMs ?? httpSettings().timeoutMs);
}

/** Defaults, overridable by HTTP_TIMEOUT_MS / HTTP_RETRIES / HTTP_BACKOFF_MS (validated). */
export function defaultRetryOptions(): Required<Omit<RetryOptions, "fetch" | "onRetry">> {
  return { ...httpSettings(), maxWaitMs: 60_000 };
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

/**
 * How long the server asks to wait (`retry-after`; `x-ratelimit-reset` only for a rate
 * limit, since GitHub sends it on every answer), else `fallbackMs`.
 */
function waitFor(response: Response, fallbackMs: number): number {
  const retryAfter = response.headers.get("retry-after");
  const reset = isRateLimited(response) ? response.headers.get("x-ratelimit-reset") : null;
  let ms = fallbackMs;
  if (retryAfter !== null && /^\d{1,10}$/.test(retryAfter)) ms = Number(retryAfter) * 1000;
  else if (reset !== null && /^\d{1,12}$/.test(reset)) ms = Number(reset) * 1000 - Date.now();
  return Math.max(ms, 0);
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

function printRetry(line: string): void {
  console.error(sanitizeTerminal(line));
}

/** Why a response failed, in a few words, for an error message. */
export function statusText(response: Response): string {
  if (isRateLimited(response)) return "Rate limited";
  if (response.status === 401 || response.status === 403) return "Access denied";
  if (response.status === 404) return "Not found";
  return "Request failed";
}

/** The URL as a URL when it is http: or https:, else a RemoteError (no file:, data:, …). */
export function httpUrl(url: string | URL, base?: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new RemoteError(String(url).slice(0, 200), undefined, "Not a valid URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RemoteError(
      parsed.href.slice(0, 200),
      undefined,
      "Refusing a URL that is not http(s)",
    );
  }
  return parsed;
}

/**
 * Whether an image reference (`host[:port]/…`) names a registry on the loopback interface
 * (127.0.0.1, localhost or [::1], any port), which alone is spoken to over plain http.
 */
export function isLoopbackRegistry(ref: string): boolean {
  const slash = ref.indexOf("/");
  return slash > 0 && isLoopbackHost(ref.slice(0, slash).replace(/:\d+$/, ""));
}

/**
 * Wraps a body so that each read waits at most `timeoutMs` for the next bytes; a stall or
 * a dropped connection errors the stream with a RemoteError naming the URL.
 */
function guardBody(
  body: ReadableStream<Uint8Array>,
  href: string,
  status: number,
  timeoutMs: number,
  abort: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RemoteError(href, status, `Timed out after ${timeoutMs} ms reading`)),
          timeoutMs,
        );
      });
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        abort();
        reader.cancel().catch(() => {});
        controller.error(
          error instanceof RemoteError
            ? error
            : new RemoteError(href, status, "Connection lost reading"),
        );
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      clearTimeout(timer);
      abort();
      return reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * fetch() with a timeout per attempt and bounded retries. Returns the last response
 * when it is not retryable (including 4xx, which the caller inspects); throws
 * RemoteError when every attempt failed with a network error, timeout, 5xx or rate limit.
 * Only http(s) URLs are fetched; the body of the returned response errors with a
 * RemoteError when the server pauses longer than the timeout or drops the connection.
 */
export async function fetchWithRetry(
  url: string | URL,
  init: RequestInit = {},
  options: RetryOptions = {},
): Promise<Response> {
  const { timeoutMs, retries, backoffMs, maxWaitMs } = { ...defaultRetryOptions(), ...options };
  const doFetch = options.fetch ?? fetch;
  const onRetry = options.onRetry ?? printRetry;
  const target = httpUrl(url);
  const href = target.href;
  const method = init.method ?? "GET";
  for (let attempt = 0;; attempt++) {
    const backoff = backoffMs * 2 ** attempt;
    let failure: RemoteError;
    let reason: string;
    let delay = backoff;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const signal = init.signal
      ? AbortSignal.any([init.signal, controller.signal])
      : controller.signal;
    try {
      const response = await doFetch(target, { ...init, signal });
      clearTimeout(timer);
      if (!retryable(response)) return guarded(response, href, timeoutMs, () => controller.abort());
      const asked = waitFor(response, backoff);
      if (isRateLimited(response) && asked > maxWaitMs) {
        // Waiting longer than a minute helps nobody: say until when, at once. The body
        // is read through the idle timeout: a stalled one costs the message, not a hang.
        const until = new Date(Date.now() + asked).toISOString().slice(11, 16);
        const body = guarded(response, href, timeoutMs, () => controller.abort());
        const message = await serverMessage(body, href, timeoutMs);
        throw new RemoteError(
          href,
          response.status,
          `Rate limited until ${until} UTC (set GH_TOKEN for a higher limit)${message}`,
        );
      }
      delay = Math.min(asked, maxWaitMs);
      await response.body?.cancel();
      failure = new RemoteError(href, response.status, statusText(response));
      reason = `HTTP ${response.status}`;
    } catch (error) {
      clearTimeout(timer);
      if (error instanceof RemoteError) throw error;
      const timedOut = controller.signal.aborted;
      reason = timedOut
        ? "timed out"
        : `cannot connect (${error instanceof Error ? error.message.split("\n")[0] : error})`;
      failure = new RemoteError(
        href,
        undefined,
        timedOut ? `Timed out after ${timeoutMs} ms` : reason[0]!.toUpperCase() + reason.slice(1),
      );
    }
    if (attempt >= retries) {
      if (attempt > 0) failure.message += ` after ${attempt + 1} attempts`;
      throw failure;
    }
    onRetry(
      `retrying ${method} ${href} in ${seconds(delay)} (attempt ${attempt + 2} of ${
        retries + 1
      }): ${reason}`,
    );
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function guarded(response: Response, href: string, timeoutMs: number, abort: () => void): Response {
  if (!response.body) return response;
  try {
    return new Response(guardBody(response.body, href, response.status, timeoutMs, abort), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch {
    return response; // a status that cannot carry a body: nothing to guard
  }
}

/**
 * Reads a whole body, at most `maxBytes` (a larger answer is a RemoteError, checked against
 * Content-Length first and then while reading), within `deadlineMs` in all (default
 * answerDeadlineMs(): 4 × HTTP_TIMEOUT_MS), whatever the pauses between its chunks.
 */
export async function readBytes(
  response: Response,
  url: string,
  maxBytes: number,
  deadlineMs: number = answerDeadlineMs(),
): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  const tooBig = () =>
    new RemoteError(url, response.status, `Answer larger than ${maxBytes} bytes, refused`);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooBig();
  }
  if (!response.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RemoteError(url, response.status, `Answer not complete after ${deadlineMs} ms`),
        ),
      deadlineMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooBig();
      }
      chunks.push(value);
    }
  } catch (error) {
    // Cancelling the guarded body also aborts its request (a slow server is dropped).
    reader.cancel().catch(() => {});
    if (error instanceof RemoteError) throw error;
    throw new RemoteError(url, response.status, "Connection lost reading");
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The server's own JSON `message` as ` (message)`, one line and clean, or "". */
async function serverMessage(
  response: Response,
  url: string,
  timeoutMs?: number,
): Promise<string> {
  try {
    const bytes = await readBytes(response, url, 64 * 1024, answerDeadlineMs({ timeoutMs }));
    const body = new TextDecoder().decode(bytes);
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === "string" && message) {
      // The server's words, on one line, control characters shown escaped.
      return ` (${sanitizeTerminal(message.slice(0, 300))})`;
    }
  } catch {
    // no JSON body (or too big, or cut off): the status says enough
  }
  return "";
}

/** A RemoteError for a failed answer, with the server's own `message` when it gave one. */
export async function remoteErrorOf(url: string, response: Response): Promise<RemoteError> {
  return new RemoteError(
    url,
    response.status,
    statusText(response) + await serverMessage(response, url),
  );
}

/** Parses JSON bytes of an answer; malformed JSON is a RemoteError naming the URL. */
export function parseJsonBytes(bytes: Uint8Array, url: string, status: number): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new RemoteError(url, status, "Malformed JSON in the answer");
  }
}

/** GET a URL and parse its JSON body (at most `maxBytes`, default 8 MiB); non-2xx throws RemoteError. */
export async function getJson<T = unknown>(
  url: string | URL,
  init: RequestInit = {},
  options: RetryOptions & { maxBytes?: number } = {},
): Promise<{ body: T; response: Response }> {
  const href = String(url);
  const response = await fetchWithRetry(url, init, options);
  if (!response.ok) throw await remoteErrorOf(href, response);
  const bytes = await readBytes(
    response,
    href,
    options.maxBytes ?? DEFAULT_MAX_JSON_BYTES,
    answerDeadlineMs(options),
  );
  return { body: parseJsonBytes(bytes, href, response.status) as T, response };
}
