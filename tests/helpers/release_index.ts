// A stand-in for the Fedora CoreOS builds server (FCOS_BUILDS_URL): `<stream>/releases.json`
// in the real shape (coreos/stream-metadata-go release.Index, oldest first) and each build's
// `<stream>/builds/<version>/<arch>/commitmeta.json`. Like the real S3 bucket, a file that
// does not exist answers 403 with an AccessDenied XML body, not 404.
import { createHash } from "node:crypto";

/** One release of a stream: its version, and per arch its kernel and image digest. */
export interface StandInRelease {
  version: string;
  /**
   * arch → kernel as `rpm -q kernel` prints it (6.17.7-300.fc43.x86_64); undefined: the build
   * has no commitmeta.json.
   */
  kernels: Record<string, string | undefined>;
  /** arch → digest of its image (default: digestOf(stream, version, arch)). */
  digests?: Record<string, string>;
  /** The image repository of its digest-ref (default quay.io/fedora/fedora-coreos). */
  repository?: string;
}

/** Modes for the real service's quirks and failures. */
export interface BuildsOptions {
  /** Versions whose commitmeta.json is missing (403 AccessDenied, as S3 answers). */
  missingCommitmeta?: string[];
  /** Streams whose releases.json answers 502 on every attempt. */
  failingStreams?: string[];
  /** How a file that does not exist answers: 403 AccessDenied (the real S3, default) or 404. */
  missing?: "403" | "404";
  /** The releases.json body to serve for a stream instead of the real shape (hostile bodies). */
  index?: (stream: string) => unknown;
}

/** The per-release, per-arch image digest the stand-in publishes (stable across runs). */
export function digestOf(stream: string, version: string, arch: string): string {
  return `sha256:${createHash("sha256").update(`${stream}/${version}/${arch}`).digest("hex")}`;
}

/** A releases.json document of the real shape for `releases` (given oldest first). */
export function releaseIndex(stream: string, releases: StandInRelease[]) {
  return {
    stream,
    metadata: { "last-modified": "2025-11-24T18:05:12Z" },
    releases: releases.map((release) => ({
      commits: Object.keys(release.kernels).map((architecture) => ({
        architecture,
        checksum: createHash("sha256").update(`commit ${release.version} ${architecture}`)
          .digest("hex"),
      })),
      "oci-images": Object.keys(release.kernels).map((architecture) => {
        const image = release.repository ?? "quay.io/fedora/fedora-coreos";
        const digest = release.digests?.[architecture] ??
          digestOf(stream, release.version, architecture);
        return { architecture, image, "digest-ref": `${image}@${digest}` };
      }),
      version: release.version,
      metadata:
        `https://builds.coreos.fedoraproject.org/prod/streams/${stream}/builds/${release.version}/release.json`,
    })),
  };
}

/** A commitmeta.json of the real shape (Fedora 43 builds have no ostree.linux). */
export function commitmeta(
  kernel: { version: string; release: string; arch: string },
  withLabel = false,
) {
  return {
    "coreos-assembler.basearch": kernel.arch,
    ...(withLabel ? { "ostree.linux": `${kernel.version}-${kernel.release}.${kernel.arch}` } : {}),
    "rpmostree.inputhash": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "rpmostree.rpmdb.pkglist": [
      ["NetworkManager", "1", "1.54.0", "1.fc43", kernel.arch],
      ["kernel", "0", kernel.version, kernel.release, kernel.arch],
      ["kernel-core", "0", kernel.version, kernel.release, kernel.arch],
      ["zincati", "0", "0.0.30", "3.fc43", kernel.arch],
    ],
    version: "43.20251110.3.1",
  };
}

/** The commitmeta.json of build `version` whose kernel is `kernel` (6.17.7-300.fc43.x86_64). */
export function commitmetaFor(version: string, kernel: string) {
  const match = /^(.+?)-([^-]+)\.(x86_64|aarch64|ppc64le|s390x)$/.exec(kernel);
  if (!match) throw new Error(`not a kernel version: ${kernel}`);
  const [, kernelVersion, kernelRelease, arch] = match;
  return {
    ...commitmeta({ version: kernelVersion!, release: kernelRelease!, arch: arch! }),
    version,
  };
}

/** The XML body S3 (the FCOS builds server) sends with its 403 for a file that does not exist. */
export const ACCESS_DENIED_XML = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>5Z1J8Q2WJ4E3K7TX</RequestId><HostId>aGVsbG8gZnJvbSB0aGUgc3RhbmQtaW4=</HostId></Error>`;

/** The request handler of the stand-in for `streams` (stream → releases, oldest first). */
export function fcosBuilds(
  streams: Record<string, StandInRelease[]>,
  options: BuildsOptions = {},
): (request: Request) => Response {
  const notFound = () =>
    options.missing === "404"
      ? new Response("Not Found", { status: 404 })
      : new Response(ACCESS_DENIED_XML, {
        status: 403,
        headers: { "content-type": "application/xml", server: "AmazonS3" },
      });
  return (request) => {
    const { pathname } = new URL(request.url);
    const index = /^\/([a-z0-9-]+)\/releases\.json$/.exec(pathname);
    if (index) {
      const stream = index[1]!;
      if (options.failingStreams?.includes(stream)) {
        return new Response("<html><body>502 Bad Gateway</body></html>", { status: 502 });
      }
      const releases = streams[stream];
      if (!releases) return notFound();
      return Response.json(options.index?.(stream) ?? releaseIndex(stream, releases));
    }
    const build = /^\/([a-z0-9-]+)\/builds\/([0-9.]+)\/([a-z0-9_]+)\/commitmeta\.json$/.exec(
      pathname,
    );
    if (build) {
      const [, stream, version, arch] = build;
      const kernel = streams[stream!]?.find((r) => r.version === version)?.kernels[arch!];
      if (!kernel || options.missingCommitmeta?.includes(version!)) return notFound();
      return Response.json(commitmetaFor(version!, kernel));
    }
    return notFound();
  };
}

/** A kernel version for the tests: `7.1.2` → `7.1.2-200.fc43.<arch>`. */
export function kernel(version: string, arch = "x86_64"): string {
  return `${version}-200.fc43.${arch}`;
}

/** A release built for x86_64 and aarch64 with the same kernel version. */
function bothArches(version: string, kernelVersion: string): StandInRelease {
  return {
    version,
    kernels: { x86_64: kernel(kernelVersion), aarch64: kernel(kernelVersion, "aarch64") },
  };
}

/**
 * Three streams shaped like a real fortnight, kernels crossing the 7.0 boundary of the
 * pinned zfs-2.4.2: stable runs 6.19 (supported), testing 7.1 (only the unpinned zfs-2.4.4
 * supports it), next 7.3 (no release supports it).
 */
export const CROSSING: Record<string, StandInRelease[]> = {
  stable: [
    bothArches("43.20251027.3.0", "6.18.4"),
    bothArches("43.20251110.3.1", "6.19.3"),
  ],
  testing: [
    bothArches("43.20251027.2.0", "6.19.3"),
    bothArches("43.20251110.2.0", "7.0.5"),
    bothArches("43.20251124.2.0", "7.1.2"),
  ],
  next: [
    bothArches("43.20251110.1.0", "7.1.0"),
    bothArches("43.20251124.1.0", "7.3.0"),
  ],
};

/** matrix.yaml for the tests: zfs-2.4.0 … 2.4.2 pinned (max 7.0), 2.4.3 and 2.4.4 not. */
export function testMatrix(
  targets: { stream: string; arch?: string; enabled?: boolean }[] = [{ stream: "stable" }],
): string {
  const pinned = (tag: string, max: string, sha: string) =>
    `    - tag: ${tag}\n      max-kernel: "${max}"\n      sha256: ${sha.repeat(64)}\n`;
  return `zfs:
  series: "2.4"
  releases:
${pinned("zfs-2.4.0", "6.18", "a")}${pinned("zfs-2.4.1", "6.19", "b")}${
    pinned("zfs-2.4.2", "7.0", "c")
  }    - tag: zfs-2.4.3
      max-kernel: "7.0"
    - tag: zfs-2.4.4
      max-kernel: "7.2"
targets:
${
    targets.map((t) => {
      const arch = t.arch ?? "x86_64";
      return `  - name: coreos-${t.stream}-${arch}
    image: quay.io/fedora/fedora-coreos:${t.stream}
    stream: ${t.stream}
    arch: ${arch}
    enabled: ${t.enabled ?? true}
`;
    }).join("")
  }publish:
  image: ghcr.io/example/fedora-zfs-kmods
  cache: ghcr.io/example/fedora-zfs-kmods-cache
`;
}
