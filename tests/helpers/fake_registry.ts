// An in-memory OCI registry stand-in for the hostile-server suite: it serves one honest
// multi-arch image (index → linux/amd64 manifest → config with labels → one layer) and,
// per mode, lies the way a hostile or broken registry would. A new attack is one more mode.
import { drip, endless, withRawServer, withServer } from "./server.ts";

export type RegistryMode =
  | "honest"
  | "config-substituted"
  | "digest-header-lies"
  | "child-digest-traversal"
  | "child-digest-sha512"
  | "manifest-by-digest-lies"
  | "blob-redirect-file"
  | "blob-redirect-plain-http"
  | "realm-file"
  | "huge-manifest-declared"
  | "endless-manifest"
  | "stalled-blob"
  | "layer-substituted"
  | "stalled-manifest"
  | "cut-off-manifest"
  | "redirect-loop"
  | "token-missing"
  | "token-endless"
  | "drip-manifest"
  | "drip-token"
  | "hostile-labels"
  | "hostile-platform";

export interface FakeRegistry {
  /** host:port for image references */
  host: string;
  /** the repository served (other paths are recorded and answer 404) */
  repository: string;
  /** request paths received, in order */
  paths: string[];
  indexDigest: string;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
}

export const LABELS = { "ostree.linux": "6.17.7-300.fc43.x86_64" };
/** What a substituted config claims. */
export const EVIL_KERNEL = "6.66.6-666.fc43.x86_64";
/**
 * Text that sets the terminal title, clears the screen, colours, forges a second error line
 * and reorders what follows (bidi override, isolate, 8-bit CSI): served by the hostile-labels
 * mode as com.coreos.stream, org.opencontainers.image.version and a layer's mediaType, and by
 * hostile-platform as an index entry's platform.os and architecture.
 */
export const HOSTILE_TEXT =
  "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\nerror: forged line\u202eevil\u2066\x9b";

/** A Docker-Content-Digest value that tries shell injection on whoever prints it. */
export const EVIL_DIGEST_HEADER = "sha256:evil$(id) ;x";

const encoder = new TextEncoder();

async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A body that sends `first` and then never another byte (until the client goes away). */
function stalled(first: Uint8Array): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(first);
    },
    pull() {
      return new Promise((resolve) => {
        timer = setTimeout(resolve, 30_000);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/** Runs `action` with a registry stand-in behaving as `mode`. */
export async function withFakeRegistry<T>(
  mode: RegistryMode,
  action: (registry: FakeRegistry) => Promise<T>,
): Promise<T> {
  const repository = "fedora/fedora-coreos";
  const layer = encoder.encode("not really a tar layer");
  const config = encoder.encode(JSON.stringify({
    config: {
      Labels: mode === "hostile-labels"
        ? { "com.coreos.stream": HOSTILE_TEXT, "org.opencontainers.image.version": HOSTILE_TEXT }
        : LABELS,
    },
  }));
  const evilConfig = encoder.encode(
    JSON.stringify({ config: { Labels: { "ostree.linux": EVIL_KERNEL } } }),
  );
  const configDigest = await sha256(config);
  const layerDigest = await sha256(layer);
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [{
      mediaType: mode === "hostile-labels"
        ? HOSTILE_TEXT
        : "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: layerDigest,
      size: layer.length,
    }],
  }));
  const manifestDigest = await sha256(manifest);
  const childDigest = mode === "child-digest-traversal"
    ? "../../other/manifests/secret"
    : mode === "child-digest-sha512"
    ? "sha512:abc"
    : manifestDigest;
  const index = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: childDigest,
      size: manifest.length,
      platform: mode === "hostile-platform"
        ? { os: HOSTILE_TEXT, architecture: HOSTILE_TEXT }
        : { os: "linux", architecture: "amd64" },
    }],
  }));
  const indexDigest = await sha256(index);
  const state: FakeRegistry = {
    host: "",
    repository,
    paths: [],
    indexDigest,
    manifestDigest,
    configDigest,
    layerDigest,
  };
  const blobs = new Map([[configDigest, config], [layerDigest, layer]]);
  const manifests = new Map([["stable", index], [indexDigest, index], [manifestDigest, manifest]]);
  const manifestType = (bytes: Uint8Array) =>
    bytes === index
      ? "application/vnd.oci.image.index.v1+json"
      : "application/vnd.oci.image.manifest.v1+json";

  const cutOffReply = "HTTP/1.1 200 OK\r\n" +
    "Content-Type: application/vnd.oci.image.index.v1+json\r\n" +
    `Content-Length: ${index.length}\r\n\r\n` + new TextDecoder().decode(index.slice(0, 40));
  let cutOffUrl = "";
  return await withRawServer(cutOffReply, (raw) => {
    cutOffUrl = `${raw}/cut-off`;
    return serve();
  });

  function serve() {
    return withServer(async (request, server) => {
      const url = new URL(request.url);
      state.paths.push(url.pathname);
      if (url.pathname === "/token") {
        if (mode === "token-missing") return Response.json({ expires_in: 300 });
        if (mode === "token-endless") return new Response(endless());
        if (mode === "drip-token") return new Response(drip('{"token": "t"'));
        return Response.json({ token: "t" });
      }
      if (
        (mode === "token-missing" || mode === "token-endless" || mode === "drip-token") &&
        request.headers.get("authorization") !== "Bearer t"
      ) {
        return new Response(null, {
          status: 401,
          headers: {
            "www-authenticate": `Bearer realm="http://127.0.0.1:${server.port}/token",service="x"`,
          },
        });
      }
      if (mode === "realm-file" && request.headers.get("authorization") !== "Bearer t") {
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="file:///etc/passwd",service="x"' },
        });
      }
      const prefix = `/v2/${repository}/`;
      if (!url.pathname.startsWith(prefix)) {
        return new Response("no such repository", { status: 404 });
      }
      const [kind, reference] = url.pathname.slice(prefix.length).split("/") as [string, string];
      if (kind === "manifests") {
        if (mode === "huge-manifest-declared" && reference === "stable") {
          // Claims 400 MiB and sends a little: the client must refuse on the header alone.
          return new Response(stalled(encoder.encode("{")), {
            headers: { "content-length": String(400 * 1024 * 1024) },
          });
        }
        if (mode === "stalled-manifest" && reference === "stable") {
          return new Response(stalled(index.slice(0, 10)), {
            headers: { "content-type": manifestType(index) },
          });
        }
        if (mode === "drip-manifest" && reference === "stable") {
          return new Response(drip(new TextDecoder().decode(index.slice(0, 10))), {
            headers: { "content-type": manifestType(index) },
          });
        }
        if (mode === "endless-manifest" && reference === "stable") {
          return new Response(endless(), { headers: { "content-type": manifestType(index) } });
        }
        if (mode === "cut-off-manifest" && reference === "stable") {
          // The connection drops mid-body (served by a bare TCP server, see withRawServer).
          return new Response(null, { status: 307, headers: { location: cutOffUrl } });
        }
        let bytes = manifests.get(reference);
        if (!bytes) return new Response("manifest unknown", { status: 404 });
        const headers: Record<string, string> = { "content-type": manifestType(bytes) };
        headers["docker-content-digest"] = mode === "digest-header-lies"
          ? EVIL_DIGEST_HEADER
          : await sha256(bytes);
        if (mode === "manifest-by-digest-lies" && reference === manifestDigest) {
          bytes = encoder.encode(
            new TextDecoder().decode(bytes).replace(configDigest, layerDigest),
          );
        }
        return new Response(request.method === "HEAD" ? null : bytes, { headers });
      }
      if (kind === "blobs") {
        if (mode === "redirect-loop") {
          return new Response(null, { status: 307, headers: { location: url.pathname } });
        }
        if (mode === "blob-redirect-file") {
          return new Response(null, { status: 307, headers: { location: "file:///etc/passwd" } });
        }
        if (mode === "blob-redirect-plain-http") {
          return new Response(null, {
            status: 307,
            headers: { location: `http://cdn.example.com/blob?from=${server.port}` },
          });
        }
        if (mode === "config-substituted" && reference === configDigest) {
          return new Response(evilConfig);
        }
        if (mode === "stalled-blob") return new Response(stalled(encoder.encode("{")));
        if (mode === "layer-substituted" && reference === layerDigest) {
          return new Response(encoder.encode("a layer with another kernel"));
        }
        const bytes = blobs.get(reference);
        return bytes ? new Response(bytes) : new Response("blob unknown", { status: 404 });
      }
      return new Response("not found", { status: 404 });
    }, (server) => {
      state.host = `127.0.0.1:${server.port}`;
      return action(state);
    });
  }
}
