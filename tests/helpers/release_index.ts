// A stand-in for the Fedora CoreOS builds server (FCOS_BUILDS_URL): `<stream>/releases.json`
// in the real shape (coreos/stream-metadata-go release.Index, oldest first) and each build's
// `<stream>/builds/<version>/<arch>/commitmeta.json`. Like the real S3 bucket, a file that
// does not exist answers 403 with an AccessDenied XML body, not 404.
import { createHash } from "node:crypto";

/** One release of a stream: its version and the kernel of each arch it was built for. */
export interface StandInRelease {
  version: string;
  /** arch → kernel as `rpm -q kernel` prints it (6.17.7-300.fc43.x86_64). */
  kernels: Record<string, string>;
}

/** Modes for the real service's quirks and failures. */
export interface BuildsOptions {
  /** Versions whose commitmeta.json is missing (403 AccessDenied, as S3 answers). */
  missingCommitmeta?: string[];
  /** Streams whose releases.json answers 500 on every attempt. */
  failingStreams?: string[];
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
      "oci-images": Object.keys(release.kernels).map((architecture) => ({
        architecture,
        image: "quay.io/fedora/fedora-coreos",
        "digest-ref": `quay.io/fedora/fedora-coreos@${
          digestOf(stream, release.version, architecture)
        }`,
      })),
      version: release.version,
      metadata:
        `https://builds.coreos.fedoraproject.org/prod/streams/${stream}/builds/${release.version}/release.json`,
    })),
  };
}

/** A commitmeta.json of the real shape: Fedora 43 builds name the kernel only in the pkglist. */
export function commitmetaFor(version: string, kernel: string) {
  const match = /^(.+?)-([^-]+)\.(x86_64|aarch64|ppc64le|s390x)$/.exec(kernel);
  if (!match) throw new Error(`not a kernel version: ${kernel}`);
  const [, kernelVersion, kernelRelease, arch] = match;
  return {
    "coreos-assembler.basearch": arch,
    "rpmostree.inputhash": createHash("sha256").update(version).digest("hex"),
    "rpmostree.rpmdb.pkglist": [
      ["NetworkManager", "1", "1.54.0", "1.fc43", arch],
      ["kernel", "0", kernelVersion, kernelRelease, arch],
      ["kernel-core", "0", kernelVersion, kernelRelease, arch],
      ["zincati", "0", "0.0.30", "3.fc43", arch],
    ],
    version,
  };
}

const ACCESS_DENIED = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>5Z1J8Q2WJ4E3K7TX</RequestId><HostId>aGVsbG8gZnJvbSB0aGUgc3RhbmQtaW4=</HostId></Error>`;

function accessDenied(): Response {
  return new Response(ACCESS_DENIED, {
    status: 403,
    headers: { "content-type": "application/xml", server: "AmazonS3" },
  });
}

/** The request handler of the stand-in for `streams` (stream → releases, oldest first). */
export function fcosBuilds(
  streams: Record<string, StandInRelease[]>,
  options: BuildsOptions = {},
): (request: Request) => Response {
  return (request) => {
    const { pathname } = new URL(request.url);
    const index = /^\/([a-z0-9-]+)\/releases\.json$/.exec(pathname);
    if (index) {
      const stream = index[1]!;
      if (options.failingStreams?.includes(stream)) {
        return new Response("<html><body>502 Bad Gateway</body></html>", { status: 502 });
      }
      const releases = streams[stream];
      return releases ? Response.json(releaseIndex(stream, releases)) : accessDenied();
    }
    const build = /^\/([a-z0-9-]+)\/builds\/([0-9.]+)\/([a-z0-9_]+)\/commitmeta\.json$/.exec(
      pathname,
    );
    if (build) {
      const [, stream, version, arch] = build;
      const kernel = streams[stream!]?.find((r) => r.version === version)?.kernels[arch!];
      if (!kernel || options.missingCommitmeta?.includes(version!)) return accessDenied();
      return Response.json(commitmetaFor(version!, kernel));
    }
    return accessDenied();
  };
}

/** A kernel version for the tests: `7.1.2` → `7.1.2-200.fc43.<arch>`. */
export function kernel(version: string, arch = "x86_64"): string {
  return `${version}-200.fc43.${arch}`;
}

/**
 * Three streams shaped like a real fortnight, kernels crossing the 7.0 boundary of the
 * pinned zfs-2.4.2: stable runs 6.19 (supported), testing 7.1 (only the unpinned zfs-2.4.4
 * supports it), next 7.3 (no release supports it).
 */
export const CROSSING: Record<string, StandInRelease[]> = {
  stable: [
    {
      version: "43.20251027.3.0",
      kernels: { x86_64: kernel("6.18.4"), aarch64: kernel("6.18.4", "aarch64") },
    },
    {
      version: "43.20251110.3.1",
      kernels: { x86_64: kernel("6.19.3"), aarch64: kernel("6.19.3", "aarch64") },
    },
  ],
  testing: [
    {
      version: "43.20251027.2.0",
      kernels: { x86_64: kernel("6.19.3"), aarch64: kernel("6.19.3", "aarch64") },
    },
    {
      version: "43.20251110.2.0",
      kernels: { x86_64: kernel("7.0.5"), aarch64: kernel("7.0.5", "aarch64") },
    },
    {
      version: "43.20251124.2.0",
      kernels: { x86_64: kernel("7.1.2"), aarch64: kernel("7.1.2", "aarch64") },
    },
  ],
  next: [
    {
      version: "43.20251110.1.0",
      kernels: { x86_64: kernel("7.1.0"), aarch64: kernel("7.1.0", "aarch64") },
    },
    {
      version: "43.20251124.1.0",
      kernels: { x86_64: kernel("7.3.0"), aarch64: kernel("7.3.0", "aarch64") },
    },
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
