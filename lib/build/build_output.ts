// The parser of podman build's output (buildah's own lines, see the captured samples in
// tests/fixtures/podman_build/): which stage and step is running, how long each took, which came
// from the layer cache, where a failed build stopped and why. No rendering: lib/build/progress.ts turns
// this state into the live line, the plain log or GitHub groups.
import { describeStep } from "./build_steps.ts";
import { sanitizeTerminal } from "../core/sanitize.ts";

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

/** A step as the parser tracks it. */
export interface StepState {
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

export interface StageState {
  index: number;
  count: number;
  name: string;
  ms: number;
  built: number;
  cached: number;
  step?: StepState;
  /** the build's final error names this stage's current step */
  failed: boolean;
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

/** What the parser saw in one line, for the renderer. */
export type LineKind = "step" | "layer" | "commit" | "output";

/** What happens as lines arrive: a step starts, a step ends (its layer written or cached). */
export interface BuildEvents {
  stepStarted?(stage: StageState, text: string): void;
  stepDone?(stage: StageState): void;
}

function isFromStep(step: StepState | undefined): boolean {
  return step !== undefined && /^FROM\s/i.test(step.instruction);
}

/** The state of a build, from its output lines. */
export class BuildOutput {
  readonly tail: string[] = [];
  /** the last line of output a step printed (escape codes removed), for the live line */
  lastOutput = "";
  #start: number;
  #last: number;
  #stages = new Map<number, StageState>();
  /** stages being built, innermost last: a COPY --from builds the stage it names first */
  #stack: StageState[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    private readonly events: BuildEvents = {},
    private readonly tailLines = 40,
  ) {
    this.#start = now();
    this.#last = this.#start;
  }

  /** Feeds one line of build output; says what kind of line it was. */
  line(text: string): LineKind {
    this.tail.push(text);
    if (this.tail.length > this.tailLines) this.tail.shift();
    this.#charge();
    const step = parseStep(text);
    if (step) {
      this.#onStep(step, text);
      return "step";
    }
    const top = this.#stack.at(-1);
    const layer = /^--> (Using cache )?([0-9a-f]{11,64})$/.exec(text);
    if (layer && top?.step && !top.step.done) {
      if (layer[1]) top.step.cached = true;
      else this.stepDone(top);
    }
    this.#markFailed(text);
    if (layer) return "layer";
    if (/^\[\d+\/\d+\] COMMIT\b/.test(text)) return "commit";
    // a carriage return redraws a line in place: only what was drawn last is the line
    const clean = sanitizeTerminal(text.slice(text.lastIndexOf("\r") + 1)).trim();
    if (clean) this.lastOutput = clean;
    return "output";
  }

  /** podman's final error names the step it stopped at, or (a pull) the stage being started. */
  #markFailed(text: string): void {
    const failed = /^Error: (?:.*?: )?building at STEP "(.*)": /.exec(text);
    for (const stage of this.#stages.values()) {
      const step = stage.step;
      if (!step || step.done) continue;
      if (failed && step.instruction === failed[1]) stage.failed = true;
      if (/^Error: creating build container: /.test(text) && isFromStep(step)) {
        stage.failed = true;
      }
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
      const name = stageNameOf(step.instruction) ?? fallback;
      stage = { index, count, name, ms: 0, built: 0, cached: 0, failed: false };
      this.#stages.set(index, stage);
    }
    // A step of a stage that is not the current one: that stage is being built now.
    if (this.#stack.at(-1) !== stage) {
      this.#stack = this.#stack.filter((s) => s !== stage);
      this.#stack.push(stage);
    }
    if (stage.step && !stage.step.done) this.stepDone(stage, false);
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
    this.lastOutput = "";
    this.events.stepStarted?.(stage, text);
  }

  /** A step's layer is written (or came from the cache); `layer` false when it made none. */
  stepDone(stage: StageState, layer = true): void {
    const step = stage.step!;
    step.done = true;
    if (layer) {
      if (step.cached) stage.cached++;
      else stage.built++;
    }
    this.events.stepDone?.(stage);
    // The last step of a stage ends it: back to the stage that was waiting for it.
    if (step.index === step.count && this.#stack.at(-1) === stage) this.#stack.pop();
  }

  /** The stage being built now, innermost. */
  current(): StageState | undefined {
    return this.#stack.at(-1);
  }

  /**
   * Ends the build: after a success, steps still open made no layer of their own (a build
   * without --layers) and count as done; returns, after a failure, the stages that stopped with
   * a step open (where the build stopped), in Containerfile order.
   */
  finish(success: boolean): StageState[] {
    this.#charge();
    const open: StageState[] = [];
    for (const stage of this.stages()) {
      const step = stage.step;
      if (!step || step.done || (isFromStep(step) && !stage.failed)) continue;
      if (success) this.stepDone(stage);
      else open.push(stage);
    }
    return open;
  }

  /** The stages seen so far, in Containerfile order. */
  stages(): StageState[] {
    return [...this.#stages.values()].sort((a, b) => a.index - b.index);
  }

  /** Per-stage times in Containerfile order, with which stages came from the layer cache. */
  stageTimings(): StageTiming[] {
    const result = (s: StageState) => {
      const open = s.step && !s.step.done && (!isFromStep(s.step) || s.failed);
      if (open) {
        return `${s.failed ? "failed" : "stopped"} at step ${s.step!.index} of ${s.step!.count}`;
      }
      return s.built === 0
        ? (s.cached > 0 ? "cached" : "")
        : s.cached === 0
        ? "built"
        : `built (${s.cached} of ${s.built + s.cached} steps cached)`;
    };
    return this.stages().map((s) => ({
      index: s.index,
      name: s.name,
      result: result(s),
      ms: s.ms,
    }));
  }

  /** Milliseconds since the start. */
  elapsedMs(): number {
    return this.now() - this.#start;
  }
}
