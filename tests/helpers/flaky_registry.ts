// A front for a real registry that fails as registries do under load, then works: it forwards
// every request (method, headers, body) to the registry behind it, except that the first
// `failures` manifest uploads get a 503 answer and the first `resets` connections a TCP reset. `lie` makes it answer a
// read of a tag with other manifest bytes than the registry holds (a digest that was not pushed).
import { withServer } from "./server.ts";

export interface FlakyRegistryOptions {
  /** how many manifest uploads get a 503 page before they work */
  failures?: number;
  /** how many connections are reset (closed with the request unread: a TCP RST) first */
  resets?: number;
  /** answer GET of a manifest by tag with bytes other than the registry's */
  lie?: boolean;
}

export interface FlakyRegistry {
  /** host:port to use in image references */
  host: string;
  /** requests that were answered with a failure */
  failed: string[];
  /** connections that were reset */
  resets: number;
}

const MANIFEST_PUT = /^\/v2\/.+\/manifests\/[^/]+$/;

/** Runs `action` with a flaky front for the registry at `registryHost`. */
export async function withFlakyRegistry<T>(
  registryHost: string,
  action: (registry: FlakyRegistry) => Promise<T>,
  options: FlakyRegistryOptions = {},
): Promise<T> {
  let failuresLeft = options.failures ?? 1;
  const state: FlakyRegistry = { host: "", failed: [], resets: 0 };
  return await withServer(async (request) => {
    const url = new URL(request.url);
    if (request.method === "PUT" && MANIFEST_PUT.test(url.pathname) && failuresLeft > 0) {
      failuresLeft--;
      state.failed.push(`${request.method} ${url.pathname}`);
      await request.body?.cancel();
      return new Response("<html><body><h1>503 Service Unavailable</h1></body></html>", {
        status: 503,
        headers: { "content-type": "text/html" },
      });
    }
    const headers = new Headers(request.headers);
    headers.delete("host");
    const response = await fetch(`http://${registryHost}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    const answer = new Headers(response.headers);
    const location = answer.get("location");
    if (location) answer.set("location", location.replace(registryHost, state.host));
    if (
      options.lie && request.method === "GET" && MANIFEST_PUT.test(url.pathname) &&
      !/\/manifests\/sha256:/.test(url.pathname) && response.ok
    ) {
      // the same manifest with one more space: valid JSON, another digest
      const bytes = `${await response.text()} `;
      answer.delete("docker-content-digest");
      answer.set("content-length", String(new TextEncoder().encode(bytes).length));
      return new Response(bytes, { status: response.status, headers: answer });
    }
    return new Response(response.body, { status: response.status, headers: answer });
  }, (server) =>
    resetFirst(server.port, options.resets ?? 0, () => state.resets++, (port) => {
      state.host = `127.0.0.1:${port}`;
      return action(state);
    }));
}

/**
 * A TCP front for the HTTP server on `port`: the first `resets` connections are closed with
 * their request unread, which Linux answers with a RST (the client reads "connection reset by
 * peer"); the others are piped through.
 */
async function resetFirst<T>(
  port: number,
  resets: number,
  onReset: () => void,
  action: (port: number) => Promise<T>,
): Promise<T> {
  let left = resets;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const connection of listener) {
      if (left > 0) {
        left--;
        onReset();
        // wait for the request to arrive, then close without reading it
        await new Promise((resolve) => setTimeout(resolve, 100));
        connection.close();
        continue;
      }
      (async () => {
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
        open.add(connection).add(upstream);
        await Promise.all([
          connection.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(connection.writable),
        ]).catch(() => {});
        open.delete(connection);
        open.delete(upstream);
      })();
    }
  })();
  try {
    return await action((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    for (const connection of open) {
      try {
        connection.close();
      } catch {
        // already closed
      }
    }
    await serving.catch(() => {});
  }
}
