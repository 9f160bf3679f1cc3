// Deletes old versions of the published image package, keeping the newest and their attestations.
// deno task cleanup [--dry-run] <retention-days> <min-versions> [--yes] [--json] [--github-output]
import {
  type CleanupPlan,
  formatPlan,
  planCleanup,
  planMarkdown,
  toDelete,
} from "../lib/cleanup.ts";
import {
  main,
  parseWith,
  printJson,
  stderrLogger,
  taskCommand,
  wholeNumber,
  writeGithubOutput,
  writeStepSummary,
} from "../lib/cli.ts";
import { UsageError } from "../lib/errors.ts";
import { githubToken } from "../lib/github.ts";
import { loadMatrix } from "../lib/matrix.ts";
import {
  deleteVersions,
  listPackageVersions,
  ownerName,
  type OwnerType,
  packageName,
  packageOfImage,
  resolvePackage,
} from "../lib/packages.ts";

export const OUTPUTS = ["delete-versions", "delete-count", "keep-count"] as const;

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
    "Delete old image versions from the registry, keeping the newest versioned tags and their attestations",
  )
    .argument(
      "<retention-days>",
      "keep versions created within this many days",
      wholeNumber("retention days", 0),
    )
    .argument(
      "<min-versions>",
      "keep this many newest zfs-*_kernel-* tags whatever their age",
      wholeNumber("min-versions", 1),
    )
    .option("--dry-run", "print the plan, delete nothing")
    .option("--yes", "delete without asking (needed without a terminal)")
    .option("--json", "print the plan (and what was deleted) as one JSON document")
    .option("--github-output", "write delete-versions, delete-count, keep-count and a summary")
    .option(
      "--package <name>",
      "container package (default: from matrix.yaml publish.image)",
      parseWith(packageName),
    )
    .option(
      "--owner <owner>",
      "user or organisation (default: from matrix.yaml publish.image)",
      parseWith(ownerName),
    )
    .option(
      "--owner-type <type>",
      "user or org (default: asked from the API)",
      parseWith(ownerType),
    );
  await program.parseAsync(args, { from: "user" });
  const [retentionDays, minVersions] = program.processedArgs;
  const options = program.opts();

  let owner = options.owner;
  let name = options.package;
  if (!owner || !name) {
    const fromMatrix = packageOfImage((await loadMatrix()).publish.image);
    owner ??= fromMatrix.owner;
    name ??= fromMatrix.packageName;
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
  const plan: CleanupPlan = planCleanup(versions, { retentionDays, minVersions }, new Date());
  const doomed = toDelete(plan);
  const where = `${endpoint.path} (${endpoint.ownerType} ${endpoint.owner})`;

  if (!options.json) console.log(`${where}\n${formatPlan(plan)}`);
  const finish = (deleted: number[], failed: unknown[]) => {
    if (options.json) {
      printJson({ endpoint, dryRun: Boolean(options.dryRun), ...plan, deleted, failed });
    }
    if (options.githubOutput) {
      const ids = options.dryRun ? doomed.map((v) => v.id) : deleted;
      writeGithubOutput({
        "delete-versions": ids.join(","),
        "delete-count": ids.length,
        "keep-count": plan.versions.length - ids.length,
      });
      writeStepSummary(
        planMarkdown(plan) + (options.dryRun ? "\nDry run: nothing deleted.\n" : ""),
      );
    }
  };

  if (options.dryRun || doomed.length === 0) {
    if (!options.json) {
      console.log(options.dryRun ? "Dry run: nothing deleted" : "Nothing to delete");
    }
    finish([], []);
    return 0;
  }
  if (!options.yes) {
    if (!Deno.stdin.isTerminal()) {
      throw new UsageError(
        `Refusing to delete ${doomed.length} versions without a terminal to confirm: add --yes`,
      );
    }
    if (options.json) console.error(formatPlan(plan));
    if (!await confirm(`Delete ${doomed.length} versions? [y/N] `)) {
      console.error("Nothing deleted");
      finish([], []);
      return 0;
    }
  }

  const { deleted, failed } = await deleteVersions(endpoint, doomed, {
    ...client,
    logger: stderrLogger,
  });
  finish(deleted, failed);
  if (failed.length) {
    console.error(
      `error: ${failed.length} of ${doomed.length} deletes failed (listed above); running again is safe`,
    );
    return 1;
  }
  console.error(`Deleted ${deleted.length} versions`);
  return 0;
}

if (import.meta.main) main(() => cleanup(Deno.args));
