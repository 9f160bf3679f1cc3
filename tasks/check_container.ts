// Checks whether the image tag for the target is already published (its manifest, read and
// hashed), and with --require-attestations that its build provenance verifies. A private
// package is read with GH_TOKEN/GITHUB_TOKEN (docs/registry-auth.md); a registry that still
// refuses is an error (exit 1, "Cannot read the registry"), never "not published".
// deno task check-container [--image REF --arch A | --tag TAG] [--require-attestations]
//   [--repo OWNER/REPO] [--github-output] [--json]
import { tagOption } from "../lib/build.ts";
import {
  archOption,
  assertOutputsWritable,
  imageOption,
  jsonOption,
  main,
  parseWith,
  sanitizeTerminal,
  stderrLogger,
  taskCommand,
  zfsOption,
} from "../lib/cli.ts";
import { CheckError, UsageError } from "../lib/errors.ts";
import { kmodsImageOf } from "../lib/kmods_image.ts";
import { toImageTag } from "../lib/patterns.ts";
import { render, type TaskResult } from "../lib/render.ts";

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

const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** The lines of gh attestation verify that are its verdict: none found, or none verifies. */
const REFUSAL = /no attestations found|failed to verify|verification failed/i;
/**
 * Signs that gh could not reach what it verifies against (the Sigstore trust root over TUF,
 * the transparency log): then "Sigstore verification failed" is no verdict.
 */
const UNREACHABLE =
  /\btuf\b|dial tcp|no such host|timeout|timed out|connection (refused|reset)|x509|tls handshake/i;

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
    const repo = options.repo ?? Deno.env.get("GITHUB_REPOSITORY");
    if (options.requireAttestations && !(repo && REPO.test(repo))) {
      throw new UsageError(
        `--require-attestations needs --repo OWNER/REPO or GITHUB_REPOSITORY (got ${
          JSON.stringify(repo ?? "")
        })`,
      );
    }
    // Refuse an unwritable $GITHUB_OUTPUT before asking anything.
    if (options.githubOutput) assertOutputsWritable();
    const { image, imageTag } = await kmodsImageOf(
      { target: options.image, arch: options.arch, zfs: options.zfs, tag: options.tag },
      stderrLogger,
    );
    // Imported after parsing: --help and a bad flag start without the registry client.
    const { manifestExists } = await import("../lib/registry.ts");
    const found = await manifestExists(image);
    let exists = found.exists;
    let attested = true;
    if (found.exists && options.requireAttestations) {
      const name = image.slice(0, image.lastIndexOf(":"));
      const { GhError, runGh } = await import("../lib/gh.ts");
      try {
        await runGh(["attestation", "verify", `oci://${name}@${found.digest}`], { repo });
        stderrLogger.info(`Attestation of ${name}@${found.digest} verified for ${repo}`);
      } catch (error) {
        // Only gh's verdict on the attestation means "not attested" (and a rebuild); gh
        // missing, logged out, too old or offline is an error: never rebuild what exists.
        const lines = error instanceof GhError ? error.stderr.split("\n") : [];
        const unreachable = lines.find((line) => UNREACHABLE.test(line));
        const refusal = !unreachable && lines.find((line) => REFUSAL.test(line));
        if (!refusal) {
          const message = unreachable
            ? `gh attestation verify failed: ${unreachable.trim()}`
            : error instanceof Error
            ? error.message
            : String(error);
          const hint = /unknown command "attestation"/.test(message)
            ? " (gh attestation needs gh 2.49 or newer)"
            : "";
          throw new CheckError(
            `Cannot verify the attestation of ${image}: ${sanitizeTerminal(message)}${hint}`,
          );
        }
        stderrLogger.warn(
          `${image} exists, but its attestation does not verify: ${
            sanitizeTerminal(refusal.trim())
          }`,
        );
        exists = false;
        attested = false;
      }
    }
    render(containerResult({ exists, attested, imageTag, image, digest: found.digest }), options);
    return exists ? 0 : 1;
  });
}
