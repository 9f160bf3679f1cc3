// Progress for a long podman build: on a terminal one live line (`[2/7] STEP 3/5 RUN … 1m23s`),
// without one plain step lines, under GitHub Actions `::group::` blocks per stage with the full
// output. The full log always goes to a file; on failure the caller shows its last lines.

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

function stepLabel(step: Step): string {
  const stage = step.stage ? `[${step.stage.index}/${step.stage.count}] ` : "";
  return `${stage}STEP ${step.index}/${step.count}`;
}

/** Turns build output lines into progress text for one mode; `write` gets finished text. */
export class BuildProgress {
  #step: Step | undefined;
  #groupOpen = false;
  #start: number;
  readonly tail: string[] = [];

  constructor(
    readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
    private readonly columns = 100,
    private readonly tailLines = 40,
  ) {
    this.#start = now();
  }

  /** Feeds one line of build output. */
  line(text: string): void {
    this.tail.push(text);
    if (this.tail.length > this.tailLines) this.tail.shift();
    const step = parseStep(text);
    if (this.mode === "github") {
      const newStage = step && (step.index === 1 || !this.#groupOpen);
      if (newStage) {
        if (this.#groupOpen) this.write("::endgroup::\n");
        this.write(
          `::group::${
            step.stage ? `[${step.stage.index}/${step.stage.count}] ` : ""
          }${step.instruction}\n`,
        );
        this.#groupOpen = true;
      }
      this.write(`${text}\n`);
    } else if (step) {
      this.#step = step;
      if (this.mode === "plain") {
        // RUN lines can be long shell scripts: one readable line per step, the rest is in the log
        const name = step.instruction.length > 120
          ? `${step.instruction.slice(0, 119)}…`
          : step.instruction;
        this.write(`${formatElapsed(this.now() - this.#start)} ${stepLabel(step)}: ${name}\n`);
      } else {
        this.tick();
      }
    }
  }

  /** Redraws the live line (TTY only); called on each step and once a second. */
  tick(): void {
    if (this.mode !== "tty" || !this.#step) return;
    const elapsed = formatElapsed(this.now() - this.#start);
    const label = stepLabel(this.#step);
    const room = Math.max(10, this.columns - label.length - elapsed.length - 3);
    const name = this.#step.instruction.length > room
      ? `${this.#step.instruction.slice(0, room - 1)}…`
      : this.#step.instruction;
    this.write(`\r\x1b[2K${label} ${name} ${elapsed}`);
  }

  /** Ends the progress output (closes the live line or the open group). */
  finish(): void {
    if (this.mode === "tty" && this.#step) this.write("\n");
    if (this.mode === "github" && this.#groupOpen) this.write("::endgroup::\n");
    this.#groupOpen = false;
  }

  /** Total time since the start. */
  elapsed(): string {
    return formatElapsed(this.now() - this.#start);
  }
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
