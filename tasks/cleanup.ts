// Deletes old versions of the published image package, keeping the newest, their attestations
// and everything a kept version references.
// deno task cleanup [--dry-run] <retention-days> <min-versions> [--yes] [--json] [--verbose] [--github-output]
import {
  type CleanupResult,
  formatPlan,
  formatResult,
  minVersionsOf,
  planJson,
  planMarkdown,
  RETAINED_NOTE,
  retentionDaysOf,
  toDelete,
} from "../lib/cleanup.ts";
import {
  assertOutputsWritable,
  main,
  parseWith,
  printJson,
  problemLine,
  stderrLogger,
  taskCommand,
  writeGithubOutput,
  writeStepSummary,
} from "../lib/cli.ts";
import { UsageError } from "../lib/errors.ts";
import { loadMatrix } from "../lib/matrix.ts";
import type { OwnerType } from "../lib/packages.ts";
// lib/packages.ts (zod), lib/registry.ts, lib/github.ts and lib/cleanup_refs.ts are imported after
// the arguments are parsed, so --help and a bad flag start without them (docs/startup.md).

export const OUTPUTS = [
  "delete-versions",
  "delete-count",
  "keep-count",
  "retained-versions",
  "retained-count",
] as const;

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

export async function cleanup(args: string[]): Promise<number> {
  const program = taskCommand(
    "cleanup",
    "Delete old image versions from the registry, keeping the newest versioned tags, their " +
      "attestations and every manifest a kept version references",
  )
    .argument(
      "<retention-days>",
      "keep versions created within this many days (0 to 36500)",
      parseWith(retentionDaysOf),
    )
    .argument(
      "<min-versions>",
      "keep this many newest zfs-*_kernel-* tags whatever their age",
      parseWith(minVersionsOf),
    )
    .option("--dry-run", "print the plan, delete nothing")
    .option("--yes", "delete without asking (needed without a terminal)")
    .option("--json", "print the plan (and what was deleted) as one JSON document")
    .option("--verbose", "list every kept untagged version instead of a count per reason")
    .option(
      "--github-output",
      "write delete-versions, delete-count, keep-count, retained-versions, retained-count and a summary",
    )
    // --package and --owner are checked after parsing, with lib/packages.ts' patterns.
    .option("--package <name>", "container package (default: from matrix.yaml publish.image)")
    .option("--owner <owner>", "user or organisation (default: from matrix.yaml publish.image)")
    .option(
      "--owner-type <type>",
      "user or org (default: asked from the API)",
      parseWith(ownerType),
    );
  await program.parseAsync(args, { from: "user" });
  const [retentionDays, minVersions] = program.processedArgs;
  const [packages, { planWithReferences }, { githubToken }, { readManifest }] = await Promise.all([
    import("../lib/packages.ts"),
    import("../lib/cleanup_refs.ts"),
    import("../lib/github.ts"),
    import("../lib/registry.ts"),
  ]);
  const { deleteVersions, listPackageVersions, packageOfImage, packageRepository, resolvePackage } =
    packages;
  const given = program.opts();
  const options = {
    ...given,
    package: given.package === undefined ? undefined : packages.packageName(given.package),
    owner: given.owner === undefined ? undefined : packages.ownerName(given.owner),
  };
  // A summary that cannot be written must stop the run before anything is deleted.
  if (options.githubOutput) assertOutputsWritable();

  const publish = (await loadMatrix()).publish.image;
  let registry = "ghcr.io";
  let owner = options.owner;
  let name = options.package;
  try {
    const fromMatrix = packageOfImage(publish);
    registry = fromMatrix.registry;
    owner ??= fromMatrix.owner;
    name ??= fromMatrix.packageName;
  } catch (error) {
    // --owner and --package name a ghcr.io package whatever matrix.yaml publishes to
    if (!owner || !name) throw error;
  }
  const token = await githubToken();
  if (!token) {
    throw new UsageError(
      "No GitHub token: set GH_TOKEN (with read:packages and delete:packages) or run gh auth login",
    );
  }
  const client = { token };
  const endpoint = await resolvePackage(owner, name, { ...client, ownerType: options.ownerType });
  // Every page is read (and validated) before anything is decided.
  const { versions } = await listPackageVersions(endpoint, client);
  const repository = packageRepository(registry, owner, name);
  const { plan } = await planWithReferences(
    versions,
    { retentionDays, minVersions },
    new Date(),
    async (digest) => (await readManifest(repository, digest)).manifest,
  );
  const doomed = toDelete(plan);
  const where =
    `${endpoint.path} (${endpoint.ownerType} ${endpoint.owner}), registry ${repository}`;
  const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  const planText = () => formatPlan(plan, { verbose: options.verbose, colour });

  if (!options.json) console.log(`${where}\n${planText()}`);
  const finish = (result: CleanupResult) => {
    const dryRun = Boolean(options.dryRun);
    if (options.json) {
      printJson(planJson(plan, {
        dryRun,
        endpoint: {
          owner: endpoint.owner,
          "package-name": endpoint.packageName,
          "owner-type": endpoint.ownerType,
          path: endpoint.path,
          repository,
        },
        result,
      }));
    }
    if (options.githubOutput) {
      const ids = dryRun ? doomed.map((v) => v.id) : result.deleted;
      writeGithubOutput({
        "delete-versions": ids.join(","),
        "delete-count": ids.length,
        "keep-count": plan.versions.length - ids.length,
        "retained-versions": result.retained.join(","),
        "retained-count": result.retained.length,
      });
      writeStepSummary(
        planMarkdown(plan, dryRun ? undefined : result) +
          (dryRun ? "\nDry run: nothing deleted.\n" : ""),
      );
    }
  };
  const nothing: CleanupResult = { deleted: [], retained: [], failed: [] };

  if (options.dryRun || doomed.length === 0) {
    if (!options.json) {
      console.log(options.dryRun ? "Dry run: nothing deleted" : "Nothing to delete");
    }
    finish(nothing);
    return 0;
  }
  if (!options.yes) {
    if (!Deno.stdin.isTerminal()) {
      throw new UsageError(
        `Refusing to delete ${doomed.length} versions without a terminal to confirm: add --yes`,
      );
    }
    if (options.json) console.error(planText());
    if (!await confirm(`Delete ${doomed.length} versions? [y/N] `)) {
      console.error("Nothing deleted");
      finish(nothing);
      return 0;
    }
  }

  const result = await deleteVersions(endpoint, doomed, { ...client, logger: stderrLogger });
  finish(result);
  if (!options.json) console.log(`\n${formatResult(plan, result)}`);
  const retained = result.retained.length
    ? `; ${result.retained.length} ${RETAINED_NOTE}, not a failure`
    : "";
  if (result.failed.length) {
    console.error(problemLine(
      "error",
      `${result.failed.length} of ${doomed.length} deletes failed (listed above); ` +
        `running again is safe${retained}`,
    ));
    return 1;
  }
  console.error(`Deleted ${result.deleted.length} versions${retained}`);
  return 0;
}

if (import.meta.main) main(() => cleanup(Deno.args));
