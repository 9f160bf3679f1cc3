// Checks whether the image tag for the target is already published (its manifest, read and
// hashed), and with --require-attestations that its build provenance verifies. A private
// package is read with GH_TOKEN/GITHUB_TOKEN (docs/registry-auth.md); a registry that still
// refuses is an error (exit 1, "Cannot read the registry"), never "not published".
// deno task check-container [--image REF --arch A | --tag TAG] [--require-attestations]
//   [--repo OWNER/REPO] [--github-output] [--json]
import { tagOption } from "../lib/build/build.ts";
import {
  archOption,
  assertOutputsWritable,
  imageOption,
  jsonOption,
  main,
  parseWith,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli/cli.ts";
import { kmodsImageOf } from "../lib/build/kmods_image.ts";
import { toImageTag } from "../lib/core/patterns.ts";
import { attestationRepo, checkPublished } from "../lib/build/published.ts";
import { render, type TaskResult } from "../lib/cli/render.ts";

export const OUTPUTS = ["container-exists", "image-tag"] as const;

/** The result of the check: one line, and container-exists and image-tag as outputs. */
export function containerResult(r: {
  exists: boolean;
  attested: boolean;
  imageTag: string;
  image: string;
  digest?: string;
}): TaskResult {
  return {
    values: {
      "container-exists": r.exists,
      "image-tag": r.imageTag,
      "kmods-image": r.image,
      digest: r.digest ?? null,
    },
    outputs: OUTPUTS,
    lines: [
      r.exists
        ? `exists: ${r.image}`
        : r.attested
        ? `not found: ${r.image}`
        : `exists, not attested: ${r.image}`,
    ],
    summary: false,
  };
}

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "check-container",
      "Check whether the image tag for the target is already published (and attested)",
    )
      .addOption(imageOption())
      .addOption(archOption())
      .addOption(zfsOption())
      .option(
        "--tag <tag>",
        "check this tag (zfs-…_kernel-…, 2.4.4_kernel-… or a full reference), no discovery",
        parseWith((value) => tagOption(toImageTag(value))),
      )
      .option(
        "--require-attestations",
        "also verify the build provenance with gh attestation verify",
      )
      .option(
        "--repo <owner/repo>",
        "repository the attestation must come from (default: $GITHUB_REPOSITORY)",
      )
      .option("--github-output", "write container-exists and image-tag to $GITHUB_OUTPUT")
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" }).opts();
    const repo = options.requireAttestations
      ? attestationRepo(options.repo, "--require-attestations")
      : undefined;
    // Refuse an unwritable $GITHUB_OUTPUT before asking anything.
    if (options.githubOutput) assertOutputsWritable();
    const { image, imageTag } = await kmodsImageOf(
      { target: options.image, arch: options.arch, zfs: options.zfs, tag: options.tag },
      stderrLogger,
    );
    const { exists, attested, digest } = await checkPublished(image, {
      repo,
      logger: stderrLogger,
    });
    render(containerResult({ exists, attested, imageTag, image, digest }), options);
    return exists ? 0 : 1;
  });
}
