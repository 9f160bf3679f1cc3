// What a build step does, in a few words, from its instruction as buildah prints it
// (`make rpm-utils`, `copy /out/ from userland`, `dnf install 30 packages`): the words the live
// line and the plain log show. Pure text, no state.

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
export function metadataText(instruction: string): string {
  const from = /^FROM\s+(?:--\S+\s+)*(\S+)/i.exec(instruction);
  if (from) return /^[0-9a-f]{64}$/.test(from[1]!) ? "start" : `from ${from[1]}`;
  return instruction.replace(/\s+/g, " ");
}
