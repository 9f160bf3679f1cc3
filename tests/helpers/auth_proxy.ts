// A registry front like quay.io's: answers 401 with a Bearer challenge until given the token
// from its own token endpoint, then forwards to a real registry; blobs redirect to a second
// host (a "CDN") that records whether an Authorization header reached it.
import { withServer } from "./server.ts";

export interface AuthProxy {
  /** host:port to use in image references */
  host: string;
  /** token requests received: their service and scope */
  tokenRequests: URLSearchParams[];
  /** Authorization headers the CDN host received (null when none) */
  cdnAuthorization: (string | null)[];
  /** requests the front answered 401 */
  challenges: number;
}

const TOKEN = "test-token-0123";

/** Runs `action` with a token-guarded front for `registryHost` and its redirect target. */
export async function withAuthProxy<T>(
  registryHost: string,
  action: (proxy: AuthProxy) => Promise<T>,
  options: { tokenKey?: "token" | "access_token"; dropDigestHeader?: boolean } = {},
): Promise<T> {
  const upstream = `http://${registryHost}`;
  const state: AuthProxy = { host: "", tokenRequests: [], cdnAuthorization: [], challenges: 0 };
  const forward = async (request: Request, path: string) => {
    const response = await fetch(`${upstream}${path}`, {
      method: request.method,
      headers: { Accept: request.headers.get("accept") ?? "*/*" },
    });
    const headers = new Headers(response.headers);
    if (options.dropDigestHeader) headers.delete("docker-content-digest");
    return new Response(response.body, { status: response.status, headers });
  };
  return await withServer(
    (request) => {
      state.cdnAuthorization.push(request.headers.get("authorization"));
      const url = new URL(request.url);
      return forward(request, url.pathname.replace(/^\/cdn/, "/v2"));
    },
    (cdn) =>
      withServer(
        (request, server) => {
          const url = new URL(request.url);
          if (url.pathname === "/token") {
            if (request.headers.has("authorization")) return new Response("", { status: 400 });
            state.tokenRequests.push(url.searchParams);
            return Response.json({ [options.tokenKey ?? "token"]: TOKEN, expires_in: 300 });
          }
          if (request.headers.get("authorization") !== `Bearer ${TOKEN}`) {
            state.challenges++;
            const name = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1] ?? "";
            return Response.json({ errors: [{ code: "UNAUTHORIZED" }] }, {
              status: 401,
              headers: {
                "www-authenticate":
                  `Bearer realm="${server.url}/token",service="test-registry",scope="repository:${name}:pull"`,
              },
            });
          }
          const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
          if (blob) {
            return new Response(null, {
              status: 307,
              headers: { location: `${cdn.url}/cdn/${blob[1]}/blobs/${blob[2]}?signature=abc` },
            });
          }
          return forward(request, url.pathname);
        },
        (front) => {
          state.host = `127.0.0.1:${front.port}`;
          return action(state);
        },
      ),
  );
}
