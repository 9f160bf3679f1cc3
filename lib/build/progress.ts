// Build progress for people: the renderer of lib/build/build_output.ts's parsed state. On a terminal
// one live line (`userland · make rpm-utils · 3m12s (total 9m40s) · <last output>`); without
// one, one line per finished meaningful step; under GitHub Actions one `::group::` per stage with
// the full output. At the end a per-stage timing table shows which stages came from the layer
// cache.
import { BuildOutput, formatElapsed, type StageState, type StageTiming } from "./build_output.ts";
import { type BuildFailure, buildFailure } from "./build_failure.ts";
import { metadataText } from "./build_steps.ts";

export type ProgressMode = "tty" | "plain" | "github";

/** The progress mode for this environment. */
export function progressMode(env: { GITHUB_ACTIONS?: string }, isTerminal: boolean): ProgressMode {
  if (env.GITHUB_ACTIONS === "true") return "github";
  return isTerminal ? "tty" : "plain";
}

function cut(text: string, width: number): string {
  if (width <= 1) return "";
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** Turns build output lines into progress text for one mode; `write` gets finished text. */
export class BuildProgress {
  #output: BuildOutput;
  #group: StageState | undefined;
  /** stages a GitHub group was opened for before (a resumed stage says so) */
  #grouped = new Set<StageState>();
  #drawn = false;
  #finished = false;

  constructor(
    readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
    private readonly columns = 100,
    tailLines = 40,
  ) {
    this.#output = new BuildOutput(now, {
      stepStarted: (stage, text) => this.#stepStarted(stage, text),
      stepDone: (stage) => {
        const step = stage.step!;
        if (this.mode === "plain" && step.description !== undefined) {
          this.#plainLine(stage, step.cached ? "cached" : formatElapsed(step.ms));
        }
      },
    }, tailLines);
  }

  /** The last lines of output, for a failure message. */
  get tail(): string[] {
    return this.#output.tail;
  }

  /** Feeds one line of build output. */
  line(text: string): void {
    const kind = this.#output.line(text);
    if (this.mode === "github" && kind !== "step") this.write(`${text}\n`);
  }

  #stepStarted(stage: StageState, text: string): void {
    if (this.mode !== "github") return this.tick();
    if (this.#group !== stage) {
      if (this.#group) this.write("::endgroup::\n");
      const resumed = this.#grouped.has(stage) ? ", continued" : "";
      this.write(`::group::${stage.name} (stage ${stage.index} of ${stage.count}${resumed})\n`);
      this.#group = stage;
      this.#grouped.add(stage);
    }
    this.write(`${text}\n`);
  }

  #plainLine(stage: StageState, status: string): void {
    const what = cut(stage.step?.description ?? "", 100);
    this.write(`${stage.name} · ${what} · ${status} (total ${this.elapsed()})\n`);
  }

  /** The live line's text (without the escape codes), for the current step. */
  liveLine(): string | undefined {
    const stage = this.#output.current();
    const step = stage?.step;
    if (!stage || !step) return undefined;
    const what = step.description ?? metadataText(step.instruction);
    const head = `${stage.name} · ${cut(what, 60)} · ${formatElapsed(this.now() - step.started)}` +
      ` (total ${this.elapsed()})`;
    const room = this.columns - 1; // the last column would wrap on some terminals
    const last = this.#output.lastOutput;
    if (!last || head.length + 3 >= room - 10) return cut(head, room);
    return cut(`${head} · ${last}`, room);
  }

  /** Redraws the live line (TTY only, until the output ends); on each step and once a second. */
  tick(): void {
    if (this.mode !== "tty" || this.#finished) return;
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
    for (const stage of this.#output.finish(success)) {
      const step = stage.step!;
      if (this.mode === "plain" && step.description !== undefined) {
        const status = stage.failed ? "failed" : "stopped";
        this.#plainLine(stage, `${status} after ${formatElapsed(step.ms)}`);
      }
    }
    this.#finished = true;
    if (this.mode === "tty" && this.#drawn) this.write("\n");
    if (this.mode === "github" && this.#group) this.write("::endgroup::\n");
    this.#drawn = false;
    this.#group = undefined;
  }

  /** Ends the output on Ctrl-C: the live line stays and "interrupted" follows it. */
  interrupt(): void {
    if (this.#finished) return;
    this.tick(); // the line as it is now, with the last output seen
    this.finish(false);
    this.write("interrupted\n");
  }

  /** Per-stage times in Containerfile order, with which stages came from the layer cache. */
  stageTimings(): StageTiming[] {
    return this.#output.stageTimings();
  }

  /** Why the build failed, from the log's last lines and the stage marked failed. */
  failure(): BuildFailure | undefined {
    return buildFailure(this.tail, this.#output.stages().find((s) => s.failed));
  }

  /** Total time since the start. */
  elapsed(): string {
    return formatElapsed(this.#output.elapsedMs());
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
