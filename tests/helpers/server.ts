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
