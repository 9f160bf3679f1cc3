// Running a build: the command line `build` and `test-build` share, discovery and checks up to
// the plan, and the podman build itself (its log file, temporary registries.conf, progress and
// per-stage summary). Discovery, podman, progress and the tarball module are imported where
// they are used: a task's --help starts without them.
import { fileURLToPath } from "node:url";
import { Option } from "@commander-js/extra-typings";
import {
  type BuildPlan,
  type BuildVersions,
  checkSigningPair,
  displayCommand,
  insecureRegistriesConf,
  planBuild,
  sourceUrlOf,
  tagOption,
} from "./build.ts";
import {
  archOption,
  imageOption,
  type Logger,
  parseWith,
  taskCommand,
  textTable,
  userPath,
  writeStepSummary,
  zfsOption,
} from "../cli/cli.ts";
import { CheckError, InputError } from "../core/errors.ts";
import { findRelease, loadMatrix } from "../matrix/matrix.ts";
import { imageRef } from "../core/patterns.ts";
import { renderResult, type TaskResult } from "../cli/render.ts";

const CONTAINERFILE = fileURLToPath(new URL("../../Containerfile", import.meta.url));

/** The command line of `build` (and of `test-build`, which cannot push). */
export function buildCommand(name: string, description: string) {
  return taskCommand(name, description)
    .addOption(imageOption())
    .addOption(archOption())
    .addOption(zfsOption())
    .option(
      "--tag <tag>",
      "tag the image as this (a zfs-…_kernel-… tag or a full reference)",
      parseWith(tagOption),
    )
    .addOption(
      new Option("--containerfile <path>", "Containerfile to build (its folder is the context)")
        .argParser(userPath)
        .default(CONTAINERFILE, "the project's Containerfile"),
    )
    .option(
      "--secret-key <path>",
      "Secure Boot signing key (PEM), passed as a build secret",
      userPath,
    )
    .option(
      "--secret-cert <path>",
      "Secure Boot signing certificate (x509), passed as a build secret",
      userPath,
    )
    .addOption(
      new Option("--isolation <mode>", "podman build isolation (chroot where no OCI runtime works)")
        .choices(["chroot", "oci", "rootless"] as const)
        .env("BUILD_ISOLATION"),
    )
    .option(
      "--cache-from <repo>",
      "pull layer cache from this repository (implies --layers)",
      parseWith(imageRef),
    )
    .option(
      "--cache-to <repo>",
      "push layer cache to this repository (implies --layers)",
      parseWith(imageRef),
    )
    .option("--dry-run", "print the resolved versions and the podman command, run nothing");
}

export type BuildOptions = ReturnType<ReturnType<typeof buildCommand>["opts"]>;

async function gitHead(): Promise<string> {
  const fromCi = Deno.env.get("GITHUB_SHA");
  if (fromCi) return fromCi;
  try {
    const output = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

async function requireFile(path: string | undefined, what: string): Promise<void> {
  if (path === undefined) return;
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info?.isFile) throw new InputError(`${what} is not a readable file: ${path}`);
}

/** Discovers the versions, refuses an incompatible or unpinned release, and plans the build. */
export async function prepareBuild(
  options: BuildOptions,
  logger: Logger,
): Promise<{ versions: BuildVersions & { kernelSource?: string }; plan: BuildPlan }> {
  // Signing needs both halves; refuse before any discovery or download.
  checkSigningPair(options.secretKey, options.secretCert);
  const matrix = await loadMatrix();
  await requireFile(options.containerfile, "--containerfile");
  await requireFile(options.secretKey, "--secret-key");
  await requireFile(options.secretCert, "--secret-cert");
  const [{ discoverVersions }, { zfsSourceBaseUrl }] = await Promise.all([
    import("../coreos/discover.ts"),
    import("../matrix/tarball.ts"),
  ]);
  const versions = await discoverVersions({
    matrix,
    image: options.image,
    arch: options.arch,
    zfsTag: options.zfs,
    logger,
  });
  // The same choice as `versions` (chooseZfsRelease): the two never disagree.
  if (!versions.compatible) throw new CheckError(versions.message);
  const sha256 = findRelease(matrix, versions.zfsTag)?.sha256;
  if (!sha256) {
    throw new CheckError(
      `matrix.yaml pins no sha256 for ${versions.zfsTag}, so its source cannot be verified: ` +
        `run deno task matrix add ${versions.zfsTag}`,
    );
  }
  const sourceUrl = sourceUrlOf(matrix.publish.image, Deno.env.toObject());
  const plan = planBuild({
    versions,
    zfsSha256: sha256,
    zfsSourceUrl: zfsSourceBaseUrl(),
    repository: matrix.publish.image,
    tag: options.tag,
    containerfile: options.containerfile,
    buildDate: new Date().toISOString(),
    vcsRef: await gitHead(),
    sourceUrl,
    documentationUrl: `${sourceUrl}#readme`,
    isolation: options.isolation,
    cacheFrom: options.cacheFrom,
    cacheTo: options.cacheTo,
    secretKey: options.secretKey,
    secretCert: options.secretCert,
    secretCertContent: options.secretCert === undefined
      ? undefined
      : await Deno.readFile(options.secretCert),
  });
  return { versions, plan };
}

/**
 * The lines --dry-run prints: the resolved versions under docs/vocabulary.md's labels, then the
 * exact podman command.
 */
export function planLines(
  versions: BuildVersions & { kernelSource?: string },
  plan: BuildPlan,
): string[] {
  const source = versions.kernelSource ? `, from the ${versions.kernelSource}` : "";
  const rows = [
    ["zfs release", `${versions.zfsTag} (sha256 ${plan.buildArgs.ZFS_SHA256})`],
    ["kernel", `${versions.kernelVersion} (${versions.kernelMajorMinor}${source})`],
    ["fedora", versions.fedoraVersion],
    ["target image", versions.pinnedImage],
    ["kmods image", plan.image],
    ["signing cert", plan.buildArgs.SIGNING_CERT_SHA256],
  ];
  // a header of empty cells: textTable's first line is blank
  return [
    ...textTable(["", ""], rows).split("\n").slice(1),
    displayCommand(["podman", ...plan.argv]),
  ];
}

/** The resolved plan as `--dry-run --json` prints it (docs/vocabulary.md's keys). */
export function planValues(
  versions: BuildVersions & { kernelSource?: string },
  plan: BuildPlan,
): Record<string, string | string[]> {
  return {
    "zfs-tag": versions.zfsTag,
    "zfs-sha256": plan.buildArgs.ZFS_SHA256,
    "kernel-version": versions.kernelVersion,
    "kernel-major-minor": versions.kernelMajorMinor,
    "fedora-version": versions.fedoraVersion,
    "pinned-image": versions.pinnedImage,
    "image-tag": plan.imageTag,
    "kmods-image": plan.image,
    "signing-cert-sha256": plan.buildArgs.SIGNING_CERT_SHA256,
    command: ["podman", ...plan.argv],
  };
}

/**
 * The `$GITHUB_OUTPUT` names of build: docs/vocabulary.md's `image-tag`, `kmods-image` and
 * `digest`, and `image`, the same value as `kmods-image` under the name workflows read before.
 */
export const BUILD_OUTPUTS = ["image-tag", "kmods-image", "image", "digest"] as const;

/**
 * What build reports once done, for lib/cli/render.ts: the kmods image on stdout, its tag, reference
 * and (pushed and confirmed by the registry, else "") digest as `--json` and `$GITHUB_OUTPUT`.
 */
export function buildResult(plan: BuildPlan, digest: string): TaskResult {
  const values = { "image-tag": plan.imageTag, "kmods-image": plan.image, digest };
  return {
    values: { ...values, image: plan.image },
    json: values,
    outputs: BUILD_OUTPUTS,
    lines: [plan.image],
    summaryTable: {
      header: ["kmods tag", "kmods image", "digest"],
      rows: [[plan.imageTag, plan.image, digest || "-"]],
    },
  };
}

/**
 * Creates the log folder and names the build's log file in it; a folder that cannot be made
 * (a file in its place, no permission) is a one-line CheckError.
 */
export async function buildLogFile(folder: string, imageTag: string): Promise<string> {
  try {
    await Deno.mkdir(folder, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    return `${await Deno.realPath(folder)}/build-${imageTag}-${stamp}.log`;
  } catch (error) {
    throw new CheckError(
      `Cannot write the build log in ${folder}: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * Removes the registries.conf files older than `maxAgeMs` from the log folder: those of builds
 * that were killed (SIGKILL, a crash) before their own cleanup ran.
 */
export async function removeStaleRegistriesConfs(
  folder: string,
  maxAgeMs = 86_400_000,
  now = Date.now(),
): Promise<void> {
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile || !entry.name.endsWith(".registries.conf")) continue;
      const path = `${folder}/${entry.name}`;
      // best effort: another build may remove the same file meanwhile
      const info = await Deno.lstat(path).catch(() => undefined);
      if (info?.mtime && now - info.mtime.getTime() > maxAgeMs) {
        await Deno.remove(path).catch(() => {});
      }
    }
  } catch {
    // an unreadable folder: nothing to sweep
  }
}

/** The stage table's header (docs/vocabulary.md). */
const STAGE_HEADER = ["stage", "result", "time"];

/**
 * The step summary of a build's stages, through lib/cli/render.ts: the same table the terminal shows,
 * under `### Build stages`.
 */
export function stagesSummary(rows: string[][]): string {
  return renderResult(
    {
      values: {},
      outputs: [],
      table: { header: STAGE_HEADER, rows },
      summaryTitle: "### Build stages",
    },
    { githubOutput: true, actions: false },
  ).stepSummary ?? "";
}

/** The one line a failed build ends with: the cause found in the log, what to do, the log. */
export function failureMessage(
  code: number,
  failure: { cause: string; hint?: string } | undefined,
  logFile: string,
): string {
  const cause = failure ? `: ${failure.cause}` : "";
  const hint = failure?.hint ? `; ${failure.hint}` : "";
  return `podman build failed (exit ${code})${cause}${hint}; full log: ${logFile}`;
}

/** The progress display on stderr, in the mode and width of this terminal (or of none). */
async function stderrProgress() {
  const { BuildProgress, progressMode } = await import("./progress.ts");
  const encoder = new TextEncoder();
  const mode = progressMode(Deno.env.toObject(), Deno.stderr.isTerminal());
  let columns = 100;
  try {
    // a pseudo-terminal nobody sized (script, some CI consoles) says 0 columns
    columns = Deno.consoleSize().columns || columns;
  } catch {
    // not a terminal: the width does not matter
  }
  return new BuildProgress(
    mode,
    (text) => {
      try {
        Deno.stderr.writeSync(encoder.encode(text));
      } catch {
        // the terminal is gone (SIGHUP): the build goes on to its log file and its cleanup
      }
    },
    Date.now,
    columns,
  );
}

/**
 * Writes a registries.conf beside the log that lets only the loopback registries go without
 * TLS, on top of the host's own (podman reads it instead of the host's main file); returns the
 * environment that points podman at it, or nothing when no registry needs it.
 */
async function loopbackRegistriesEnv(
  plan: BuildPlan,
  registriesConf: string,
  logger: Logger,
): Promise<Record<string, string>> {
  if (!plan.insecureRegistries.length) return {};
  const { hostRegistriesConf } = await import("./podman.ts");
  const host = await hostRegistriesConf();
  const conf = insecureRegistriesConf(plan.insecureRegistries, host?.text);
  if (conf.v1) {
    logger.warn(
      `${host?.path} is in the V1 format, which cannot be extended: this build reads only ` +
        "the loopback registries and the registries.conf.d drop-ins, not its settings",
      "registries.conf",
    );
  }
  try {
    await Deno.writeTextFile(registriesConf, conf.text);
  } catch (error) {
    throw new CheckError(
      `Cannot write ${registriesConf}: ${error instanceof Error ? error.message : error}`,
    );
  }
  return { CONTAINERS_REGISTRIES_CONF: registriesConf };
}

/**
 * Runs the planned podman build with progress. A failure shows the log's tail and ends with one
 * line naming the cause; an interrupt ends the live line, then says `interrupted` and the log.
 * With `stepSummary` (build --github-output) the stage table also goes to $GITHUB_STEP_SUMMARY,
 * whether the build succeeded or not.
 */
export async function executeBuild(
  plan: BuildPlan,
  logger: Logger,
  options: { stepSummary?: boolean } = {},
): Promise<void> {
  const [{ requirePodman, runBuild }, { stageSummaryRows }] = await Promise.all([
    import("./podman.ts"),
    import("./progress.ts"),
  ]);
  await requirePodman();
  const logFolder = "build-logs";
  const logFile = await buildLogFile(logFolder, plan.imageTag);
  await removeStaleRegistriesConfs(logFolder);
  const registriesConf = `${logFile.replace(/\.log$/, "")}.registries.conf`;
  const env = await loopbackRegistriesEnv(plan, registriesConf, logger);
  const progress = await stderrProgress();
  logger.info(`Building ${plan.image}; full log: ${logFile}`);
  let result;
  try {
    result = await runBuild(plan.argv, logFile, progress, { env });
  } finally {
    if (env.CONTAINERS_REGISTRIES_CONF) await Deno.remove(registriesConf).catch(() => {});
  }
  if (result.interrupted) {
    const n = result.removedContainers.length;
    const removed = n ? ` (removed ${n} working container${n === 1 ? "" : "s"} podman left)` : "";
    throw new CheckError(`Build interrupted${removed}; full log: ${logFile}`);
  }
  if (!result.success) {
    logger.info(`--- last ${result.tail.length} lines of ${logFile} ---`);
    for (const line of result.tail) logger.info(line);
  }
  // Per-stage times: a kernel-only update shows its userland stages as "cached".
  const rows = stageSummaryRows(result.stages, result.elapsed);
  for (const line of textTable(STAGE_HEADER, rows).split("\n")) logger.info(line);
  if (options.stepSummary) writeStepSummary(stagesSummary(rows));
  if (!result.success) throw new CheckError(failureMessage(result.code, result.failure, logFile));
  logger.info(`Built ${plan.image} in ${result.elapsed}; log: ${logFile}`);
}
