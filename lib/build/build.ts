// Domain lib/build/ — the build: the plan (this file), the Containerfile check, the podman run
// and its progress and failure cause, the RPM layout, the kmods image, publishing and release
// tags. May import: lib/core/, lib/cli/, lib/github/, lib/matrix/, lib/registry/, lib/coreos/.
// See docs/architecture.md.
//
// The build as pure data: discovered versions + the matrix release → build arguments, the
// exact podman argv and the image name.
import { createHash } from "node:crypto";
import { InputError, UsageError } from "../core/errors.ts";
import { isLoopbackRegistry } from "../core/http.ts";
import {
  type Arch,
  fedoraVersion,
  IMAGE_TAG,
  imageRef,
  imageTag,
  kernelMajorMinor,
  kernelVersion,
  ociArch,
  SHA256,
  zfsTag,
  zfsVersionOf,
} from "../core/patterns.ts";

/** Every build argument `deno task build` passes; the Containerfile may declare no other. */
export const BUILD_ARG_NAMES = [
  "ZFS_TAG",
  "ZFS_SHA256",
  "ZFS_SOURCE_URL",
  "KERNEL_VERSION",
  "KERNEL_MAJOR_MINOR",
  "FEDORA_VERSION",
  "TARGET_IMAGE",
  "BUILD_DATE",
  "VCS_REF",
  "SOURCE_URL",
  "DOCUMENTATION_URL",
  "REF_NAME",
  "SIGNING_CERT_SHA256",
] as const;
export type BuildArgName = typeof BUILD_ARG_NAMES[number];

/** Project labels beside the org.opencontainers.image.* set. */
const LABEL_PREFIX = "io.github.fedora-zfs-kmods.";
export const LABELS = {
  zfsTag: `${LABEL_PREFIX}zfs-tag`,
  kernelVersion: `${LABEL_PREFIX}kernel-version`,
  kernelMajorMinor: `${LABEL_PREFIX}kernel-major-minor`,
  fedoraVersion: `${LABEL_PREFIX}fedora-version`,
  /** the module signing certificate's sha256, or `unsigned` */
  signingCertSha256: `${LABEL_PREFIX}signing-cert-sha256`,
  /** the kernel, under the name bootc images use for it (ucore compares it) */
  ostreeLinux: "ostree.linux",
} as const;

/** The build argument each label whose value is exactly one argument must carry. */
export const LABEL_ARGS: Record<string, BuildArgName> = {
  [LABELS.zfsTag]: "ZFS_TAG",
  [LABELS.kernelVersion]: "KERNEL_VERSION",
  [LABELS.kernelMajorMinor]: "KERNEL_MAJOR_MINOR",
  [LABELS.fedoraVersion]: "FEDORA_VERSION",
  [LABELS.signingCertSha256]: "SIGNING_CERT_SHA256",
  [LABELS.ostreeLinux]: "KERNEL_VERSION",
};

/** What the build needs from version discovery (a subset of lib/coreos/discover.ts Versions). */
export interface BuildVersions {
  arch: Arch;
  zfsTag: string;
  kernelVersion: string;
  kernelMajorMinor: string;
  fedoraVersion: string;
  /** The target image pinned as name@sha256:… */
  pinnedImage: string;
}

export interface BuildInput {
  versions: BuildVersions;
  /** sha256 of the source tarball pinned in matrix.yaml */
  zfsSha256: string;
  /** base URL of the source tarballs: `${zfsSourceUrl}/${zfsTag}.tar.gz` */
  zfsSourceUrl: string;
  /** repository to tag into (matrix.yaml publish.image) */
  repository: string;
  /** --tag: a bare `zfs-…_kernel-…` tag or a full image reference */
  tag?: string;
  containerfile: string;
  buildDate: string;
  vcsRef: string;
  sourceUrl: string;
  documentationUrl: string;
  isolation?: "chroot" | "oci" | "rootless";
  cacheFrom?: string;
  cacheTo?: string;
  secretKey?: string;
  secretCert?: string;
  /** the bytes of the file at `secretCert`: their sha256 keys the kmod layer cache */
  secretCertContent?: Uint8Array;
}

export interface BuildPlan {
  /** full image reference the build is tagged as */
  image: string;
  /** the tag part of `image` */
  imageTag: string;
  buildArgs: Record<BuildArgName, string>;
  /** arguments after `podman` */
  argv: string[];
  /** loopback registries (host:port) the build talks to over plain http, and only those */
  insecureRegistries: string[];
}

/** Where this project lives when neither GitHub Actions nor a ghcr.io image says otherwise. */
const PROJECT_URL = "https://github.com/fedora-zfs-kmods/fedora-zfs-kmods";

/** The repository URL for the source label: the Actions repository, else the ghcr.io owner/name. */
export function sourceUrlOf(publishImage: string, env: Record<string, string | undefined>): string {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY) {
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`;
  }
  const ghcr = /^ghcr\.io\/([a-z0-9_.-]+\/[a-z0-9_.-]+)$/.exec(publishImage);
  return ghcr ? `https://github.com/${ghcr[1]}` : PROJECT_URL;
}

// The tables only the V1 format has; V2 [[registry]] tables cannot be mixed into such a file.
const V1_TABLE = /^\s*\[\s*registries\.(?:search|insecure|block)\s*\]/m;

/**
 * The registries.conf for CONTAINERS_REGISTRIES_CONF, which podman reads instead of the host's
 * main file: the host's file (`hostConf`) with these registries added as insecure (plain http),
 * so its mirrors, blocks, aliases and search list still apply and every other registry keeps
 * TLS verification. A registry the host file already declares keeps the host's setting (podman
 * refuses two conflicting entries). A V1 file cannot be extended: `v1` is set and the file
 * holds only these registries.
 */
export function insecureRegistriesConf(
  registries: string[],
  hostConf = "",
): { text: string; v1: boolean } {
  const v1 = V1_TABLE.test(hostConf);
  const base = v1 || hostConf.trim() === "" ? "" : `${hostConf.replace(/\n*$/, "")}\n\n`;
  const declared = (r: string) =>
    new RegExp(`^\\s*location\\s*=\\s*["']${r.replace(/[.[\]]/g, "\\$&")}["']`, "m")
      .test(base);
  const added = registries.filter((r) => !declared(r))
    .map((r) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`);
  return { text: base + added.join("\n"), v1 };
}

/** Signing needs both halves: refuses one without the other (before any discovery). */
export function checkSigningPair(secretKey?: string, secretCert?: string): void {
  if ((secretKey === undefined) !== (secretCert === undefined)) {
    const [given, missing] = secretKey === undefined
      ? ["--secret-cert", "--secret-key"]
      : ["--secret-key", "--secret-cert"];
    throw new UsageError(`${given} needs ${missing} too (sign with both or neither)`);
  }
}

/** The full image reference for `--tag` (bare tag or full reference) or the default tag. */
export function resolveImageName(
  repository: string,
  defaultTag: string,
  tag?: string,
): { image: string; imageTag: string } {
  imageRef(repository);
  if (tag === undefined) return { image: `${repository}:${defaultTag}`, imageTag: defaultTag };
  const bare = IMAGE_TAG.exec(tag);
  if (bare) {
    imageTag(bare[1]!, bare[2]!);
    return { image: `${repository}:${tag}`, imageTag: tag };
  }
  imageRef(tag);
  const match = /^(.+\/[^:/@]+):([^:/@]+)$/.exec(tag);
  if (!match) {
    throw new InputError(
      `Invalid tag: ${JSON.stringify(tag)} (expected zfs-<zfs-version>_kernel-<kernel-version> ` +
        "or a full image reference with a tag)",
    );
  }
  return { image: tag, imageTag: match[2]! };
}

/** Validates a --tag option: a `zfs-…_kernel-…` tag or a full image reference with a tag. */
export function tagOption(value: string): string {
  resolveImageName("localhost/check", "", value);
  return value;
}

function checkPath(value: string, what: string): string {
  // podman parses `--secret id=…,src=…` on commas
  if (value.includes(",") || value === "") {
    throw new UsageError(`Invalid ${what} path: ${JSON.stringify(value)} (no commas)`);
  }
  return value;
}

function checkUrl(value: string, what: string): string {
  if (!/^https?:\/\/[A-Za-z0-9.:_\/#%~+-]+$/.test(value)) {
    throw new InputError(`Invalid ${what}: ${JSON.stringify(value)} (expected an http(s) URL)`);
  }
  return value.replace(/\/+$/, "");
}

/** Builds the plan: every build argument validated, and the exact podman argv. */
export function planBuild(input: BuildInput): BuildPlan {
  const v = input.versions;
  const tag = zfsTag(v.zfsTag);
  const kernel = kernelVersion(v.kernelVersion);
  if (kernelMajorMinor(kernel) !== v.kernelMajorMinor) {
    throw new InputError(`Kernel major.minor ${v.kernelMajorMinor} does not match ${kernel}`);
  }
  if (!SHA256.test(input.zfsSha256)) {
    throw new InputError(`Invalid sha256 for ${tag}: ${JSON.stringify(input.zfsSha256)}`);
  }
  if (!/@sha256:[0-9a-f]{64}$/.test(v.pinnedImage)) {
    throw new InputError(`Target image is not pinned by digest: ${v.pinnedImage}`);
  }
  imageRef(v.pinnedImage);
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$/.test(input.buildDate)) {
    throw new InputError(`Invalid build date: ${input.buildDate} (expected ISO 8601 UTC)`);
  }
  if (!/^(?:[0-9a-f]{7,64}|unknown)$/.test(input.vcsRef)) {
    throw new InputError(`Invalid VCS ref: ${JSON.stringify(input.vcsRef)}`);
  }
  checkSigningPair(input.secretKey, input.secretCert);
  if (input.secretKey !== undefined) checkPath(input.secretKey, "--secret-key");
  if (input.secretCert !== undefined) checkPath(input.secretCert, "--secret-cert");
  const { image, imageTag: refName } = resolveImageName(
    input.repository,
    imageTag(zfsVersionOf(tag), kernel),
    input.tag,
  );
  const buildArgs: Record<BuildArgName, string> = {
    ZFS_TAG: tag,
    ZFS_SHA256: input.zfsSha256,
    ZFS_SOURCE_URL: checkUrl(input.zfsSourceUrl, "ZFS source URL"),
    KERNEL_VERSION: kernel,
    KERNEL_MAJOR_MINOR: v.kernelMajorMinor,
    FEDORA_VERSION: fedoraVersion(v.fedoraVersion),
    TARGET_IMAGE: v.pinnedImage,
    BUILD_DATE: input.buildDate,
    VCS_REF: input.vcsRef,
    SOURCE_URL: checkUrl(input.sourceUrl, "source URL"),
    DOCUMENTATION_URL: checkUrl(input.documentationUrl, "documentation URL"),
    REF_NAME: refName,
    SIGNING_CERT_SHA256: signingCertSha256(input),
  };

  const argv = ["build"];
  // the choice is validated where it is read (the --isolation option, BUILD_ISOLATION)
  if (input.isolation !== undefined) argv.push("--isolation", input.isolation);
  argv.push("--arch", ociArch(v.arch), "--file", input.containerfile, "--tag", image);
  for (const name of BUILD_ARG_NAMES) argv.push("--build-arg", `${name}=${buildArgs[name]}`);
  if (input.secretKey !== undefined && input.secretCert !== undefined) {
    argv.push("--secret", `id=signing_key,src=${input.secretKey}`);
    argv.push("--secret", `id=signing_cert,src=${input.secretCert}`);
  }
  if (input.cacheFrom !== undefined || input.cacheTo !== undefined) argv.push("--layers");
  if (input.cacheFrom !== undefined) argv.push("--cache-from", imageRef(input.cacheFrom));
  if (input.cacheTo !== undefined) argv.push("--cache-to", imageRef(input.cacheTo));
  const insecureRegistries = [
    ...new Set(
      [v.pinnedImage, input.cacheFrom, input.cacheTo].flatMap((r) =>
        r !== undefined && isLoopbackRegistry(r) ? [r.slice(0, r.indexOf("/"))] : []
      ),
    ),
  ];
  argv.push(contextOf(input.containerfile));
  return { image, imageTag: refName, buildArgs, argv, insecureRegistries };
}

/**
 * The SIGNING_CERT_SHA256 build argument and image label: the sha256 of the certificate in DER
 * (what the image ships as /signing-cert.der, `openssl x509 -fingerprint -sha256` without the
 * colons), the same for a PEM or a DER secret; or `unsigned`. Build secrets are not part of
 * podman's layer cache key, so without it a signed build would reuse the cached, unsigned kmod
 * layer of an earlier build.
 */
export function signingCertSha256(
  input: Pick<BuildInput, "secretKey" | "secretCert" | "secretCertContent">,
): string {
  if (input.secretKey === undefined || input.secretCert === undefined) return "unsigned";
  const content = input.secretCertContent;
  if (content === undefined || content.length === 0) {
    throw new InputError(`Signing certificate is empty or unread: ${input.secretCert}`);
  }
  const der = certificateDer(content);
  if (der === undefined) {
    throw new InputError(
      `Signing certificate is not an x509 certificate (PEM or DER): ${input.secretCert}`,
    );
  }
  return createHash("sha256").update(der).digest("hex");
}

/**
 * The DER bytes of a certificate file: a DER file as it is (an ASN.1 SEQUENCE, 0x30), a PEM file's
 * first CERTIFICATE block decoded. A PEM file holding a private key is refused: given as the
 * certificate, it would be copied into the kmod layer (pushed with --cache-to).
 */
function certificateDer(content: Uint8Array): Uint8Array | undefined {
  const text = new TextDecoder().decode(content);
  if (!text.includes("-----BEGIN ")) return content[0] === 0x30 ? content : undefined;
  if (/PRIVATE KEY-----/.test(text)) return undefined;
  const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/
    .exec(text)?.[1]?.replace(/\s+/g, "");
  if (!body) return undefined;
  try {
    const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
    return der[0] === 0x30 ? der : undefined;
  } catch {
    return undefined; // not base64
  }
}

/** The build context: the folder holding the Containerfile. */
export function contextOf(containerfile: string): string {
  const slash = containerfile.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : containerfile.slice(0, slash);
}

/** A command line for people to read or paste (POSIX shell quoting); never executed. */
export function displayCommand(argv: string[]): string {
  return argv.map((a) =>
    /^[A-Za-z0-9_.,:\/=@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`
  )
    .join(" ");
}
