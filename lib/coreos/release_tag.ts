// The `fcos-<release>` tag: one image index per Fedora CoreOS release, listing the kmods image
// of each arch built for it, so a consumer pins one release for both FROM lines. Pure: which
// tag a release gets, the plan file read as untrusted input, the images each tag lists, and
// whether an index already in the registry lists exactly those.
import { FCOS_VERSION } from "./coreos.ts";
import { InputError } from "../core/errors.ts";
import { type Arch, ARCHES, IMAGE_TAG, imageTag, ociArch } from "../core/patterns.ts";
import type { Manifest } from "../registry/registry.ts";

/** The tag of a release's index: `fcos-<release>`, or "" when the release is unknown. */
export function releaseTagOf(release: string | undefined): string {
  return release && FCOS_VERSION.test(release) ? `fcos-${release}` : "";
}

/** `fcos-43.20251117.3.1` */
const RELEASE_TAG = /^fcos-(\d{2,3}\.\d{8}\.\d{1,3}\.\d{1,3})$/;

/** Targets a plan file may hold at most (matrix.yaml has a handful). */
const MAX_PLAN_TARGETS = 256;

/** One target of the plan as tag-release reads it. */
export interface PlanTarget {
  name: string;
  arch: Arch;
  /** `fcos-<release>` or "" (no release to tag). */
  releaseTag: string;
  /** The kmods tag the build pushed: the fallback's when the plan fell back. */
  imageTag: string;
}

/** One index to push: its tag and the kmods image of each arch (one arch: an index of one). */
export interface ReleaseGroup {
  tag: string;
  images: { arch: Arch; imageTag: string }[];
}

/** A value of the plan, quoted and cut short for a message. */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function checkImageTag(value: unknown, where: string): string {
  const match = typeof value === "string" ? IMAGE_TAG.exec(value) : null;
  if (!match) throw new InputError(`${where} is not a zfs-…_kernel-… tag: ${quoted(value)}`);
  try {
    return imageTag(match[1]!, match[2]!);
  } catch {
    throw new InputError(`${where} is not a zfs-…_kernel-… tag: ${quoted(value)}`);
  }
}

/** One target of the plan, checked: every value that reaches a tag or a command is strict. */
function planTarget(item: unknown, index: number): PlanTarget {
  const where = `Plan target ${index}`;
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new InputError(`${where} is not an object`);
  }
  const t = item as Record<string, unknown>;
  const name = typeof t.name === "string" && /^[A-Za-z0-9._-]{1,100}$/.test(t.name)
    ? t.name
    : `#${index}`;
  if (!ARCHES.includes(t.arch as Arch)) {
    throw new InputError(`${where} has arch ${quoted(t.arch)} (expected x86_64 or aarch64)`);
  }
  const releaseTag = t["release-tag"] ?? "";
  if (typeof releaseTag !== "string" || (releaseTag !== "" && !RELEASE_TAG.test(releaseTag))) {
    throw new InputError(
      `${where} has release-tag ${quoted(releaseTag)} (expected fcos-<release> or "")`,
    );
  }
  const fallback = t["fallback-image-tag"];
  const built = fallback !== undefined && fallback !== ""
    ? checkImageTag(fallback, `${where}'s fallback-image-tag`)
    : checkImageTag(t["image-tag"], `${where}'s image-tag`);
  return { name, arch: t.arch as Arch, releaseTag, imageTag: built };
}

/** Reads a plan file's text (the JSON array `versions --all-targets` writes as all-targets). */
export function parsePlan(text: string): PlanTarget[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InputError(`The plan is not JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(value)) throw new InputError("The plan is not a JSON array of targets");
  if (value.length > MAX_PLAN_TARGETS) {
    throw new InputError(`The plan has ${value.length} targets (at most ${MAX_PLAN_TARGETS})`);
  }
  return value.map(planTarget);
}

/**
 * The indexes to push: targets grouped by release-tag (targets without one are left out), one
 * image per arch. Two different images for one arch of one release is an input error.
 */
export function groupByRelease(targets: PlanTarget[]): ReleaseGroup[] {
  const groups = new Map<string, ReleaseGroup>();
  for (const target of targets) {
    if (target.releaseTag === "") continue;
    const group = groups.get(target.releaseTag) ?? { tag: target.releaseTag, images: [] };
    groups.set(target.releaseTag, group);
    const same = group.images.find((i) => i.arch === target.arch);
    if (same && same.imageTag !== target.imageTag) {
      throw new InputError(
        `The plan names two ${target.arch} images for ${target.releaseTag}: ` +
          `${same.imageTag} and ${target.imageTag}`,
      );
    }
    if (!same) group.images.push({ arch: target.arch, imageTag: target.imageTag });
  }
  return [...groups.values()];
}

/** Whether an index lists exactly these manifests, each as linux/<arch> (order aside). */
export function indexListsExactly(
  index: Manifest,
  images: { arch: Arch; digest: string }[],
): boolean {
  const listed = index.manifests;
  if (!listed || listed.length !== images.length) return false;
  return images.every((image) =>
    listed.some((m) =>
      m.digest === image.digest && m.platform?.os === "linux" &&
      m.platform.architecture === ociArch(image.arch)
    )
  );
}
