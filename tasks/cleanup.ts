// Deletes old versions of the published image package, keeping the newest, their attestations
// and signatures, every manifest a kept version references and the fcos-<release> aliases of
// kept images; with --cache, deletes versions of the layer-cache package by age alone.
// deno task cleanup [--dry-run] <retention-days> <min-versions> [--yes] [--json] [--verbose] [--github-output]
// deno task cleanup --cache [--dry-run] <retention-days> [--yes] [--json] [--github-output]
import {
  checkArgumentOrder,
  CLEANUP_OUTPUTS,
  type CleanupPlan,
  type CleanupPolicy,
  type CleanupResult,
  cleanupTaskResult,
  formatPlan,
  formatResult,
  minVersionsOf,
  type PackageVersion,
  planCleanup,
  RETAINED_NOTE,
  retentionDaysOf,
  toDelete,
} from "../lib/cleanup/cleanup.ts";
import {
  assertOutputsWritable,
  escapeCommandData,
  inGithubActions,
  main,
  parseWith,
  problemLine,
  sanitizeTerminal,
  stderrLogger,
  taskCommand,
} from "../lib/cli/cli.ts";
import { RemoteError, UsageError } from "../lib/core/errors.ts";
import { loadMatrix } from "../lib/matrix/matrix.ts";
import type { ReadManifest } from "../lib/cleanup/cleanup_refs.ts";
import type { OwnerType, PackageEndpoint } from "../lib/cleanup/packages.ts";
import { render } from "../lib/cli/render.ts";
// lib/cleanup/packages.ts (zod), lib/registry/registry.ts, lib/github/github.ts and
// lib/cleanup/cleanup_refs.ts are imported after
// the arguments are parsed, so --help and a bad flag start without them (docs/startup.md).

export const OUTPUTS = CLEANUP_OUTPUTS;

function ownerType(value: string): OwnerType {
  if (value !== "user" && value !== "org") {
    throw new UsageError(`Invalid owner type: ${JSON.stringify(value)} (expected user or org)`);
  }
  return value;
}

/** Reads one line from stdin after asking on stderr; only "y" or "yes" agrees. */
async function confirm(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(question));
  const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    line += value;
  }
  await reader.cancel();
  return /^y(es)?$/i.test(line.trim());
}

function program() {
  return taskCommand(
    "cleanup",
    "Delete old image versions from the registry, keeping the newest versioned tags, their " +
      "attestations and every manifest a kept version references",
  )
    .argument(
      "<retention-days>",
      "keep versions created within this many days (0-36500)",
      parseWith(retentionDaysOf),
    )
    .argument(
      "[min-versions]",
      "keep this many newest zfs-*_kernel-* tags whatever their age (1-1000000; required, except with --cache)",
      parseWith(minVersionsOf),
    )
    .option("--dry-run", "print the plan, delete nothing")
    .option("--yes", "delete without asking (needed without a terminal)")
    .option(
      "--cache",
      "clean the layer-cache package (matrix.yaml publish.cache) by age alone: no tags to keep",
    )
    .option("--json", "print the result as one JSON document")
    .option("--verbose", "list every kept untagged version instead of a count per reason")
    .option(
      "--github-output",
      "write the values to $GITHUB_OUTPUT and a step summary to $GITHUB_STEP_SUMMARY",
    )
    // --package and --owner are checked after parsing, with lib/cleanup/packages.ts' patterns.
    .option(
      "--package <name>",
      "container package (default: from matrix.yaml publish.image, publish.cache with --cache)",
    )
    .option(
      "--owner <owner>",
      "user or organisation (default: from matrix.yaml publish.image, publish.cache with --cache)",
    )
    .option(
      "--owner-type <type>",
      "user or org (default: asked from the API)",
      parseWith(ownerType),
    );
}

/** The policy the arguments ask for; refuses a missing, extra or swapped min-versions. */
function policyOf(retentionDays: number, minVersions: number | undefined, cache: boolean) {
  if (cache) {
    if (minVersions !== undefined) {
      throw new UsageError(
        "--cache takes only <retention-days>: the layer cache has no tags to keep",
      );
    }
    return { retentionDays, minVersions: 0, ageOnly: true };
  }
  if (minVersions === undefined) {
    throw new UsageError(
      "Missing <min-versions>: the order is <retention-days> <min-versions> (e.g. cleanup 90 3), " +
        "or --cache <retention-days> for the layer cache",
    );
  }
  checkArgumentOrder(retentionDays, minVersions);
  return { retentionDays, minVersions };
}

/** The listing, or undefined when GitHub has no such package (404): a new fork's first run. */
async function listOrMissing<T>(list: () => Promise<T>): Promise<T | undefined> {
  try {
    return await list();
  } catch (error) {
    if (error instanceof RemoteError && error.status === 404) return undefined;
    throw error;
  }
}

/** A notice line for stderr: `notice: …`, or the `::notice::` workflow command. */
function noticeLine(message: string): string {
  const clean = sanitizeTerminal(message);
  return inGithubActions()
    ? `::notice title=cleanup::${escapeCommandData(clean)}`
    : `notice: ${clean}`;
}

type Packages = typeof import("../lib/cleanup/packages.ts");

/** The package to clean: --owner/--package, else matrix.yaml publish.image (or .cache). */
async function packageOf(
  packages: Packages,
  options: { owner?: string; package?: string; cache?: boolean },
) {
  const matrix = (await loadMatrix()).publish;
  const publish = options.cache ? matrix.cache : matrix.image;
  let registry = "ghcr.io";
  let owner = options.owner;
  let name = options.package;
  try {
    const fromMatrix = packages.packageOfImage(publish);
    registry = fromMatrix.registry;
    owner ??= fromMatrix.owner;
    name ??= fromMatrix.packageName;
  } catch (error) {
    // --owner and --package name a ghcr.io package whatever matrix.yaml publishes to
    if (!owner || !name) throw error;
  }
  return { registry, owner, name };
}

/** The plan: every page listed first; kept manifests and aliases read (not for the cache). */
async function makePlan(
  versions: PackageVersion[] | undefined,
  policy: CleanupPolicy,
  readManifest: ReadManifest,
  what: string,
): Promise<CleanupPlan> {
  const { planWithReferences } = await import("../lib/cleanup/cleanup_refs.ts");
  if (!versions) {
    return {
      ...planCleanup([], { ...policy, minVersions: 1, ageOnly: true }, new Date()),
      policy,
      notice: `There is no package ${what} yet (GitHub answers 404; a private package needs a ` +
        `token that can read it): nothing to delete`,
    };
  }
  // The cache's manifests list layers, not other manifests: no reads needed (docs/cleanup.md).
  if (policy.ageOnly) return planCleanup(versions, policy, new Date());
  return (await planWithReferences(versions, policy, new Date(), readManifest)).plan;
}

/** Whether to delete: --yes, else the terminal's answer (without a terminal: refused). */
async function agreed(
  count: number,
  options: { yes?: boolean; json?: boolean },
  planText: () => string,
): Promise<boolean> {
  if (options.yes) return true;
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError(
      `Refusing to delete ${count} versions without a terminal to confirm: add --yes`,
    );
  }
  if (options.json) console.error(planText());
  if (await confirm(`Delete ${count} versions? [y/N] `)) return true;
  console.error("Nothing deleted");
  return false;
}

/** Says what the deletions did; 1 when any failed. */
function reportRun(result: CleanupResult, attempted: number): number {
  const retained = result.retained.length
    ? `; ${result.retained.length} ${RETAINED_NOTE}, not a failure`
    : "";
  if (result.failed.length) {
    console.error(problemLine(
      "error",
      `${result.failed.length} of ${attempted} deletes failed (listed above); ` +
        `running again is safe${retained}`,
    ));
    return 1;
  }
  console.error(`Deleted ${result.deleted.length} versions${retained}`);
  return 0;
}

/** The GitHub token, or a usage error saying how to give one. */
async function requiredToken(githubToken: () => Promise<string | undefined>): Promise<string> {
  const token = await githubToken();
  if (!token) {
    throw new UsageError(
      "No GitHub token: set GH_TOKEN (with read:packages and delete:packages) or run gh auth login",
    );
  }
  return token;
}

/** Renders the plan and what was deleted (text, JSON, $GITHUB_OUTPUT and the step summary). */
function renderOutcome(
  plan: CleanupPlan,
  run: { endpoint: PackageEndpoint; repository: string; dryRun: boolean; result: CleanupResult },
  options: { json?: boolean; githubOutput?: boolean },
): void {
  const { endpoint, repository, dryRun, result } = run;
  const endpointJson = {
    owner: endpoint.owner,
    "package-name": endpoint.packageName,
    "owner-type": endpoint.ownerType,
    path: endpoint.path,
    repository,
  };
  render(cleanupTaskResult(plan, { dryRun, endpoint: endpointJson, result }), {
    json: options.json,
    githubOutput: options.githubOutput,
  });
}

export async function cleanup(args: string[]): Promise<number> {
  const command = program();
  await command.parseAsync(args, { from: "user" });
  const [retentionDays, givenMinVersions] = command.processedArgs;
  const given = command.opts();
  const policy = policyOf(retentionDays, givenMinVersions, Boolean(given.cache));
  const [packages, { githubToken }, { readManifest }] = await Promise.all([
    import("../lib/cleanup/packages.ts"),
    import("../lib/github/github.ts"),
    import("../lib/registry/registry.ts"),
  ]);
  const options = {
    ...given,
    package: given.package === undefined ? undefined : packages.packageName(given.package),
    owner: given.owner === undefined ? undefined : packages.ownerName(given.owner),
  };
  // A summary that cannot be written must stop the run before anything is deleted.
  if (options.githubOutput) assertOutputsWritable();
  const { registry, owner, name } = await packageOf(packages, options);
  const client = { token: await requiredToken(githubToken) };
  const endpoint = await packages.resolvePackage(owner, name, {
    ...client,
    ownerType: options.ownerType,
  });
  // Every page is read (and validated) before anything is decided.
  const listed = await listOrMissing(() => packages.listPackageVersions(endpoint, client));
  const repository = packages.packageRepository(registry, owner, name);
  const plan = await makePlan(
    listed?.versions,
    policy,
    async (digest) => (await readManifest(repository, digest)).manifest,
    `${name} of ${owner}`,
  );
  const doomed = toDelete(plan);
  const where =
    `${endpoint.path} (${endpoint.ownerType} ${endpoint.owner}), registry ${repository}`;
  const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  const planText = () => formatPlan(plan, { verbose: options.verbose, colour });

  if (!options.json) console.log(`${where}\n${planText()}`);
  if (plan.notice) console.error(noticeLine(plan.notice));
  const dryRun = Boolean(options.dryRun);
  const finish = (result: CleanupResult) =>
    renderOutcome(plan, { endpoint, repository, dryRun, result }, options);
  const nothing: CleanupResult = { deleted: [], retained: [], failed: [] };

  if (options.dryRun || doomed.length === 0) {
    if (!options.json) {
      console.log(options.dryRun ? "Dry run: nothing deleted" : "Nothing to delete");
    }
    finish(nothing);
    return 0;
  }
  if (!await agreed(doomed.length, options, planText)) {
    finish(nothing);
    return 0;
  }

  const result = await packages.deleteVersions(endpoint, doomed, {
    ...client,
    logger: stderrLogger,
  });
  finish(result);
  if (!options.json) console.log(`\n${formatResult(plan, result)}`);
  return reportRun(result, doomed.length);
}

if (import.meta.main) main(() => cleanup(Deno.args));
