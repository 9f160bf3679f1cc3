// The `fcos-<release>` tag: one image index per Fedora CoreOS release, listing the kmods image
// of each arch built for it, so a consumer pins one release for both FROM lines. Pure: which
// tag a release gets, and which images each tag lists, from the nightly plan's targets.
import { FCOS_VERSION } from "./coreos.ts";
import { InputError } from "./errors.ts";
import { type Arch, ARCHES, IMAGE_TAG } from "./patterns.ts";

/** The tag of a release's index: `fcos-<release>`, or "" when the release is unknown. */
export function releaseTagOf(release: string | undefined): string {
  return release && FCOS_VERSION.test(release) ? `fcos-${release}` : "";
}

/** `fcos-43.20251117.3.1` */
export const RELEASE_TAG = /^fcos-(\d{2,3}\.\d{8}\.\d{1,3}\.\d{1,3})$/;
