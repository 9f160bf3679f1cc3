// Where compatibility is decided: a ZFS release supports kernels from its min-kernel up to
// its max-kernel in matrix.yaml (Linux-Minimum and Linux-Maximum of its META file), compared
// numerically as major.minor.
import { findRelease, type Matrix, type Release } from "./matrix.ts";
import { compareMajorMinor, compareZfsTags, kernelMajorMinor, zfsTag } from "../core/patterns.ts";
import { verdictLine } from "../cli/render.ts";

export interface Compatibility {
  zfsTag: string;
  kernelMajorMinor: string;
  maxKernel: string | null;
  known: boolean;
  compatible: boolean;
  /** The newest release in matrix.yaml whose max-kernel covers the kernel. */
  newestSupporting?: string;
  /** The one-line verdict, `✓ …` or `✗ …` (docs/vocabulary.md). */
  verdict: string;
  /** The verdict without its mark, and why and what to do when it is ✗. */
  message: string;
}

/** Whether a release entry supports a kernel major.minor (min-kernel ≤ it ≤ max-kernel). */
export function supportsKernel(release: Release, majorMinor: string): boolean {
  const min = release["min-kernel"];
  return compareMajorMinor(majorMinor, release["max-kernel"]) <= 0 &&
    (min === undefined || compareMajorMinor(majorMinor, min) >= 0);
}

/** A kernel as messages name it: `6.18`, or `6.17.7-300.fc43.x86_64 (6.17)`. */
export function kernelText(kernel: string, majorMinor = kernelMajorMinor(kernel)): string {
  return kernel === majorMinor ? kernel : `${kernel} (${majorMinor})`;
}

/**
 * Whether `zfsTag` supports `kernel` (a full version or major.minor) and a build may use it
 * (its sha256 pinned); unknown and unpinned releases fail safe.
 */
export function checkCompatibility(matrix: Matrix, tag: string, kernel: string): Compatibility {
  zfsTag(tag);
  const majorMinor = kernelMajorMinor(kernel);
  const newestSupporting = matrix.zfs.releases
    .filter((r) => supportsKernel(r, majorMinor))
    .map((r) => r.tag)
    .sort(compareZfsTags)
    .at(-1);
  const release = findRelease(matrix, tag);
  if (!release) {
    return {
      zfsTag: tag,
      kernelMajorMinor: majorMinor,
      maxKernel: null,
      known: false,
      compatible: false,
      newestSupporting,
      verdict: `✗ ${tag} is not in matrix.yaml: its max kernel is unknown`,
      message: `${tag} is not in matrix.yaml: its max kernel is unknown: ` +
        `add it with \`deno task matrix add ${tag}\``,
    };
  }
  const max = release["max-kernel"];
  const min = release["min-kernel"];
  const supported = supportsKernel(release, majorMinor);
  // A build refuses a release whose tarball has no pinned sha256: so does this check.
  const compatible = supported && release.sha256 !== undefined;
  // The one verdict wording (docs/vocabulary.md); the message is it without its mark.
  const verdict = verdictLine({
    zfsTag: tag,
    kernel,
    kernelMajorMinor: majorMinor,
    maxKernel: max,
    minKernel: min,
    compatible,
  });
  const said = verdict.slice(2);
  const message = compatible
    ? said
    : supported
    ? `${said}, so a build refuses it: \`deno task matrix add ${tag}\``
    : `${said}: ` +
      (newestSupporting
        ? `the newest release in matrix.yaml that supports it is ${newestSupporting}` +
          (findRelease(matrix, newestSupporting)?.sha256
            ? ""
            : ` (no sha256 pinned yet: \`deno task matrix add ${newestSupporting}\`)`)
        : `no release in matrix.yaml supports it yet`);
  return {
    zfsTag: tag,
    kernelMajorMinor: majorMinor,
    maxKernel: max,
    known: true,
    compatible,
    newestSupporting,
    verdict,
    message,
  };
}
