// The strict patterns every version, tag and reference is checked against before it
// reaches a command, a URL or a build argument.
import { InputError } from "./errors.ts";

export const ZFS_TAG = /^zfs-(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
export const ZFS_VERSION = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
export const ZFS_SERIES = /^\d{1,3}\.\d{1,3}$/;
/** `rpm -q kernel --qf '%{VERSION}-%{RELEASE}.%{ARCH}'`, e.g. 6.17.7-300.fc43.x86_64 */
export const KERNEL_VERSION =
  /^(\d{1,3})\.(\d{1,3})(?:\.\d{1,4})?-[0-9A-Za-z_]+(?:\.[0-9A-Za-z_]+)*\.(x86_64|aarch64|ppc64le|s390x)$/;
export const KERNEL_MAJOR_MINOR = /^(\d{1,3})\.(\d{1,3})$/;
export const FEDORA_VERSION = /^\d{2,3}$/;
export const SHA256 = /^[0-9a-f]{64}$/;
/** A GitHub runner label (ubuntu-24.04-arm, a larger or self-hosted runner's): it reaches runs-on. */
export const RUNNER_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** A matrix.yaml target name (lower case). */
export const TARGET_NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** A matrix.yaml target's stream name (stable, testing, next). */
export const STREAM_NAME = /^[a-z0-9-]+$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
export const ARCHES = ["x86_64", "aarch64"] as const;
export type Arch = typeof ARCHES[number];
/** The published tag: zfs-<zfs-version>_kernel-<kernel-version>. */
export const IMAGE_TAG = /^zfs-(\d{1,3}\.\d{1,3}\.\d{1,3})_kernel-(.+)$/;

function check(pattern: RegExp, value: string, what: string, example: string): string {
  if (!pattern.test(value)) {
    throw new InputError(`Invalid ${what}: ${JSON.stringify(value)} (expected e.g. ${example})`);
  }
  return value;
}

/** Validates a ZFS release tag such as `zfs-2.4.2`. */
export function zfsTag(value: string): string {
  return check(ZFS_TAG, value, "ZFS release tag", "zfs-2.4.2");
}

/** Accepts `zfs-2.4.2` or `2.4.2` and returns the tag `zfs-2.4.2`. */
export function toZfsTag(value: string): string {
  return ZFS_VERSION.test(value) ? `zfs-${value}` : zfsTag(value);
}

/** `zfs-2.4.2` → `2.4.2`. */
export function zfsVersionOf(tag: string): string {
  return zfsTag(tag).slice("zfs-".length);
}

/** The series of a ZFS tag: `zfs-2.4.2` → `2.4`. */
export function seriesOfTag(tag: string): string {
  return zfsVersionOf(tag).split(".").slice(0, 2).join(".");
}

/** Validates a ZFS series such as `2.4`. */
export function zfsSeries(value: string): string {
  return check(ZFS_SERIES, value, "ZFS series", "2.4");
}

/** Validates a full kernel version such as `6.17.7-300.fc43.x86_64`. */
export function kernelVersion(value: string): string {
  return check(KERNEL_VERSION, value, "kernel version", "6.17.7-300.fc43.x86_64");
}

/** Validates a kernel major.minor such as `6.17`. */
export function kernelMajorMinorValue(value: string): string {
  return check(KERNEL_MAJOR_MINOR, value, "kernel major.minor", "6.17");
}

/** Accepts a full kernel version or a major.minor and returns the major.minor. */
export function kernelMajorMinor(value: string): string {
  if (KERNEL_MAJOR_MINOR.test(value)) return value;
  const match = KERNEL_VERSION.exec(value);
  if (!match) {
    throw new InputError(
      `Invalid kernel version: ${
        JSON.stringify(value)
      } (expected e.g. 6.17.7-300.fc43.x86_64 or 6.17)`,
    );
  }
  return `${match[1]}.${match[2]}`;
}

/** Compares two major.minor versions numerically: 7.0 > 6.19 > 6.9. */
export function compareMajorMinor(a: string, b: string): number {
  const [aMajor, aMinor] = kernelMajorMinorValue(a).split(".").map(Number);
  const [bMajor, bMinor] = kernelMajorMinorValue(b).split(".").map(Number);
  return aMajor! - bMajor! || aMinor! - bMinor!;
}

/** Compares two ZFS release tags numerically. */
export function compareZfsTags(a: string, b: string): number {
  const pa = zfsVersionOf(a).split(".").map(Number);
  const pb = zfsVersionOf(b).split(".").map(Number);
  return pa[0]! - pb[0]! || pa[1]! - pb[1]! || pa[2]! - pb[2]!;
}

/** Validates a Fedora major version such as `43`. */
export function fedoraVersion(value: string): string {
  return check(FEDORA_VERSION, value, "Fedora version", "43");
}

// Image references follow the distribution spec (distribution/reference): checked piece by
// piece with anchored, non-nested patterns after a length cap, so a hostile 100,000-character
// reference is refused in microseconds instead of backtracking.
/** The longest name (host and path) the distribution spec allows. */
export const MAX_IMAGE_NAME = 255;
/** name + ":" + 128-character tag + "@sha256:" + 64 hex digits. */
export const MAX_IMAGE_REF = MAX_IMAGE_NAME + 1 + 128 + 1 + 71;
const HOST_COMPONENT = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** The problem with an image reference, or undefined when it is valid. */
export function imageRefProblem(value: string): string | undefined {
  if (value.length === 0) return "empty";
  if (value.length > MAX_IMAGE_REF) return `longer than ${MAX_IMAGE_REF} characters`;
  let rest = value;
  const at = rest.indexOf("@");
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return "the digest is not sha256:<64 hex digits>";
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    if (!TAG.test(rest.slice(colon + 1))) {
      return "the tag is not 1-128 letters, digits, _ . - (not starting with . or -)";
    }
    rest = rest.slice(0, colon);
  }
  if (rest.length > MAX_IMAGE_NAME) return `the name is longer than ${MAX_IMAGE_NAME} characters`;
  const components = rest.split("/");
  const first = components[0]!;
  // As in distribution/reference: the first component is a registry host only when it has a
  // dot or a port, or is localhost; otherwise it is part of the (lower-case) path.
  if (
    components.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")
  ) {
    const problem = hostProblem(first);
    if (problem) return problem;
    components.shift();
  }
  for (const component of components) {
    if (!PATH_COMPONENT.test(component)) {
      return `the path component ${JSON.stringify(component.slice(0, 40))} is not lower-case ` +
        "letters and digits joined by . _ __ or -";
    }
  }
  return undefined;
}

function hostProblem(domain: string): string | undefined {
  const match = /^(.*?)(?::(\d{1,5}))?$/.exec(domain)!;
  const host = match[1]!;
  const port = match[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return `the port ${port} is out of range (1-65535)`;
  }
  if (IPV6_HOST.test(host)) return undefined;
  if (host.length > 253 || !host.split(".").every((part) => HOST_COMPONENT.test(part))) {
    return `the registry host ${JSON.stringify(host.slice(0, 60))} is not a host name`;
  }
  return undefined;
}

/** Validates an image reference such as `quay.io/fedora/fedora-coreos:stable`. */
export function imageRef(value: string): string {
  const problem = imageRefProblem(value);
  if (problem !== undefined) {
    const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
    throw new InputError(
      `Invalid image reference: ${JSON.stringify(shown)} (${problem}; ` +
        "expected e.g. quay.io/fedora/fedora-coreos:stable)",
    );
  }
  return value;
}

/** Validates an architecture (x86_64 or aarch64). */
export function arch(value: string): Arch {
  const alias = OCI_ARCH_ALIASES[value];
  if (alias) return alias;
  if (!(ARCHES as readonly string[]).includes(value)) {
    throw new InputError(
      `Invalid arch: ${JSON.stringify(value)} (expected x86_64 or aarch64; amd64, arm64 accepted)`,
    );
  }
  return value as Arch;
}

/** The OCI names of the architectures, accepted as aliases (podman's `--arch amd64`). */
const OCI_ARCH_ALIASES: Record<string, Arch | undefined> = Object.assign(Object.create(null), {
  amd64: "x86_64",
  arm64: "aarch64",
});

/** The OCI platform architecture for an RPM architecture: x86_64 → amd64, aarch64 → arm64. */
export function ociArch(value: Arch): string {
  return value === "x86_64" ? "amd64" : "arm64";
}

/** A git branch or tag name for `gh workflow run --ref`: no leading dash, no `..`. */
export const GIT_REF = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}$/;
/** A GitHub repository for `gh --repo`: [HOST/]OWNER/REPO. */
export const GITHUB_REPO =
  /^(?:[a-zA-Z0-9.-]+(?::\d{1,5})?\/)?[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;

/** Validates a git branch or tag name such as `main`. */
export function gitRef(value: string): string {
  return check(GIT_REF, value, "git ref", "main");
}

/** Validates a repository such as `owner/repo` or `github.example.com/owner/repo`. */
export function githubRepo(value: string): string {
  return check(GITHUB_REPO, value, "repository", "owner/repo");
}

/** The tag this project publishes: `zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64`. */
export function imageTag(zfsVersion: string, kernel: string): string {
  check(ZFS_VERSION, zfsVersion, "ZFS version", "2.4.2");
  return `zfs-${zfsVersion}_kernel-${kernelVersion(kernel)}`;
}

/**
 * A kmods image tag given with a bare ZFS version, `2.4.4_kernel-…` (alone or as the tag of a
 * reference), normalised to `zfs-2.4.4_kernel-…`; anything else is returned unchanged.
 */
export function toImageTag(value: string): string {
  return value.replace(/(^|:)(\d{1,3}\.\d{1,3}\.\d{1,3}_kernel-)/, "$1zfs-$2");
}
