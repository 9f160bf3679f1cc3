// A local HTTP server for tests, standing in for a remote API at the network edge.

export interface TestServer {
  url: string;
  port: number;
  /** Every request received, in order: method and path with query. */
  requests: { method: string; path: string; headers: Headers }[];
}

/**
 * Starts `Deno.serve` on a random loopback port, runs `action` with it, and shuts the
 * server down afterwards (also when `action` throws).
 */
export async function withServer<T>(
  handler: (request: Request, server: TestServer) => Response | Promise<Response>,
  action: (server: TestServer) => Promise<T>,
  options: { cert?: string; key?: string } = {},
): Promise<T> {
  const state: TestServer = { url: "", port: 0, requests: [] };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...options },
    (request) => {
      const url = new URL(request.url);
      state.requests.push({
        method: request.method,
        path: url.pathname + url.search,
        headers: request.headers,
      });
      return handler(request, state);
    },
  );
  state.port = server.addr.port;
  state.url = `${options.cert ? "https" : "http"}://127.0.0.1:${state.port}`;
  try {
    return await action(state);
  } finally {
    await server.shutdown();
  }
}

/** A JSON response with optional extra headers. */
export function json(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { ...init, headers });
}

/**
 * A bare TCP server for answers `Deno.serve` cannot give (a body cut off mid-way): each
 * connection gets `reply` written verbatim after its request head, then is closed.
 */
export async function withRawServer<T>(
  reply: string,
  action: (url: string) => Promise<T>,
): Promise<T> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const connection of listener) {
      (async () => {
        try {
          const buffer = new Uint8Array(16 * 1024);
          let head = "";
          while (!head.includes("\r\n\r\n")) {
            const n = await connection.read(buffer);
            if (n === null) break;
            head += new TextDecoder().decode(buffer.subarray(0, n));
          }
          await connection.write(new TextEncoder().encode(reply));
        } catch {
          // the client went away first
        } finally {
          connection.close();
        }
      })();
    }
  })();
  try {
    return await action(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
}

/**
 * Runs `action` with a time limit: past `ms` its AbortSignal fires (pass it to a spawned task
 * so the process is killed) and the returned promise rejects, so a test that guards against a
 * hang fails instead of hanging CI.
 */
export async function withTimeout<T>(
  ms: number,
  action: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`Time limit: not done within ${ms} ms (a hang guard failed)`));
    }, ms);
  });
  try {
    return await Promise.race([action(controller.signal), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** A body that never ends: 64 KiB chunks of spaces (valid JSON whitespace) forever. */
export function endless(): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(chunk);
    },
  });
}

/** A body that sends `first`, then one byte (a space) every `everyMs` forever: a drip. */
export function drip(first = "", everyMs = 500): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    start(controller) {
      if (first) controller.enqueue(encoder.encode(first));
    },
    pull(controller) {
      return new Promise((resolve) => {
        timer = setTimeout(() => {
          controller.enqueue(encoder.encode(" "));
          resolve();
        }, everyMs);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/**
 * Deno.test with its own time limit (default 120 s: generous, for a loaded CI machine), for a
 * test that guards against a hang: a regression then fails the test instead of hanging CI.
 */
export function timedTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  ms = 120_000,
): void {
  Deno.test(name, (t) => withTimeout(ms, () => fn(t)));
}
