// A registry front like quay.io's or ghcr.io's: answers 401 with a Bearer challenge until
// given the token from its own token endpoint, then forwards to a real registry; blobs
// redirect to a second host (a "CDN") that records whether an Authorization header reached
// it. In private mode (a new ghcr.io package) the token endpoint answers an anonymous or
// wrongly authenticated request with 401, and a token only for the right Basic credentials.
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
  /** Authorization headers of the token requests (null when none) */
  tokenAuthorization: (string | null)[];
}

export interface AuthProxyOptions {
  tokenKey?: "token" | "access_token";
  dropDigestHeader?: boolean;
  /** Private package: a token only for Basic `user:password` (ghcr.io takes any user name). */
  private?: { user?: string; password: string };
}

const TOKEN = "test-token-0123";

/** Runs `action` with a token-guarded front for `registryHost` and its redirect target. */
export async function withAuthProxy<T>(
  registryHost: string,
  action: (proxy: AuthProxy) => Promise<T>,
  options: AuthProxyOptions = {},
): Promise<T> {
  const upstream = `http://${registryHost}`;
  const state: AuthProxy = {
    host: "",
    tokenRequests: [],
    cdnAuthorization: [],
    challenges: 0,
    tokenAuthorization: [],
  };
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
            const authorization = request.headers.get("authorization");
            state.tokenAuthorization.push(authorization);
            state.tokenRequests.push(url.searchParams);
            if (options.private && !basicMatches(authorization, options.private)) {
              // ghcr.io's answer to an anonymous request for a private package
              return Response.json({
                errors: [{ code: "UNAUTHORIZED", message: "authentication required" }],
              }, {
                status: 401,
                headers: { "www-authenticate": `Basic realm="${server.url}/token"` },
              });
            }
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

/** Whether `authorization` is Basic credentials with `expected`'s password (and user, if given). */
export function basicMatches(
  authorization: string | null,
  expected: { user?: string; password: string },
): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? "");
  if (!match) return false;
  const decoded = atob(match[1]!);
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return password === expected.password && (expected.user === undefined || user === expected.user);
}
