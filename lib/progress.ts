// Progress for a long podman build, read from buildah's own output lines (see the captured
// samples in tests/fixtures/podman_build/). On a terminal one live line
// (`userland · make rpm-utils · 3m12s (total 9m40s) · <last output>`); without one, one line per
// finished meaningful step; under GitHub Actions one `::group::` per stage with the full output.
// At the end a per-stage timing table shows which stages came from the layer cache.
import { sanitizeTerminal } from "./cli.ts";

export type ProgressMode = "tty" | "plain" | "github";

/** The progress mode for this environment. */
export function progressMode(env: { GITHUB_ACTIONS?: string }, isTerminal: boolean): ProgressMode {
  if (env.GITHUB_ACTIONS === "true") return "github";
  return isTerminal ? "tty" : "plain";
}

export interface Step {
  /** stage number and count, for multi-stage builds */
  stage?: { index: number; count: number };
  index: number;
  count: number;
  instruction: string;
}

/** Parses podman/buildah's `[2/7] STEP 3/5: RUN …` (the stage prefix only in multi-stage builds). */
export function parseStep(line: string): Step | undefined {
  const match = /^(?:\[(\d+)\/(\d+)\] )?STEP (\d+)\/(\d+): (.*)$/.exec(line);
  if (!match) return undefined;
  return {
    stage: match[1] ? { index: Number(match[1]), count: Number(match[2]) } : undefined,
    index: Number(match[3]),
    count: Number(match[4]),
    instruction: match[5]!,
  };
}

/** 5s, 1m23s, 1h02m03s. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  return m > 0 ? `${m}m${pad(s)}s` : `${s}s`;
}

/**
 * The stage name of a FROM step (`FROM <image> AS <name>`). buildah prints a stage built on an
 * earlier one as `FROM <64 hex image id> AS source`, so the name is the only readable part.
 */
export function stageNameOf(instruction: string): string | undefined {
  return /^FROM\s.*\sAS\s+(\S+)\s*$/i.exec(instruction)?.[1];
}

// Steps that only set metadata: instant, and not worth a line of their own.
const METADATA = new Set([
  "ARG",
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

// Shell words that say nothing about what a RUN step is for.
const TRIVIAL = new Set([
  ":",
  "[",
  "[[",
  "cd",
  "chmod",
  "cat",
  "cp",
  "cut",
  "echo",
  "exit",
  "export",
  "false",
  "fail",
  "grep",
  "head",
  "ln",
  "ls",
  "mkdir",
  "mv",
  "printf",
  "rm",
  "sed",
  "set",
  "sort",
  "tail",
  "test",
  "touch",
  "tr",
  "true",
]);
const KEYWORDS = new Set([
  "!",
  "case",
  "do",
  "done",
  "elif",
  "else",
  "esac",
  "fi",
  "for",
  "if",
  "in",
  "then",
  "until",
  "while",
  "{",
  "}",
]);
// The command that best names a step, when a RUN holds several (`./configure; make rpm-utils`).
const RANK = new Map<string, number>([
  ["make", 1],
  ["rpmbuild", 2],
  ["dnf", 3],
  ["dnf5", 3],
  ["microdnf", 3],
  ["yum", 3],
  ["rpm-ostree", 3],
  ["configure", 4],
  ["autogen.sh", 5],
  ["curl", 6],
  ["wget", 6],
  ["tar", 7],
  ["modinfo", 8],
]);

/** Splits shell text at top-level `;`, `&&`, `||`, `|`, `&`, parentheses and newlines. */
function splitCommands(script: string): string[] {
  const commands: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote) {
      current += c;
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') current += script[++i] ?? "";
    } else if (c === "'" || c === '"') {
      quote = c;
      current += c;
    } else if (c === "\\") {
      current += c + (script[++i] ?? "");
    } else if (c === "&" && (/[<>]$/.test(current) || script[i + 1] === ">")) {
      current += c; // a redirection: >&2, &>file
    } else if (/[;&|()\n]/.test(c)) {
      commands.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  commands.push(current);
  return commands.map((c) => c.trim()).filter(Boolean);
}

/**
 * The simple commands of a shell script in the order they run: a command substitution's
 * commands (`x="$(rpm -q kernel)"`) come before the command that holds it.
 */
function simpleCommands(script: string): string[] {
  const inner: string[] = [];
  let outer = "";
  for (let i = 0; i < script.length;) {
    if (!script.startsWith("$(", i)) {
      outer += script[i++];
      continue;
    }
    let depth = 1;
    let j = i + 2;
    let quote: string | undefined;
    for (; j < script.length && depth > 0; j++) {
      const c = script[j]!;
      if (quote) {
        if (c === quote) quote = undefined;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === "(") depth++;
      else if (c === ")") depth--;
    }
    outer += `\uE000${inner.length}\uE000`; // a private-use character marks where it was
    inner.push(script.slice(i + 2, j - 1));
    i = j;
  }
  const result: string[] = [];
  for (const command of splitCommands(outer)) {
    for (const [, n] of command.matchAll(/\uE000(\d+)\uE000/g)) {
      for (const inner_ of simpleCommands(inner[Number(n)]!)) result.push(inner_);
    }
    result.push(command.replace(/\uE000\d+\uE000/g, "$(…)"));
  }
  return result;
}

/** Whitespace-separated words, quotes kept. */
function words(command: string): string[] {
  return command.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g) ?? [];
}

function unquote(word: string): string {
  return word.replace(/^(["'])(.*)\1$/, "$2");
}

/** The program word of a simple command, past keywords and variable assignments. */
function programOf(command: string): { program: string; args: string[] } | undefined {
  const list = words(command);
  while (list.length > 0 && (KEYWORDS.has(list[0]!) || /^[A-Za-z_]\w*=/.test(list[0]!))) {
    list.shift();
  }
  const first = list.shift();
  if (first === undefined || /^\w+\(\)$/.test(first)) return undefined; // a function definition
  return { program: unquote(first).replace(/^.*\//, ""), args: list };
}

function renderCommand(program: string, allArgs: string[]): string {
  const args = allArgs.filter((a) => !/^(?:\d*[<>]|&>)/.test(a)); // redirections
  const operands = args.filter((a) => !a.startsWith("-"));
  switch (RANK.get(program)) {
    case 1: // make: the targets, without -j"$(nproc)" or VAR=value
      return ["make", ...operands.filter((a) => !a.includes("="))].join(" ");
    case 3: { // dnf install: the packages, or how many
      const [verb, ...packages] = operands;
      if (verb === undefined) return program;
      return packages.length > 3
        ? `${program} ${verb} ${packages.length} packages`
        : [program, verb, ...packages].join(" ");
    }
    case 6: { // curl/wget: the file it downloads to, else the URL
      const output = args.findIndex((a) => a === "--output" || a === "-o" || a === "-O");
      const target = output >= 0 ? args[output + 1] : operands.at(-1);
      return target ? `download ${unquote(target)}` : program;
    }
    default: // the program and its first words: `rpm -q kernel`, `modinfo -F vermagic`
      return [program, ...args.slice(0, 2)].join(" ");
  }
}

/**
 * What a build step does, in a few words (`make rpm-utils`, `copy /out/ from userland`):
 * `--mount=…` flags, `set -eu;`, heredoc markers and housekeeping commands left out. Steps that
 * only set metadata (ARG, LABEL, WORKDIR, ENV, FROM, …) give undefined.
 */
export function describeStep(instruction: string): string | undefined {
  const [keyword = "", ...rest] = instruction.trim().split(/\s+/);
  const upper = keyword.toUpperCase();
  if (METADATA.has(upper)) return undefined;
  if (upper === "COPY" || upper === "ADD") {
    const from = rest.find((w) => w.startsWith("--from="))?.slice("--from=".length);
    const paths = rest.filter((w) => !w.startsWith("--"));
    const sources = paths.slice(0, -1).join(", ") || paths.join(", ");
    return `copy ${sources}${from ? ` from ${from}` : ""}`;
  }
  if (upper !== "RUN") return instruction.trim();
  let script = instruction.trim().slice(keyword.length).trim();
  // RUN flags come before the command: --mount=…, --network=…, --security=…
  while (/^--[\w-]+(?:=\S*)?\s/.test(script)) script = script.replace(/^--\S+\s+/, "");
  script = script.replace(/<<-?\s*(["']?)\w+\1/g, " ").trim();
  let best: { rank: number; text: string } | undefined;
  let fallback: string | undefined;
  for (const command of simpleCommands(script)) {
    const parsed = programOf(command);
    if (!parsed) continue;
    let rank = RANK.get(parsed.program);
    // `dnf repoquery` to decide, `dnf install` to do: the install names the step
    if (rank === 3 && parsed.args.find((a) => !a.startsWith("-")) !== "install") rank += 0.5;
    if (rank !== undefined) {
      if (!best || rank < best.rank) {
        best = { rank, text: renderCommand(parsed.program, parsed.args) };
      }
    } else if (fallback === undefined && !TRIVIAL.has(parsed.program)) {
      fallback = renderCommand(parsed.program, parsed.args);
    }
  }
  const text = best?.text ?? fallback ?? (simpleCommands(script).at(-1) || "run a script");
  return text.replace(/\s+/g, " ");
}

/** A metadata step for the live line: `from quay.io/…`, never a 64-hex image id. */
function metadataText(instruction: string): string {
  const from = /^FROM\s+(?:--\S+\s+)*(\S+)/i.exec(instruction);
  if (from) return /^[0-9a-f]{64}$/.test(from[1]!) ? "start" : `from ${from[1]}`;
  return instruction.replace(/\s+/g, " ");
}

function cut(text: string, width: number): string {
  if (width <= 1) return "";
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** A step as the progress tracks it. */
interface StepState {
  index: number;
  count: number;
  instruction: string;
  description?: string;
  started: number;
  /** time charged while its stage was the one being built */
  ms: number;
  cached: boolean;
  done: boolean;
}

interface StageState {
  index: number;
  count: number;
  name: string;
  ms: number;
  built: number;
  cached: number;
  step?: StepState;
  /** the build's `Error: building at STEP "…"` names this stage's current step */
  failed: boolean;
  /** whether a GitHub group was opened for it before (a resumed stage says so) */
  grouped: boolean;
}

/** One row of the per-stage timing summary. */
export interface StageTiming {
  /** buildah's stage number (1-based, in Containerfile order) */
  index: number;
  name: string;
  /** "cached" (every layer from the cache), "built", "built (2 of 5 steps cached)",
   * "failed at step 4 of 4", "stopped at step 2 of 2" (another stage failed), or "" */
  result: string;
  ms: number;
}

/** Turns build output lines into progress text for one mode; `write` gets finished text. */
export class BuildProgress {
  readonly tail: string[] = [];
  #start: number;
  #last: number;
  #stages = new Map<number, StageState>();
  /** stages being built, innermost last: a COPY --from builds the stage it names first */
  #stack: StageState[] = [];
  #group: StageState | undefined;
  #lastOutput = "";
  #drawn = false;
  #finished = false;

  constructor(
    readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
    private readonly columns = 100,
    private readonly tailLines = 40,
  ) {
    this.#start = now();
    this.#last = this.#start;
  }

  /** Feeds one line of build output. */
  line(text: string): void {
    this.tail.push(text);
    if (this.tail.length > this.tailLines) this.tail.shift();
    this.#charge();
    const step = parseStep(text);
    if (step) return this.#onStep(step, text);
    const top = this.#stack.at(-1);
    const layer = /^--> (Using cache )?([0-9a-f]{11,64})$/.exec(text);
    if (layer && top?.step && !top.step.done) {
      if (layer[1]) top.step.cached = true;
      else this.#stepDone(top);
    }
    const failed = /^Error: building at STEP "(.*)": /.exec(text);
    if (failed) {
      for (const stage of this.#stages.values()) {
        if (stage.step && !stage.step.done && stage.step.instruction === failed[1]) {
          stage.failed = true;
        }
      }
    }
    if (this.mode === "github") {
      this.write(`${text}\n`);
    } else if (!layer && !/^\[\d+\/\d+\] COMMIT\b/.test(text)) {
      // a carriage return redraws a line in place: only what was drawn last is the line
      const clean = sanitizeTerminal(text.slice(text.lastIndexOf("\r") + 1)).trim();
      if (clean) this.#lastOutput = clean;
    }
  }

  #charge(): void {
    const now = this.now();
    const top = this.#stack.at(-1);
    if (top) {
      top.ms += now - this.#last;
      if (top.step && !top.step.done) top.step.ms += now - this.#last;
    }
    this.#last = now;
  }

  #onStep(step: Step, text: string): void {
    const index = step.stage?.index ?? 1;
    const count = step.stage?.count ?? 1;
    let stage = this.#stages.get(index);
    if (!stage) {
      const fallback = index === count ? (count === 1 ? "build" : "final") : `stage ${index}`;
      stage = {
        index,
        count,
        name: stageNameOf(step.instruction) ?? fallback,
        ms: 0,
        built: 0,
        cached: 0,
        failed: false,
        grouped: false,
      };
      this.#stages.set(index, stage);
    }
    // A step of a stage that is not the current one: that stage is being built now.
    if (this.#stack.at(-1) !== stage) {
      this.#stack = this.#stack.filter((s) => s !== stage);
      this.#stack.push(stage);
    }
    if (stage.step && !stage.step.done) this.#stepDone(stage, false);
    stage.step = {
      index: step.index,
      count: step.count,
      instruction: step.instruction,
      description: describeStep(step.instruction),
      started: this.now(),
      ms: 0,
      cached: false,
      done: false,
    };
    this.#lastOutput = "";
    if (this.mode === "github") {
      if (this.#group !== stage) {
        if (this.#group) this.write("::endgroup::\n");
        const resumed = stage.grouped ? ", continued" : "";
        this.write(`::group::${stage.name} (stage ${index} of ${count}${resumed})\n`);
        this.#group = stage;
        stage.grouped = true;
      }
      this.write(`${text}\n`);
    } else {
      this.tick();
    }
  }

  /** A step's layer is written (or came from the cache); `layer` false when it made none. */
  #stepDone(stage: StageState, layer = true): void {
    const step = stage.step!;
    step.done = true;
    if (layer) {
      if (step.cached) stage.cached++;
      else stage.built++;
    }
    if (this.mode === "plain" && step.description !== undefined) {
      this.#plainLine(stage, step.cached ? "cached" : formatElapsed(step.ms));
    }
    // The last step of a stage ends it: back to the stage that was waiting for it.
    if (step.index === step.count && this.#stack.at(-1) === stage) this.#stack.pop();
  }

  #plainLine(stage: StageState, status: string): void {
    const what = cut(stage.step?.description ?? "", 100);
    this.write(`${stage.name} · ${what} · ${status} (total ${this.elapsed()})\n`);
  }

  /** The live line's text (without the escape codes), for the current step. */
  liveLine(): string | undefined {
    const stage = this.#stack.at(-1);
    const step = stage?.step;
    if (!stage || !step) return undefined;
    const what = step.description ?? metadataText(step.instruction);
    const head = `${stage.name} · ${cut(what, 60)} · ${formatElapsed(this.now() - step.started)}` +
      ` (total ${this.elapsed()})`;
    const room = this.columns - 1; // the last column would wrap on some terminals
    if (!this.#lastOutput || head.length + 3 >= room - 10) return cut(head, room);
    return cut(`${head} · ${this.#lastOutput}`, room);
  }

  /** Redraws the live line (TTY only); called on each step and once a second. */
  tick(): void {
    if (this.mode !== "tty") return;
    const text = this.liveLine();
    if (text === undefined) return;
    this.write(`\r\x1b[2K${text}`);
    this.#drawn = true;
  }

  /**
   * Ends the progress output (closes the live line or the open group). After a successful
   * build, steps still open made no layer of their own (a build without --layers); after a
   * failed one they are where the build stopped, and a plain log says so.
   */
  finish(success = true): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#charge();
    for (const stage of [...this.#stages.values()].sort((a, b) => a.index - b.index)) {
      const step = stage.step;
      if (!step || step.done || /^FROM\s/i.test(step.instruction)) continue;
      if (success) {
        this.#stepDone(stage);
      } else if (this.mode === "plain" && step.description !== undefined) {
        const status = stage.failed ? "failed" : "stopped";
        this.#plainLine(stage, `${status} after ${formatElapsed(step.ms)}`);
      }
    }
    if (this.mode === "tty" && this.#drawn) this.write("\n");
    if (this.mode === "github" && this.#group) this.write("::endgroup::\n");
    this.#drawn = false;
    this.#group = undefined;
  }

  /** Ends the output on Ctrl-C: the live line stays and "interrupted" follows it. */
  interrupt(): void {
    this.tick(); // the line as it is now, with the last output seen
    this.finish(false);
    this.write("interrupted\n");
  }

  /** Per-stage times in Containerfile order, with which stages came from the layer cache. */
  stageTimings(): StageTiming[] {
    const result = (s: StageState) => {
      const open = s.step && !s.step.done && !/^FROM\s/i.test(s.step.instruction);
      if (open) {
        return `${s.failed ? "failed" : "stopped"} at step ${s.step!.index} of ${s.step!.count}`;
      }
      return s.built === 0
        ? (s.cached > 0 ? "cached" : "")
        : s.cached === 0
        ? "built"
        : `built (${s.cached} of ${s.built + s.cached} steps cached)`;
    };
    return [...this.#stages.values()].sort((a, b) => a.index - b.index).map((s) => ({
      index: s.index,
      name: s.name,
      result: result(s),
      ms: s.ms,
    }));
  }

  /** Total time since the start. */
  elapsed(): string {
    return formatElapsed(this.now() - this.#start);
  }
}

/** The stage summary as table rows (stage, result, time) plus a total row, for any renderer. */
export function stageSummaryRows(timings: StageTiming[], total: string): string[][] {
  return [
    ...timings.map((t) => [t.name, t.result, formatElapsed(t.ms)]),
    ["total", "", total],
  ];
}

/** Splits a byte stream into lines (without the newline). */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const parts = buffer.split(/\r?\n/);
    buffer = parts.pop()!;
    yield* parts;
  }
  if (buffer) yield buffer;
}
