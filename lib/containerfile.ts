// The static checker for the Containerfile: ARG scopes, the kernel-free userland stages that
// keep the build cache, the sha256 check before unpacking, the final stage and its labels.
import { BUILD_ARG_NAMES, LABELS } from "./build.ts";

/** Arguments that change with the kernel: the userland stages must not see them. */
export const KERNEL_ARG_NAMES = ["KERNEL_VERSION", "KERNEL_MAJOR_MINOR", "TARGET_IMAGE"];

/** Labels the final stage must set. */
export const REQUIRED_LABELS = [
  "org.opencontainers.image.title",
  "org.opencontainers.image.description",
  "org.opencontainers.image.version",
  "org.opencontainers.image.ref.name",
  "org.opencontainers.image.created",
  "org.opencontainers.image.revision",
  "org.opencontainers.image.source",
  "org.opencontainers.image.url",
  "org.opencontainers.image.documentation",
  "org.opencontainers.image.licenses",
  ...Object.values(LABELS),
];

/** The stages of the Containerfile, in order (the final one is unnamed). */
export const REQUIRED_STAGES = ["target-check", "builder", "source", "userland", "kmod", "verify"];

export interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

/** Splits a Containerfile into instructions, joining `\` continuations and dropping comments. */
export function parseContainerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && !current)) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1) : line;
    if (current) {
      current.args += ` ${body}`;
    } else {
      const match = /^(\S+)\s*(.*)$/.exec(body)!;
      current = { line: index + 1, keyword: match[1]!.toUpperCase(), args: match[2]! };
    }
    if (!continued) {
      current.args = current.args.trim();
      instructions.push(current);
      current = undefined;
    }
  });
  if (current) instructions.push(current);
  return instructions;
}

interface Stage {
  name?: string;
  base: string;
  line: number;
  instructions: Instruction[];
}

const ARG_NAMES = new Set<string>(BUILD_ARG_NAMES);

function referencedArgs(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)
    .filter((name) => ARG_NAMES.has(name));
}

function declaredArgs(instruction: Instruction): { name: string; hasDefault: boolean }[] {
  return instruction.args.split(/\s+/).filter(Boolean).map((word) => {
    const [name, ...rest] = word.split("=");
    return { name: name!, hasDefault: rest.length > 0 };
  });
}

function labelKeys(args: string): string[] {
  return [...args.matchAll(/(?:^|\s)([A-Za-z0-9._-]+)=(?:"(?:[^"\\]|\\.)*"|\S*)/g)].map((m) =>
    m[1]!
  );
}

// `tar -xzf`, `tar xzf`, `tar --extract`, `bsdtar -x` …
const TAR_EXTRACT = /\btar\s+(?:-\w*x|x\w*\b|--extract|(?:-\w+\s+)+-\w*x)/;
const SHA256_CHECK = /\bsha256sum\b[^;&|]*(?:\s-c\b|\s--check\b)/;

/** Checks a Containerfile against this project's rules; returns one line per problem. */
export function checkContainerfile(text: string): string[] {
  const problems: string[] = [];
  const at = (line: number, message: string) => problems.push(`line ${line}: ${message}`);
  const instructions = parseContainerfile(text);

  const globalArgs = new Set<string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [base = "", as, name] = instruction.args.split(/\s+/);
      stages.push({
        base,
        name: as?.toUpperCase() === "AS" ? name : undefined,
        line: instruction.line,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        for (const { name } of declaredArgs(instruction)) globalArgs.add(name);
      }
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  if (stages.length === 0) return ["no FROM instruction"];
  const stageNames = new Set(stages.flatMap((s) => s.name ? [s.name] : []));

  // ARG declarations: only build arguments, never a default.
  for (const instruction of instructions.filter((i) => i.keyword === "ARG")) {
    for (const { name, hasDefault } of declaredArgs(instruction)) {
      if (!ARG_NAMES.has(name)) {
        at(instruction.line, `ARG ${name} is not passed by deno task build (BUILD_ARG_NAMES)`);
      }
      if (hasDefault) at(instruction.line, `ARG ${name} must not have a default`);
    }
  }

  const everDeclared = new Set(
    instructions.filter((i) => i.keyword === "ARG").flatMap((i) =>
      declaredArgs(i).map((a) => a.name)
    ),
  );
  for (const name of BUILD_ARG_NAMES) {
    if (!everDeclared.has(name)) problems.push(`build argument ${name} is never declared`);
  }

  // Every argument used is declared in its stage before the use; FROM sees only global ARGs.
  for (const stage of stages) {
    for (const name of referencedArgs(stage.base)) {
      if (!globalArgs.has(name)) {
        at(stage.line, `FROM uses ${name}, not declared before the first FROM`);
      }
    }
    const declared = new Set<string>();
    for (const instruction of stage.instructions) {
      if (instruction.keyword === "ARG") {
        for (const { name } of declaredArgs(instruction)) declared.add(name);
        continue;
      }
      for (const name of new Set(referencedArgs(instruction.args))) {
        if (!declared.has(name)) {
          at(
            instruction.line,
            `${instruction.keyword} uses ${name}, not declared with ARG in stage ${
              stage.name ?? "(final)"
            } (it would be empty)`,
          );
        }
      }
    }
  }

  // Required stages, each used by a later one (podman skips a stage nothing uses).
  for (const name of REQUIRED_STAGES) {
    if (!stageNames.has(name)) problems.push(`stage ${name} is missing`);
  }
  stages.slice(0, -1).forEach((stage, index) => {
    if (!stage.name) {
      at(stage.line, "only the final stage may be unnamed");
      return;
    }
    const used = stages.slice(index + 1).some((later) =>
      later.base === stage.name ||
      later.instructions.some((i) =>
        new RegExp(`(?:--from=|,from=)${stage.name!.replace(/[.-]/g, "\\$&")}(?![\\w.-])`).test(
          i.args,
        )
      )
    );
    if (!used) at(stage.line, `stage ${stage.name} is never used, so podman would skip it`);
  });

  // The userland stage and the stages it builds on must not see a kernel argument.
  const byName = new Map(stages.flatMap((s) => s.name ? [[s.name, s] as const] : []));
  const seen = new Set<string>();
  for (let stage = byName.get("userland"); stage && !seen.has(stage.name!);) {
    seen.add(stage.name!);
    const texts = [
      { line: stage.line, text: stage.base },
      ...stage.instructions.map((i) => ({
        line: i.line,
        text: i.keyword === "ARG" ? i.args.replace(/(\S+)/g, "$$$1") : i.args,
      })),
    ];
    for (const { line, text } of texts) {
      for (const name of new Set(referencedArgs(text))) {
        if (KERNEL_ARG_NAMES.includes(name)) {
          at(
            line,
            `stage ${stage.name} (userland or its base) sees kernel argument ${name}: ` +
              "a kernel-only update would rebuild userland",
          );
        }
      }
    }
    stage = byName.get(stage.base);
  }

  // Final stage: FROM scratch with every required label.
  const final = stages.at(-1)!;
  if (final.base !== "scratch") at(final.line, "the final stage must be FROM scratch");
  const labels = new Set(
    final.instructions.filter((i) => i.keyword === "LABEL").flatMap((i) => labelKeys(i.args)),
  );
  for (const label of REQUIRED_LABELS) {
    if (!labels.has(label)) at(final.line, `the final stage lacks label ${label}`);
  }

  // No floating tags.
  for (const instruction of instructions) {
    if (/:latest\b/.test(instruction.args)) at(instruction.line, "floating tag :latest");
  }
  for (const stage of stages) {
    const base = stage.base;
    if (base === "scratch" || stageNames.has(base) || /^\$\{?\w+\}?$/.test(base)) continue;
    if (!/:[^/]+$|@sha256:/.test(base)) at(stage.line, `FROM ${base} has no tag or digest`);
  }

  // The pinned sha256 is checked before anything is unpacked.
  const runs = instructions.filter((i) => i.keyword === "RUN");
  const firstIndex = (pattern: RegExp) => {
    for (const [n, run] of runs.entries()) {
      const match = pattern.exec(run.args);
      if (match) return { n, offset: match.index, line: run.line };
    }
    return undefined;
  };
  const check = firstIndex(SHA256_CHECK);
  const extract = firstIndex(TAR_EXTRACT);
  if (!check || !runs[check.n]!.args.includes("${ZFS_SHA256}")) {
    problems.push("no RUN checks the source with sha256sum --check against ${ZFS_SHA256}");
  }
  if (
    extract &&
    (!check || check.n > extract.n || (check.n === extract.n && check.offset > extract.offset))
  ) {
    at(extract.line, "the tarball is unpacked before its sha256 is checked");
  }
  return problems;
}
