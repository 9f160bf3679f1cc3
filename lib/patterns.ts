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
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
export const ARCHES = ["x86_64", "aarch64"] as const;
export type Arch = typeof ARCHES[number];
/** An image reference: [host[:port]/]path[:tag][@sha256:digest], lower-case path. */
export const IMAGE_REF =
  /^(?:[a-zA-Z0-9.-]+(?::\d{1,5})?\/)?[a-z0-9]+(?:[._\/-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
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

/** Validates an image reference such as `quay.io/fedora/fedora-coreos:stable`. */
export function imageRef(value: string): string {
  return check(IMAGE_REF, value, "image reference", "quay.io/fedora/fedora-coreos:stable");
}

/** Validates an architecture (x86_64 or aarch64). */
export function arch(value: string): Arch {
  if (!(ARCHES as readonly string[]).includes(value)) {
    throw new InputError(
      `Invalid arch: ${JSON.stringify(value)} (expected ${ARCHES.join(" or ")})`,
    );
  }
  return value as Arch;
}

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
