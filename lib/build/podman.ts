// Every call to podman: build (with progress and a log file), push (digest from --digestfile),
// create/export/cp/rm to read a FROM scratch image without starting a container, rmi, exists.
// Arguments always go as an array, never through a shell.
import { dirname, join } from "node:path";
import { sanitizeTerminal } from "../core/sanitize.ts";
import { CheckError } from "../core/errors.ts";
import { isLoopbackRegistry } from "../core/http.ts";
import { DIGEST } from "../core/patterns.ts";
import type { BuildFailure } from "./build_failure.ts";
import type { StageTiming } from "./build_output.ts";
import { type BuildProgress, lines } from "./progress.ts";
import { safeArchivePath } from "./rpms.ts";
import { envInt, httpSettings } from "../core/settings.ts";
import { tarEntries, type TarEntry } from "../core/tar.ts";

/**
 * PODMAN_TIMEOUT_MS: the time limit of a podman call that reaches a registry (pull, push);
 * milliseconds like the HTTP settings, 1 s to 24 h, default 30 minutes.
 */
const PODMAN_TIMEOUT = { min: 1000, max: 86_400_000, fallback: 1_800_000 } as const;

/** The validated time limit, in milliseconds, of podman calls that reach a registry. */
export function registryTimeoutMs(): number {
  return envInt("PODMAN_TIMEOUT_MS", PODMAN_TIMEOUT);
}

const INSTALL_HINT = "apt-get install podman / dnf install podman";

/** The engine command: podman, or docker when CONTAINER_ENGINE=docker (read-only calls only). */
export function engine(readOnly = false): string {
  const wanted = Deno.env.get("CONTAINER_ENGINE");
  return readOnly && wanted === "docker" ? "docker" : "podman";
}

function notInstalled(command: string): CheckError {
  return new CheckError(
    command === "podman"
      ? `podman is not installed: ${INSTALL_HINT}`
      : `${command} is not installed`,
  );
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

function timedOut(command: string, args: string[], options: RunOptions): CheckError {
  return new CheckError(
    `${command} ${args[0]} timed out after ${(options.timeoutMs ?? 0) / 1000} s ` +
      "(raise PODMAN_TIMEOUT_MS to wait longer)",
  );
}

interface RunOptions {
  /** Kill the command after this many milliseconds and fail with a time-out error. */
  timeoutMs?: number;
  /** Let the command write its stderr (progress bars) straight to the terminal. */
  inheritStderr?: boolean;
}

async function run(command: string, args: string[], options: RunOptions = {}): Promise<Output> {
  const controller = new AbortController();
  const timer = options.timeoutMs === undefined
    ? undefined
    : setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const output = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: options.inheritStderr ? "inherit" : "piped",
      signal: controller.signal,
    }).output();
    if (controller.signal.aborted) throw timedOut(command, args, options);
    const decode = (bytes: Uint8Array | null) => bytes ? new TextDecoder().decode(bytes) : "";
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: options.inheritStderr ? "(see podman's output above)" : decode(output.stderr),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw notInstalled(command);
    if (controller.signal.aborted && !(error instanceof CheckError)) {
      throw timedOut(command, args, options);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.replace(/^Error: /, "") ?? "";
}

/** Runs a command and returns its stdout; a failure is a CheckError with its last stderr line. */
export async function mustRun(
  command: string,
  args: string[],
  what: string,
  options: RunOptions = {},
): Promise<string> {
  const output = await run(command, args, options);
  if (output.code !== 0) {
    throw new CheckError(`${what} failed (${command} ${args[0]}): ${lastLine(output.stderr)}`);
  }
  return output.stdout;
}

/** Fails with how to install podman when it is not on PATH. */
export async function requirePodman(): Promise<void> {
  await run("podman", ["--version"]);
}

/** `--tls-verify=false` for a loopback registry (plain http in tests), else nothing. */
export function tlsFlags(ref: string): string[] {
  return isLoopbackRegistry(ref) ? ["--tls-verify=false"] : [];
}

/** Whether an image is in local storage. */
async function imageExists(ref: string): Promise<boolean> {
  const command = engine(true);
  const output = await run(command, ["image", "inspect", "--format", "{{.Id}}", ref]);
  return output.code === 0;
}

/**
 * Makes sure an image is local: pulls it when it is not (within PODMAN_TIMEOUT_MS,
 * with podman's progress on a terminal, quiet otherwise); not found → CheckError naming it.
 */
export async function ensureImage(ref: string): Promise<void> {
  if (await imageExists(ref)) return;
  const command = engine(true);
  const timeoutMs = registryTimeoutMs();
  const showProgress = Deno.stderr.isTerminal();
  const output = await run(command, [
    "pull",
    ...(showProgress ? [] : ["--quiet"]),
    ...(command === "podman" ? tlsFlags(ref) : []),
    ref,
  ], { timeoutMs, inheritStderr: showProgress });
  if (output.code !== 0) {
    throw new CheckError(
      `Image not found: ${ref} (not local, and pulling it failed: ${lastLine(output.stderr)})`,
    );
  }
}

/**
 * Runs `fn` with a container created (never started) from an image, removing it afterwards.
 * A FROM scratch image has no command, so a placeholder one is given.
 */
export async function withContainer<T>(ref: string, fn: (id: string) => Promise<T>): Promise<T> {
  const command = engine(true);
  const id = (await mustRun(command, ["create", ref, "/none"], `Creating a container from ${ref}`))
    .trim();
  try {
    return await fn(id);
  } finally {
    await run(command, ["rm", "--force", id]);
  }
}

/** Feeds each entry of `podman export <id>` to `take` as the tar stream arrives. */
async function exportEntries(
  id: string,
  take: (entry: TarEntry) => Promise<void> | void,
): Promise<void> {
  const exporter = new Deno.Command(engine(true), {
    args: ["export", id],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(exporter.stderr).text();
  try {
    for await (const entry of tarEntries(exporter.stdout)) await take(entry);
  } finally {
    await exporter.stdout.cancel().catch(() => {});
  }
  const status = await exporter.status;
  if (!status.success) {
    throw new CheckError(`Reading the files of container ${id} failed: ${lastLine(await errors)}`);
  }
}

/** The paths of the regular files in a container's filesystem (symlinks and devices left out). */
export async function containerFiles(id: string): Promise<string[]> {
  const paths: string[] = [];
  await exportEntries(id, (entry) => {
    if (entry.type === "file") paths.push(entry.name);
  });
  return paths;
}

/**
 * Copies the regular files of a container whose path `wanted` accepts into `dest` (an existing
 * folder) and returns their relative paths (see copyEntries).
 */
export async function copyRegularFiles(
  id: string,
  dest: string,
  wanted: (path: string) => boolean,
): Promise<string[]> {
  const copied: string[] = [];
  await exportEntries(id, async (entry) => {
    const path = await copyEntry(entry, dest, wanted);
    if (path !== undefined) copied.push(path);
  });
  return copied;
}

/**
 * Copies one tar entry into `dest` if it is a regular file `wanted` accepts. Symlinks, hard
 * links and devices are never copied, paths that climb out (`..`) are refused, the body is
 * streamed to disk (a multi-GB file never sits in memory), and a file is renamed into place so a
 * symlink left in `dest` is replaced, not written through. Returns the relative path copied.
 */
export async function copyEntry(
  entry: TarEntry,
  dest: string,
  wanted: (path: string) => boolean,
): Promise<string | undefined> {
  if (entry.type !== "file") return undefined;
  const path = safeArchivePath(entry.name);
  if (path === undefined || !wanted(path)) return undefined;
  const target = join(dest, path);
  await makeFolders(dest, dirname(path));
  const temporary = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o644 });
    await entry.stream().pipeTo(file.writable);
    await Deno.rename(temporary, target);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    if (error instanceof CheckError) throw error;
    throw new CheckError(
      `Cannot write ${target}: ${error instanceof Error ? error.message : error}`,
    );
  }
  return path;
}

/** mkdir -p of `relative` under `base`, refusing to go through a symlink. */
async function makeFolders(base: string, relative: string): Promise<void> {
  let path = base;
  for (const part of relative === "." ? [] : relative.split("/")) {
    path = join(path, part);
    const info = await Deno.lstat(path).catch(() => undefined);
    if (info === undefined) await Deno.mkdir(path);
    else if (!info.isDirectory) {
      throw new CheckError(`Cannot copy into ${path}: it exists and is not a folder`);
    }
  }
}

/** Removes a local image. */
export async function removeImage(ref: string): Promise<void> {
  await mustRun(engine(), ["rmi", ref], `Removing ${ref}`);
}

/**
 * Whether a failed push is worth another try: the registry answered 5xx, or the connection broke
 * (reset, EOF, timeout). podman retries a broken connection three times itself, but not a 5xx.
 */
export function pushRetryable(stderr: string): boolean {
  return /received unexpected HTTP status: 5\d\d|\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b|connection reset by peer|broken pipe|unexpected EOF|: EOF\s*$|i\/o timeout|TLS handshake timeout|server sent GOAWAY/m
    .test(stderr);
}

/** How a push retries; the defaults are HTTP_RETRIES and HTTP_BACKOFF_MS. */
export interface PushOptions {
  retries?: number;
  backoffMs?: number;
  /** gets each visible retry line */
  onRetry?: (line: string) => void;
  /** reads the tag's digest back from the registry (default: lib/registry/registry.ts manifestExists) */
  confirm?: (ref: string) => Promise<string | undefined>;
}

/** The longest wait between two push attempts. */
const MAX_PUSH_BACKOFF_MS = 30_000;

async function registryDigest(ref: string): Promise<string | undefined> {
  const { manifestExists } = await import("../registry/registry.ts");
  return (await manifestExists(ref)).digest;
}

/**
 * Pushes an image (each attempt within PODMAN_TIMEOUT_MS), retrying a 5xx or a broken
 * connection a bounded number of times, then reads the tag back from the registry: the digest
 * returned is the one podman pushed (`--digestfile`) and the registry confirms for the tag.
 */
export async function pushImage(ref: string, options: PushOptions = {}): Promise<string> {
  const settings = httpSettings();
  const retries = options.retries ?? settings.retries;
  const backoffMs = options.backoffMs ?? settings.backoffMs;
  const dir = await Deno.makeTempDir({ prefix: "push-" });
  let pushed: string;
  try {
    const digestFile = `${dir}/digest`;
    const args = ["push", "--digestfile", digestFile, ...tlsFlags(ref), ref];
    for (let attempt = 0;; attempt++) {
      const output = await run("podman", args, { timeoutMs: registryTimeoutMs() });
      if (output.code === 0) break;
      const reason = sanitizeTerminal(lastLine(output.stderr));
      if (attempt >= retries || !pushRetryable(output.stderr)) {
        const tries = attempt > 0 ? ` after ${attempt + 1} attempts` : "";
        throw new CheckError(`Pushing ${ref} failed${tries} (podman push): ${reason}`);
      }
      const wait = Math.min(backoffMs * 2 ** attempt, MAX_PUSH_BACKOFF_MS);
      options.onRetry?.(
        `podman push ${ref} failed: ${reason}; retrying in ${wait / 1000} s ` +
          `(attempt ${attempt + 2} of ${retries + 1})`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    pushed = (await Deno.readTextFile(digestFile)).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  if (!DIGEST.test(pushed)) {
    throw new CheckError(`podman push wrote no digest for ${ref}: ${sanitizeTerminal(pushed)}`);
  }
  const confirmed = await (options.confirm ?? registryDigest)(ref);
  if (confirmed !== pushed) {
    throw new CheckError(
      `The registry does not confirm the push of ${ref}: podman pushed ${pushed}, the tag ` +
        `reads ${confirmed ?? "as missing"}`,
    );
  }
  return pushed;
}

/**
 * The main registries.conf podman reads (CONTAINERS_REGISTRIES_CONF if set, else the user's
 * $HOME/.config/containers/registries.conf, else /etc/containers/registries.conf): its path and
 * text, or undefined when there is none.
 */
export async function hostRegistriesConf(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<{ path: string; text: string } | undefined> {
  const paths = env.CONTAINERS_REGISTRIES_CONF ? [env.CONTAINERS_REGISTRIES_CONF] : [
    ...(env.HOME ? [`${env.HOME}/.config/containers/registries.conf`] : []),
    "/etc/containers/registries.conf",
  ];
  for (const path of paths) {
    try {
      return { path, text: await Deno.readTextFile(path) };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new CheckError(
        `Cannot read ${path}: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
  return undefined;
}

export interface BuildResult {
  success: boolean;
  code: number;
  logFile: string;
  /** the last lines of the log, for a failure message */
  tail: string[];
  elapsed: string;
  /** Ctrl-C (SIGINT), SIGTERM or SIGHUP stopped the build */
  interrupted: boolean;
  /** per-stage times, and which stages came from the layer cache */
  stages: StageTiming[];
  /** why it failed, from the log (undefined after a success or when the log names nothing) */
  failure?: BuildFailure;
  /** working containers podman left behind and this build removed (after a failure) */
  removedContainers: string[];
}

function logError(logFile: string, error: unknown): CheckError {
  return new CheckError(
    `Cannot write the build log ${logFile}: ${error instanceof Error ? error.message : error}`,
  );
}

/** The podman options before the subcommand (`--root …` in tests), for the calls around a build. */
function globalOptions(argv: string[]): string[] {
  const build = argv.indexOf("build");
  return build > 0 ? argv.slice(0, build) : [];
}

/**
 * The ids of the buildah working containers in the storage (`podman ps --external` lists them
 * with the status "Storage"; podman's own containers are left out). A podman that cannot list
 * them gives an empty list: the build itself goes on and will report its own error.
 */
export async function workingContainers(
  globals: string[] = [],
  env: Record<string, string> = {},
): Promise<string[]> {
  const output = await new Deno.Command("podman", {
    args: [...globals, "ps", "--all", "--external", "--format", "{{.ID}} {{.Status}}"],
    env,
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (!output?.success) return [];
  return new TextDecoder().decode(output.stdout).split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([id, status]) => id && /^[0-9a-f]{12,64}$/.test(id) && status === "Storage")
    .map(([id]) => id!);
}

/** podman's options and what a signal to this process passes on to it. */
export interface RunBuildOptions {
  /** added to podman's environment */
  env?: Record<string, string>;
  /** how long podman may take to stop after a signal before it is killed (default 10 s) */
  graceMs?: number;
}

/**
 * Runs `podman <argv>` (a build), writing every output line to `logFile` and feeding it to the
 * progress display; a ticker refreshes the live line on a terminal. A signal stops it (see
 * stopOnSignal); after a failure or an interrupt the working containers podman left are removed.
 */
export async function runBuild(
  argv: string[],
  logFile: string,
  progress: BuildProgress,
  options: RunBuildOptions = {},
): Promise<BuildResult> {
  const env = options.env ?? {};
  let log: Deno.FsFile;
  try {
    log = await Deno.open(logFile, { write: true, create: true, truncate: true });
  } catch (error) {
    throw logError(logFile, error);
  }
  const globals = globalOptions(argv);
  let child: Deno.ChildProcess;
  let before: string[];
  try {
    before = await workingContainers(globals, env);
    // Not detached: podman and its RUN steps stay in this task's process group, so a terminal's
    // Ctrl-C reaches all of them at once, as for any command in the foreground.
    child = new Deno.Command("podman", {
      args: argv,
      env,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    log.close();
    if (error instanceof Deno.errors.NotFound) throw notInstalled("podman");
    throw error;
  }
  const encoder = new TextEncoder();
  let writes = Promise.resolve();
  let writeError: unknown;
  const take = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of lines(stream)) {
      progress.line(line);
      const bytes = encoder.encode(`${line}\n`);
      writes = writes.then(async () => {
        if (writeError === undefined) await log.write(bytes);
      }).catch((error) => {
        writeError ??= error;
      });
    }
  };
  const ticker = setInterval(() => progress.tick(), 1000);
  const stopper = stopOnSignal(child, progress, options.graceMs ?? 10_000);
  let success = false;
  try {
    const [status] = await Promise.all([child.status, take(child.stdout), take(child.stderr)]);
    stopper.exited();
    await writes;
    if (writeError !== undefined) throw logError(logFile, writeError);
    success = status.success && !stopper.interrupted;
    progress.finish(success); // before stageTimings(); a no-op after interrupt()
    const removedContainers = success ? [] : await removeNewContainers(globals, env, before);
    return {
      success,
      code: status.code,
      logFile,
      tail: [...progress.tail],
      elapsed: progress.elapsed(),
      interrupted: stopper.interrupted,
      stages: progress.stageTimings(),
      failure: success || stopper.interrupted ? undefined : progress.failure(),
      removedContainers,
    };
  } finally {
    clearInterval(ticker);
    stopper.remove();
    progress.finish(success); // when the build threw before finishing
    log.close();
  }
}

/**
 * Removes the working containers that were not there before a failed or interrupted build:
 * podman exits on SIGINT and SIGTERM without removing its own, and a failed build can leave the
 * container of a stage that was starting when another one failed (--force-rm does not help:
 * podman 4.3 leaves one now and then either way). A build running at the same time in the same
 * podman storage would lose its containers too (docs/progress.md says so).
 */
async function removeNewContainers(
  globals: string[],
  env: Record<string, string>,
  before: string[],
): Promise<string[]> {
  const known = new Set(before);
  const left = (await workingContainers(globals, env)).filter((id) => !known.has(id));
  if (left.length === 0) return [];
  await new Deno.Command("podman", {
    args: [...globals, "rm", "--force", ...left],
    env,
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  const still = new Set(await workingContainers(globals, env));
  return left.filter((id) => !still.has(id));
}

/**
 * Passes a signal to this process (Ctrl-C, SIGTERM from a cancelled CI job, SIGHUP from a closed
 * terminal) on to podman, so the build stops and runBuild returns and the caller's cleanup runs
 * (deno would otherwise exit at once on SIGTERM or SIGHUP, leaving podman running).
 *
 * Under the task's permissions (`--allow-run=podman,…`, not all of --allow-run) Deno.kill is
 * refused; ChildProcess.kill() of the spawned podman is allowed, and reaches podman alone. podman
 * gets SIGHUP whatever the signal was: on SIGINT and SIGTERM it exits at once and leaves its
 * working container and the RUN step behind, while on SIGHUP buildah passes the signal on to the
 * RUN step, the step fails and podman removes its container. If podman is still running after
 * `graceMs`, or on a second signal, it is killed.
 */
function stopOnSignal(child: Deno.ChildProcess, progress: BuildProgress, graceMs: number) {
  let interrupted = false;
  let exited = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = (signal: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch (error) {
      // "Child process has already terminated": podman ended between the check and the kill
      if (!(error instanceof TypeError)) throw error;
    }
  };
  const listener = () => {
    if (interrupted) return stop("SIGKILL");
    interrupted = true;
    progress.interrupt();
    stop("SIGHUP");
    timer = setTimeout(() => stop("SIGKILL"), graceMs);
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, listener);
  return {
    get interrupted() {
      return interrupted;
    },
    exited() {
      exited = true;
      clearTimeout(timer);
    },
    remove() {
      clearTimeout(timer);
      for (const signal of signals) Deno.removeSignalListener(signal, listener);
    },
  };
}
