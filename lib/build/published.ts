// Is a kmods image already published (its manifest read and hashed) and, when asked, attested
// (gh attestation verify)? One check for check-container and for the nightly plan
// (versions --all-targets --skip-published). A check that could not run is an error, never
// "published": only gh's own verdict on an attestation means "not attested".
import { sanitizeTerminal } from "../core/sanitize.ts";
import type { Logger } from "../cli/cli.ts";
import { CheckError, UsageError } from "../core/errors.ts";

/** An owner/repo as gh attestation verify --repo takes it. */
const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** The lines of gh attestation verify that are its verdict: none found, or none verifies. */
const REFUSAL = /no attestations found|failed to verify|verification failed/i;
/**
 * Signs that gh could not reach what it verifies against (the Sigstore trust root over TUF,
 * the transparency log): then "Sigstore verification failed" is no verdict.
 */
const UNREACHABLE =
  /\btuf\b|dial tcp|no such host|timeout|timed out|connection (refused|reset)|x509|tls handshake/i;

/** What the registry and gh said about one image. */
export interface Published {
  image: string;
  /** The image exists (and, when attestations were required, its attestation verifies). */
  exists: boolean;
  /** False only when gh refused the attestation of an image that exists. */
  attested: boolean;
  /** The manifest digest when the tag exists. */
  digest?: string;
}

/**
 * Checks `image` (name:tag): its manifest exists, and with `repo` its build provenance
 * verifies for that repository. Throws (CheckError/RemoteError) when either check cannot run.
 */
export async function checkPublished(
  image: string,
  options: { repo?: string; logger?: Logger } = {},
): Promise<Published> {
  // Imported here: --help and a bad flag start without the registry client and gh.
  const { manifestExists } = await import("../registry/registry.ts");
  const found = await manifestExists(image);
  if (!found.exists || options.repo === undefined) {
    return { image, exists: found.exists, attested: true, digest: found.digest };
  }
  const { repo, logger } = options;
  const name = image.slice(0, image.lastIndexOf(":"));
  const { GhError, runGh } = await import("../github/gh.ts");
  try {
    await runGh(["attestation", "verify", `oci://${name}@${found.digest}`], { repo });
    logger?.info(`Attestation of ${name}@${found.digest} verified for ${repo}`);
    return { image, exists: true, attested: true, digest: found.digest };
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
    logger?.warn(
      `${image} exists, but its attestation does not verify: ${sanitizeTerminal(refusal.trim())}`,
    );
    return { image, exists: false, attested: false, digest: found.digest };
  }
}

/** The repository attestations must come from: --repo, else $GITHUB_REPOSITORY; checked. */
export function attestationRepo(option: string | undefined, flag: string): string {
  const repo = option ?? Deno.env.get("GITHUB_REPOSITORY");
  if (!(repo && REPO.test(repo))) {
    throw new UsageError(
      `${flag} needs --repo OWNER/REPO or GITHUB_REPOSITORY (got ${JSON.stringify(repo ?? "")})`,
    );
  }
  return repo;
}

/** Checks at once: a few gh processes in flight, the registry token shared by all. */
const CONCURRENCY = 4;

/** The kmods tag a plan's target builds: the fallback's when the plan falls back. */
function builtImageTag(target: Record<string, unknown>): string {
  const tag = target["fallback-image-tag"] || target["image-tag"];
  return typeof tag === "string" ? tag : "";
}

/**
 * The nightly plan without what is already there: checks every target's kmods image
 * (`<publishImage>:<tag>`, published and attested) in one registry session, and returns each
 * target with `published` set. Any check that cannot run throws: nothing is skipped on a guess.
 */
export async function markPublished<T extends Record<string, unknown>>(
  targets: T[],
  publishImage: string,
  options: { repo?: string; logger?: Logger; check?: typeof checkPublished } = {},
): Promise<(T & { published: boolean })[]> {
  const check = options.check ?? checkPublished;
  const results: (T & { published: boolean })[] = [];
  for (let start = 0; start < targets.length; start += CONCURRENCY) {
    const batch = targets.slice(start, start + CONCURRENCY);
    const found = await Promise.all(batch.map((target) => {
      const tag = builtImageTag(target);
      if (tag === "") return Promise.resolve({ exists: false });
      return check(`${publishImage}:${tag}`, { repo: options.repo, logger: options.logger });
    }));
    batch.forEach((target, i) => results.push({ ...target, published: found[i]!.exists }));
  }
  return results;
}
