// Environment settings, validated once where they are read: a bad value is a usage error
// (exit 2) that names the variable and the accepted range, never a silent NaN or a loop.
import { UsageError } from "./errors.ts";

/** Bounds and default of an integer setting. */
export interface IntSetting {
  min: number;
  max: number;
  fallback: number;
}

/** An environment variable as a whole number in [min, max], `fallback` when unset or empty. */
export function envInt(name: string, { min, max, fallback }: IntSetting): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = raw.trim();
  if (!/^\d{1,15}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `Invalid ${name}: ${
        JSON.stringify(value.slice(0, 40))
      } (expected a whole number from ${min} to ${max})`,
    );
  }
  return Number(value);
}

/** Whether the host of a URL is the loopback interface (where plain http is allowed). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
}

/**
 * An environment variable holding an http(s) base URL (no trailing slash), or `fallback`. A
 * base URL has no credentials, query or fragment (paths are appended to it); with
 * `httpsUnlessLoopback`, plain http is accepted only to a loopback host (a local stand-in).
 */
export function envUrl(
  name: string,
  fallback: string,
  options: { httpsUnlessLoopback?: boolean } = {},
): string {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const invalid = (why: string) =>
    new UsageError(`Invalid ${name}: ${JSON.stringify(raw.slice(0, 80))} (${why})`);
  let url: URL | undefined;
  try {
    url = new URL(raw.trim());
  } catch {
    url = undefined;
  }
  if (url && (url.username || url.password)) {
    // Never echo credentials: they would end up in a CI log.
    throw new UsageError(`Invalid ${name}: a URL with credentials in it (expected none)`);
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw invalid("expected an http:// or https:// URL");
  }
  if (/[?#]/.test(raw)) throw invalid("a base URL has no query or fragment");
  if (options.httpsUnlessLoopback && url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw invalid("plain http is allowed only to a loopback host; use https://");
  }
  return url.href.replace(/\/+$/, "");
}

/** The settings the HTTP clients read, with their ranges (docs/limits.md lists them). */
export const HTTP_SETTINGS = {
  HTTP_TIMEOUT_MS: { min: 1, max: 600_000, fallback: 30_000 },
  HTTP_RETRIES: { min: 0, max: 10, fallback: 3 },
  HTTP_BACKOFF_MS: { min: 0, max: 60_000, fallback: 500 },
} as const satisfies Record<string, IntSetting>;

/** HTTP_TIMEOUT_MS, HTTP_RETRIES and HTTP_BACKOFF_MS, validated. */
export function httpSettings(): { timeoutMs: number; retries: number; backoffMs: number } {
  return {
    timeoutMs: envInt("HTTP_TIMEOUT_MS", HTTP_SETTINGS.HTTP_TIMEOUT_MS),
    retries: envInt("HTTP_RETRIES", HTTP_SETTINGS.HTTP_RETRIES),
    backoffMs: envInt("HTTP_BACKOFF_MS", HTTP_SETTINGS.HTTP_BACKOFF_MS),
  };
}
