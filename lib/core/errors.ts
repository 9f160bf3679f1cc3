// Domain lib/core/ — the base: typed errors, name and version patterns, settings from the
// environment, HTTP with retries and bounds, the tar reader, user-facing paths. Every domain may
// import it; it imports no other domain (only packages). See docs/architecture.md.
//
// Typed errors: lib/ throws them, tasks/ turns them into one-line messages and exit codes
// (0 success, 1 check or operation failed, 2 usage or input error).

/** A bad flag, argument or option combination (exit 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Malformed input: matrix.yaml, a version string, a tag (exit 2). */
export class InputError extends Error {
  override name = "InputError";
}

/** A check that failed or an operation that could not be done (exit 1). */
export class CheckError extends Error {
  override name = "CheckError";
}

/** A remote service that failed after retries (exit 1); names the URL and status. */
export class RemoteError extends CheckError {
  override name = "RemoteError";
  constructor(readonly url: string, readonly status: number | undefined, detail: string) {
    super(`${detail}: ${url}${status === undefined ? "" : ` (HTTP ${status})`}`);
  }
}

/** The exit code for an error thrown by a task. */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof InputError ? 2 : 1;
}
