// Every call to podman: build (with progress and a log file), push (digest from --digestfile),
// create/export/cp/rm to read a FROM scratch image without starting a container, rmi, exists.
// Arguments always go as an array, never through a shell.
import { CheckError } from "./errors.ts";
import { isLoopbackRegistry } from "./build.ts";
import { BuildProgress, lines } from "./progress.ts";
import { tarEntries } from "./tar.ts";

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

async function run(command: string, args: string[]): Promise<Output> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw notInstalled(command);
    throw error;
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.replace(/^Error: /, "") ?? "";
}

async function mustRun(command: string, args: string[], what: string): Promise<string> {
  const output = await run(command, args);
  if (output.code !== 0) {
    throw new CheckError(`${what} failed (${command} ${args[0]}): ${lastLine(output.stderr)}`);
  }
  return output.stdout;
}

/** Fails with how to install podman when it is not on PATH. */
export async function requirePodman(): Promise<void> {
  await run("podman", ["--version"]);
}

function tlsFlags(ref: string): string[] {
  return isLoopbackRegistry(ref) ? ["--tls-verify=false"] : [];
}

/** Whether an image is in local storage. */
export async function imageExists(ref: string): Promise<boolean> {
  const command = engine(true);
  const output = await run(command, ["image", "inspect", "--format", "{{.Id}}", ref]);
  return output.code === 0;
}

/** Makes sure an image is local: pulls it when it is not; not found → CheckError naming it. */
export async function ensureImage(ref: string): Promise<void> {
  if (await imageExists(ref)) return;
  const command = engine(true);
  const output = await run(command, [
    "pull",
    "--quiet",
    ...(command === "podman" ? tlsFlags(ref) : []),
    ref,
  ]);
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

/** The paths of the files in a container's filesystem, read from `podman export` as it streams. */
export async function containerFiles(id: string): Promise<string[]> {
  const exporter = new Deno.Command(engine(true), {
    args: ["export", id],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(exporter.stderr).text();
  const paths: string[] = [];
  for await (const entry of tarEntries(exporter.stdout)) {
    if (entry.type === "file") paths.push(entry.name);
  }
  await exporter.stdout.cancel().catch(() => {});
  const status = await exporter.status;
  if (!status.success) {
    throw new CheckError(`Reading the files of container ${id} failed: ${lastLine(await errors)}`);
  }
  return paths;
}

/** Copies a container's whole filesystem into `dest` (an existing folder). */
export async function copyOut(id: string, dest: string): Promise<void> {
  await mustRun(engine(true), ["cp", `${id}:/`, dest], `Copying files out of ${id}`);
}

/** Removes a local image. */
export async function removeImage(ref: string): Promise<void> {
  await mustRun(engine(), ["rmi", ref], `Removing ${ref}`);
}

/** Pushes an image and returns its digest (sha256:…) from `--digestfile`. */
export async function pushImage(ref: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "push-" });
  try {
    const digestFile = `${dir}/digest`;
    await mustRun(
      "podman",
      ["push", "--digestfile", digestFile, ...tlsFlags(ref), ref],
      `Pushing ${ref}`,
    );
    return (await Deno.readTextFile(digestFile)).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export interface BuildResult {
  success: boolean;
  code: number;
  logFile: string;
  /** the last lines of the log, for a failure message */
  tail: string[];
  elapsed: string;
}

/**
 * Runs `podman <argv>` (a build), writing every output line to `logFile` and feeding it to the
 * progress display; a ticker refreshes the live line on a terminal.
 */
export async function runBuild(
  argv: string[],
  logFile: string,
  progress: BuildProgress,
): Promise<BuildResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("podman", { args: argv, stdout: "piped", stderr: "piped" }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw notInstalled("podman");
    throw error;
  }
  const log = await Deno.open(logFile, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let writes = Promise.resolve();
  const take = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of lines(stream)) {
      progress.line(line);
      const bytes = encoder.encode(`${line}\n`);
      writes = writes.then(async () => {
        await log.write(bytes);
      });
    }
  };
  const ticker = setInterval(() => progress.tick(), 1000);
  try {
    const [status] = await Promise.all([child.status, take(child.stdout), take(child.stderr)]);
    await writes;
    return {
      success: status.success,
      code: status.code,
      logFile,
      tail: [...progress.tail],
      elapsed: progress.elapsed(),
    };
  } finally {
    clearInterval(ticker);
    progress.finish();
    log.close();
  }
}
