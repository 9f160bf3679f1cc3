// Start-up time of the tasks against an empty `deno run`, measured in the same run so that
// the machine's speed cancels out. The target (issue 12): a task's `--help` and a local
// `check-compatibility` within 5× the empty run (the cache-miss row is shown for comparison).
//   deno bench -A bench/startup_bench.ts      (deno's own statistics, ratios to the baseline)
//   deno run -A bench/startup_bench.ts [runs]  (interleaved medians and the ratio table)
const ROOT = new URL("..", import.meta.url).pathname;
const EMPTY = new URL("./fixtures/empty.ts", import.meta.url).pathname;
const MATRIX_CACHE = new URL("../.cache/matrix.json", import.meta.url).pathname;
const CHECK = ["task", "-q", "check-compatibility", "--zfs", "zfs-2.4.2", "--kernel", "6.17"];

/** Removes loadMatrix()'s cache, so the next run parses matrix.yaml (yaml and zod loaded). */
async function dropMatrixCache(): Promise<void> {
  await Deno.remove(MATRIX_CACHE).catch(() => {});
}

/** The command lines compared; the first is the baseline. `before` runs untimed. */
export const COMMANDS: { name: string; args: string[]; before?: () => Promise<void> }[] = [
  { name: "empty deno run", args: ["run", EMPTY] },
  { name: "check-compatibility --zfs zfs-2.4.2 --kernel 6.17", args: CHECK },
  {
    name: "  the same, matrix cache miss (for comparison)",
    args: CHECK,
    before: dropMatrixCache,
  },
  { name: "check-compatibility --help", args: ["task", "-q", "check-compatibility", "--help"] },
  { name: "versions --help", args: ["task", "-q", "versions", "--help"] },
  { name: "build --help", args: ["task", "-q", "build", "--help"] },
  { name: "cleanup --help", args: ["task", "-q", "cleanup", "--help"] },
];

async function run(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (code !== 0) {
    throw new Error(`deno ${args.join(" ")} exited ${code}: ${new TextDecoder().decode(stderr)}`);
  }
}

for (const [i, command] of COMMANDS.entries()) {
  Deno.bench({
    name: command.name,
    group: "startup",
    baseline: i === 0,
    async fn(b) {
      await command.before?.();
      b.start();
      await run(command.args);
      b.end();
    },
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 15);
  const times = COMMANDS.map(() => [] as number[]);
  for (const command of COMMANDS) await run(command.args); // warm the caches
  // Interleaved, so a load spike on the machine hits every command alike.
  for (let r = 0; r < runs; r++) {
    for (const [i, command] of COMMANDS.entries()) {
      await command.before?.();
      const start = performance.now();
      await run(command.args);
      times[i]!.push(performance.now() - start);
    }
  }
  const base = median(times[0]!);
  console.log(`median of ${runs} interleaved runs; target: ≤ 5.0× the empty run`);
  for (const [i, command] of COMMANDS.entries()) {
    const ms = median(times[i]!);
    const ratio = ms / base;
    const verdict = i === 0 || command.before ? "" : ratio <= 5 ? "  ok" : "  over target";
    console.log(
      `${command.name.padEnd(52)} ${ms.toFixed(0).padStart(5)} ms  ${ratio.toFixed(1)}×${verdict}`,
    );
  }
}
