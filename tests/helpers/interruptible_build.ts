// A build that stays in one RUN step until it is stopped (tests/fixtures/podman_build/
// slow.Containerfile), and a way to stop a task that runs it as a user would: the task runs with
// deno.json's own permissions, in a session of its own, either on a pseudo-terminal where a
// Ctrl-C byte makes the terminal send SIGINT to the foreground process group, or without one,
// where a signal goes to the task's deno process alone (a cancelled CI job, `kill <pid>`).
import { taskArgs } from "./run_task.ts";
import { copyWithLibraries } from "./tools.ts";

const FIXTURES = new URL("../fixtures/podman_build/", import.meta.url);

/** A context whose base stage is the host's sh, sleep and libc: RUN works without a registry. */
export async function fixtureContext(containerfile: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "progress-build-" });
  for (const program of ["sh", "sleep"]) {
    await copyWithLibraries(`/bin/${program}`, `${dir}/rootfs`);
  }
  await Deno.copyFile(new URL(containerfile, FIXTURES), `${dir}/Containerfile`);
  return dir;
}

interface Proc {
  pid: number;
  name: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

function processes(): Proc[] {
  const list: Proc[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid pgrp session …": comm may hold spaces, so split after its ")"
      const [state, ppid, pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      list.push({
        pid: Number(entry.name),
        name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
        state: state!,
        ppid: Number(ppid),
        pgrp: Number(pgrp),
        session: Number(session),
      });
    } catch {
      // the process ended while we looked
    }
  }
  return list;
}

/**
 * The live processes (`pid name`) of a session and all they started: their children, and the
 * sessions those lead (a child spawned `detached` leads a session of its own). A RUN step
 * re-parented to init is still found: it keeps the session it started in.
 */
function processesInSession(session: number): string[] {
  const all = processes().filter((p) => p.state !== "Z");
  const found = new Set(all.filter((p) => p.session === session).map((p) => p.pid));
  for (let size = 0; size !== found.size;) {
    size = found.size;
    for (const p of all) {
      if (found.has(p.ppid) || found.has(p.session)) found.add(p.pid);
    }
  }
  return all.filter((p) => found.has(p.pid)).map((p) => `${p.pid} ${p.name}`);
}

export interface StoppedTask {
  code: number;
  /** what the task wrote (on a terminal: stdout and stderr as the terminal showed them) */
  output: string;
  /** milliseconds from the signal until no podman was left in the session */
  podmanGoneMs: number;
  /** milliseconds from the signal until the task had exited */
  exitedMs: number;
  /** processes of the session still alive 5 s after the task ended */
  left: string[];
  /** the build log's text */
  log: string;
}

async function waitFor(what: string, deadline: number, ready: () => Promise<boolean>) {
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function buildLog(cwd: string): Promise<string> {
  try {
    for await (const entry of Deno.readDir(`${cwd}/build-logs`)) {
      if (entry.name.endsWith(".log")) {
        return await Deno.readTextFile(`${cwd}/build-logs/${entry.name}`);
      }
    }
  } catch {
    // no log folder yet
  }
  return "";
}

/**
 * Runs tasks/<file> with deno.json's permissions in a session of its own, waits until its build
 * runs the slow RUN step (`compiling`, then `sleep`), stops it, and reports what happened. `ctrlC`
 * runs it on a pseudo-terminal (script) and types Ctrl-C there; otherwise `signal` is sent to the
 * task's deno process alone. The whole run has a time limit of `timeoutMs`: a task that does not
 * stop fails the test instead of hanging it.
 */
export async function stopTask(
  file: string,
  args: string[],
  options: {
    cwd: string;
    env: Record<string, string>;
    how: { ctrlC: true } | { signal: Deno.Signal };
    timeoutMs?: number;
  },
): Promise<StoppedTask> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const command = [Deno.execPath(), ...taskArgs(file), ...args];
  const onTerminal = "ctrlC" in options.how;
  // script: a pseudo-terminal and a session; setsid: a session without a terminal. script runs
  // the command through $SHELL (dash when unset, as on a fresh CI machine), and dash forks: it would
  // then die of the Ctrl-C itself (exit 130) whatever the task did, so the shell execs the task.
  const quoted = command.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = new Deno.Command(onTerminal ? "script" : "setsid", {
    args: onTerminal ? ["-qefc", `exec ${quoted}`, "/dev/null"] : command,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let session = onTerminal ? 0 : child.pid;
  try {
    await waitFor("the task's session", deadline, () => {
      // script forks the command (exec'd by its shell) into a new session: its child leads it
      if (onTerminal) session = processes().find((p) => p.ppid === child.pid)?.pid ?? 0;
      return Promise.resolve(session !== 0);
    });
    await waitFor(
      "the RUN step",
      deadline,
      async () =>
        processesInSession(session).some((p) => p.endsWith(" sleep")) &&
        (await buildLog(options.cwd)).includes("compiling"),
    );
    const deno = processes().find((p) => p.session === session && p.name === "deno");
    const signalled = Date.now();
    if ("ctrlC" in options.how) {
      const writer = child.stdin.getWriter();
      await writer.write(new Uint8Array([3])); // the terminal's intr character: SIGINT
      writer.releaseLock();
    } else {
      Deno.kill(deno!.pid, options.how.signal);
    }
    await waitFor("podman to stop", deadline, () =>
      Promise.resolve(
        !processesInSession(session).some((p) => / podman$/.test(p)),
      ));
    const podmanGoneMs = Date.now() - signalled;
    const timer = setTimeout(() => {
      for (const p of processesInSession(session)) Deno.kill(Number(p.split(" ")[0]), "SIGKILL");
    }, Math.max(0, deadline - Date.now()));
    const result = await output.finally(() => clearTimeout(timer));
    const exitedMs = Date.now() - signalled;
    await child.stdin.close().catch(() => {});
    let left: string[] = [];
    await waitFor("nothing", Date.now() + 5000, () => {
      left = processesInSession(session);
      return Promise.resolve(left.length === 0);
    }).catch(() => {});
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      code: result.code,
      output: (decode(result.stdout) + decode(result.stderr)).replaceAll("\r\n", "\n"),
      podmanGoneMs,
      exitedMs,
      left,
      log: await buildLog(options.cwd),
    };
  } finally {
    for (const p of session ? processesInSession(session) : []) {
      try {
        Deno.kill(Number(p.split(" ")[0]), "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
}
