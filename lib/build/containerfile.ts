// The static checker for the Containerfile: ARG scopes, the kernel-free userland stages that
// keep the build cache, the sha256 check before unpacking, the signing cache key, the verified
// Koji download, the build scripts each stage runs, the final stage and its labels. Parsing is dockerfile-ast's (heredocs,
// `FROM --platform=…`, `# escape=`); the rules are ours.
import {
  Copy,
  DockerfileParser,
  From,
  type Instruction as AstInstruction,
  Label,
  Run,
} from "dockerfile-ast";
import { BUILD_ARG_NAMES, LABEL_ARGS, LABELS } from "./build.ts";

/** Arguments that change with the kernel (or the signing key): userland stages must not see them. */
const KERNEL_ARG_NAMES = [
  "KERNEL_VERSION",
  "KERNEL_MAJOR_MINOR",
  "TARGET_IMAGE",
  "SIGNING_CERT_SHA256",
];

/**
 * The labels of the images the original shell project published, which consumers may already
 * check (with org.opencontainers.image.version = the ZFS tag, as there).
 */
const COMPAT_LABELS = [
  "io.github.samhclark.fedora-zfs-kmods.zfs.tag",
  "io.github.samhclark.fedora-zfs-kmods.kernel.version",
  "io.github.samhclark.fedora-zfs-kmods.kernel.major_minor",
  "io.github.samhclark.fedora-zfs-kmods.fedora.version",
];

/** Labels the final stage must set. */
const REQUIRED_LABELS = [
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
  ...COMPAT_LABELS,
];

/** The stages of the Containerfile, in order (the final one is unnamed). */
const REQUIRED_STAGES = ["target-check", "builder", "source", "userland", "kmod", "verify"];

export interface Instruction {
  /** 1-based line of the keyword */
  line: number;
  keyword: string;
  /**
   * Everything after the keyword: continuation lines joined with a space and comment lines
   * inside them dropped; an instruction with a heredoc keeps its lines as written.
   */
  args: string;
  /** `--name=value` flags (`--mount`, `--from`, `--platform` …), in order; a flag may repeat */
  flags: { name: string; value: string }[];
  /** the words after the flags, as the parser split them (quotes kept) */
  words: string[];
  /** FROM: the image (variables unexpanded) and the stage name */
  from?: { image: string; stage?: string };
  /** LABEL: the keys it sets */
  labelKeys?: string[];
  /** LABEL: the value of each key, quotes removed, variables unexpanded */
  labelValues?: Record<string, string>;
}

/** Parses a Containerfile with dockerfile-ast into this checker's instructions. */
export function parseContainerfile(text: string): Instruction[] {
  const dockerfile = DockerfileParser.parse(text);
  const escape = dockerfile.getEscapeCharacter();
  const lines = text.split(/\r?\n/);
  return dockerfile.getInstructions().map((instruction) =>
    toInstruction(instruction, lines, escape)
  );
}

function toInstruction(node: AstInstruction, lines: string[], escape: string): Instruction {
  const range = node.getRange();
  const keywordEnd = node.getInstructionRange().end;
  const heredoc = (node instanceof Run || node instanceof Copy) && node.getHeredocs().length > 0;
  const parts: string[] = [];
  for (let n = range.start.line; n <= range.end.line; n++) {
    let text = lines[n] ?? "";
    if (n === range.end.line) text = text.slice(0, range.end.character);
    if (n === range.start.line) text = text.slice(keywordEnd.character);
    if (heredoc) {
      parts.push(text);
      continue;
    }
    const trimmed = text.trim();
    // comment and empty lines inside a continuation are dropped, as the builders do
    if (n > range.start.line && (trimmed === "" || trimmed.startsWith("#"))) continue;
    parts.push(trimmed.endsWith(escape) ? trimmed.slice(0, -escape.length) : trimmed);
  }
  const flags = "getFlags" in node && typeof node.getFlags === "function"
    ? (node.getFlags() as { getName(): string; getValue(): string | null }[]).map((flag) => ({
      name: flag.getName(),
      value: flag.getValue() ?? "",
    }))
    : [];
  const instruction: Instruction = {
    line: range.start.line + 1,
    keyword: node.getKeyword().toUpperCase(),
    args: heredoc ? parts.join("\n").trim() : parts.join(" ").trim(),
    flags,
    words: node.getArguments().map((argument) => argument.getValue()),
  };
  if (node instanceof From) {
    instruction.from = { image: node.getImage() ?? "", stage: node.getBuildStage() ?? undefined };
  }
  if (node instanceof Label) {
    const properties = node.getProperties();
    instruction.labelKeys = properties.map((p) => p.getName());
    instruction.labelValues = Object.fromEntries(
      properties.map((p) => [p.getName(), p.getValue() ?? ""]),
    );
  }
  return instruction;
}

interface Stage {
  name?: string;
  base: string;
  baseText: string;
  line: number;
  instructions: Instruction[];
}

const ARG_NAMES = new Set<string>(BUILD_ARG_NAMES);

function referencedArgs(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)
    .filter((name) => ARG_NAMES.has(name));
}

function declaredArgs(instruction: Instruction): { name: string; hasDefault: boolean }[] {
  return instruction.words.map((word) => {
    const [name, ...rest] = word.split("=");
    return { name: name!, hasDefault: rest.length > 0 };
  });
}

// `tar -xzf`, `tar xzf`, `tar --extract`, `bsdtar -x` …
const TAR_EXTRACT = /\btar\s+(?:-\w*x|x\w*\b|--extract|(?:-\w+\s+)+-\w*x)/;
const SHA256_CHECK = /\bsha256sum\b[^;&|]*(?:\s-c\b|\s--check\b)/;
const SIGNATURE_CHECK = /\brpm(?:keys)?\s+(?:-\S+\s+)*(?:-K|--checksig)\b/;
const RPM_INSTALL =
  /\b(?:dnf5?|yum)\s+(?:-\S+\s+)*install\b[^;&|]*\.rpm\b|\brpm\s+(?:-\S+\s+)*-(?:i|U|ivh|Uvh)\b/;

/** The Containerfile split into what the rules look at. */
export interface ContainerfileShape {
  instructions: Instruction[];
  /** ARGs declared before the first FROM (the only ones a FROM line sees) */
  globalArgs: Set<string>;
  /** the stages in order; at least one */
  stages: Stage[];
  stageNames: Set<string>;
  runs: Instruction[];
}

/** One rule of the checker: what it demands, and the problems it finds (`line N: …` each). */
export interface ContainerfileRule {
  name: string;
  rule: string;
  check(shape: ContainerfileShape): string[];
}

function at(line: number, message: string): string {
  return `line ${line}: ${message}`;
}

/** Groups the instructions by stage; undefined without a FROM. */
function containerfileShape(instructions: Instruction[]): ContainerfileShape | undefined {
  const globalArgs = new Set<string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      stages.push({
        base: instruction.from?.image ?? "",
        name: instruction.from?.stage,
        // variables may appear in the image and in `--platform=…`
        baseText: [instruction.from?.image ?? "", ...instruction.flags.map((f) => f.value)]
          .join(" "),
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
  if (stages.length === 0) return undefined;
  return {
    instructions,
    globalArgs,
    stages,
    stageNames: new Set(stages.flatMap((s) => s.name ? [s.name] : [])),
    runs: instructions.filter((i) => i.keyword === "RUN"),
  };
}

function argDeclarations({ instructions }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const instruction of instructions.filter((i) => i.keyword === "ARG")) {
    for (const { name, hasDefault } of declaredArgs(instruction)) {
      if (!ARG_NAMES.has(name)) {
        problems.push(
          at(instruction.line, `ARG ${name} is not passed by deno task build (BUILD_ARG_NAMES)`),
        );
      }
      if (hasDefault) problems.push(at(instruction.line, `ARG ${name} must not have a default`));
    }
  }
  return problems;
}

function everyBuildArgDeclared({ instructions }: ContainerfileShape): string[] {
  const everDeclared = new Set(
    instructions.filter((i) => i.keyword === "ARG").flatMap((i) =>
      declaredArgs(i).map((a) => a.name)
    ),
  );
  return BUILD_ARG_NAMES.filter((name) => !everDeclared.has(name))
    .map((name) => `build argument ${name} is never declared`);
}

function argsDeclaredBeforeUse({ stages, globalArgs }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const stage of stages) {
    for (const name of referencedArgs(stage.baseText)) {
      if (!globalArgs.has(name)) {
        problems.push(at(stage.line, `FROM uses ${name}, not declared before the first FROM`));
      }
    }
    const declared = new Set<string>();
    for (const instruction of stage.instructions) {
      if (instruction.keyword === "ARG") {
        for (const { name } of declaredArgs(instruction)) declared.add(name);
        continue;
      }
      for (const name of new Set(referencedArgs(instruction.args))) {
        if (declared.has(name)) continue;
        problems.push(at(
          instruction.line,
          `${instruction.keyword} uses ${name}, not declared with ARG in stage ${
            stage.name ?? "(final)"
          } (it would be empty)`,
        ));
      }
    }
  }
  return problems;
}

function requiredStages({ stageNames }: ContainerfileShape): string[] {
  return REQUIRED_STAGES.filter((name) => !stageNames.has(name))
    .map((name) => `stage ${name} is missing`);
}

function stagesNamedAndUsed({ stages }: ContainerfileShape): string[] {
  const problems: string[] = [];
  stages.slice(0, -1).forEach((stage, index) => {
    if (!stage.name) {
      problems.push(at(stage.line, "only the final stage may be unnamed"));
      return;
    }
    const used = stages.slice(index + 1).some((later) =>
      later.base === stage.name ||
      later.instructions.some((i) => i.flags.some((flag) => stageOf(flag) === stage.name))
    );
    if (!used) {
      problems.push(at(stage.line, `stage ${stage.name} is never used, so podman would skip it`));
    }
  });
  return problems;
}

function userlandKernelFree({ stages }: ContainerfileShape): string[] {
  const problems: string[] = [];
  const byName = new Map(stages.flatMap((s) => s.name ? [[s.name, s] as const] : []));
  const queue = ["userland"];
  for (const name of queue) {
    const stage = byName.get(name);
    if (!stage) continue;
    for (const next of [stage.base, ...stage.instructions.flatMap((i) => i.flags.map(stageOf))]) {
      if (next && !queue.includes(next)) queue.push(next);
    }
    const texts = [
      { line: stage.line, text: stage.baseText },
      ...stage.instructions.map((i) => ({
        line: i.line,
        text: i.keyword === "ARG" ? i.words.map((word) => `$${word}`).join(" ") : i.args,
      })),
    ];
    for (const { line, text } of texts) {
      for (const name of new Set(referencedArgs(text))) {
        if (!KERNEL_ARG_NAMES.includes(name)) continue;
        problems.push(at(
          line,
          `stage ${stage.name} (userland or a stage it uses) sees kernel argument ${name}: ` +
            "a kernel-only update would rebuild userland",
        ));
      }
    }
  }
  return problems;
}

function finalFromScratch({ stages }: ContainerfileShape): string[] {
  const final = stages.at(-1)!;
  return final.base === "scratch" ? [] : [at(final.line, "the final stage must be FROM scratch")];
}

function finalLabels({ stages }: ContainerfileShape): string[] {
  const final = stages.at(-1)!;
  const labels = new Set(
    final.instructions.filter((i) => i.keyword === "LABEL").flatMap((i) => i.labelKeys ?? []),
  );
  return REQUIRED_LABELS.filter((label) => !labels.has(label))
    .map((label) => at(final.line, `the final stage lacks label ${label}`));
}

function noLatestTag({ instructions }: ContainerfileShape): string[] {
  return instructions.filter((i) => /:latest\b/.test(i.args))
    .map((i) => at(i.line, "floating tag :latest"));
}

function pinnedBases({ stages, stageNames }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const stage of stages) {
    const base = stage.base;
    if (base === "scratch" || stageNames.has(base) || /^\$\{?\w+\}?$/.test(base)) continue;
    if (!/:[^/]+$|@sha256:/.test(base)) {
      problems.push(at(stage.line, `FROM ${base} has no tag or digest`));
    }
  }
  return problems;
}

function sha256BeforeUnpack({ runs }: ContainerfileShape): string[] {
  const problems: string[] = [];
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
    problems.push(at(extract.line, "the tarball is unpacked before its sha256 is checked"));
  }
  return problems;
}

function signingSecretsKeyed({ runs }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const run of runs) {
    const secrets = run.flags.filter((flag) => flag.name === "mount")
      .map((flag) => mountOptions(flag.value))
      .filter((options) => options.type === "secret" && /^signing_/.test(options.id ?? ""));
    if (secrets.length > 0 && !referencedArgs(run.args).includes("SIGNING_CERT_SHA256")) {
      problems.push(at(
        run.line,
        "RUN mounts the signing secrets but does not use ${SIGNING_CERT_SHA256}: " +
          "a signed build could reuse an unsigned cached layer",
      ));
    }
  }
  return problems;
}

function signingArgJustBeforeItsRun({ stages }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const stage of stages) {
    const arg = stage.instructions.findIndex((i) =>
      i.keyword === "ARG" && declaredArgs(i).some((a) => a.name === "SIGNING_CERT_SHA256")
    );
    if (arg < 0) continue;
    for (const run of stage.instructions.slice(arg).filter((i) => i.keyword === "RUN")) {
      if (referencedArgs(run.args).includes("SIGNING_CERT_SHA256")) continue;
      problems.push(at(
        run.line,
        "RUN does not use SIGNING_CERT_SHA256 but follows its ARG: " +
          "switching signed/unsigned would rebuild it (declare the ARG just before its RUN)",
      ));
    }
  }
  return problems;
}

function kojiRpmVerified({ runs }: ContainerfileShape): string[] {
  const problems: string[] = [];
  for (const run of runs) {
    const url = run.args.indexOf("kojipkgs.fedoraproject.org");
    if (url < 0) continue;
    const after = run.args.slice(url);
    const verified = SIGNATURE_CHECK.exec(after);
    const installed = RPM_INSTALL.exec(after);
    if (!verified) {
      problems.push(
        at(
          run.line,
          "the RPM downloaded from Koji is never signature-checked (rpmkeys --checksig)",
        ),
      );
    } else if (installed && installed.index < verified.index) {
      problems.push(
        at(run.line, "the RPM downloaded from Koji is installed before its signature is checked"),
      );
    }
  }
  return problems;
}

/** The rules, in the order their problems are reported. */
export const CONTAINERFILE_RULES: readonly ContainerfileRule[] = [
  {
    name: "arg-declarations",
    rule: "ARG declares only build arguments, never with a default",
    check: argDeclarations,
  },
  {
    name: "build-args-declared",
    rule: "every build argument is declared somewhere",
    check: everyBuildArgDeclared,
  },
  {
    name: "args-declared-before-use",
    rule: "every argument used is declared in its stage before the use; FROM sees only global ARGs",
    check: argsDeclaredBeforeUse,
  },
  {
    name: "required-stages",
    rule: `the stages ${REQUIRED_STAGES.join(", ")} exist`,
    check: requiredStages,
  },
  {
    name: "stages-named-and-used",
    rule: "every stage but the final one is named and used by a later one (podman skips the rest)",
    check: stagesNamedAndUsed,
  },
  {
    name: "userland-kernel-free",
    rule: "userland and every stage it builds on, copies from or mounts sees no kernel argument",
    check: userlandKernelFree,
  },
  {
    name: "final-from-scratch",
    rule: "the final stage is FROM scratch",
    check: finalFromScratch,
  },
  {
    name: "final-labels",
    rule: "the final stage sets every required label",
    check: finalLabels,
  },
  {
    name: "label-values",
    rule: "a label that carries one build argument carries exactly it",
    check: ({ stages }) => checkLabelValues(stages.at(-1)!.instructions),
  },
  {
    name: "copied-scripts",
    rule: "a script a RUN runs was put there by a COPY earlier in its stage",
    check: ({ stages }) => checkCopiedScripts(stages),
  },
  {
    name: "no-latest",
    rule: "no floating :latest tag",
    check: noLatestTag,
  },
  {
    name: "pinned-bases",
    rule: "every base image has a tag or a digest",
    check: pinnedBases,
  },
  {
    name: "sha256-before-unpack",
    rule: "the pinned sha256 of the source is checked before anything is unpacked",
    check: sha256BeforeUnpack,
  },
  {
    name: "signing-secrets-keyed",
    rule: "the RUN that reads the signing secrets uses ${SIGNING_CERT_SHA256} (its cache key)",
    check: signingSecretsKeyed,
  },
  {
    name: "signing-arg-before-its-run",
    rule: "every RUN after the SIGNING_CERT_SHA256 ARG uses it (signed/unsigned keeps the cache)",
    check: signingArgJustBeforeItsRun,
  },
  {
    name: "koji-rpm-verified",
    rule: "an RPM downloaded from Koji is signature-checked before anything installs it",
    check: kojiRpmVerified,
  },
];

/** Checks a Containerfile against this project's rules; returns one line per problem. */
export function checkContainerfile(text: string): string[] {
  const shape = containerfileShape(parseContainerfile(text));
  if (!shape) return ["no FROM instruction"];
  return CONTAINERFILE_RULES.flatMap((rule) => rule.check(shape));
}

/**
 * Labels that carry one build argument carry exactly it (`ostree.linux="${KERNEL_VERSION}"`):
 * a consumer compares them with what it has, so a near miss is worse than no label.
 */
export function checkLabelValues(finalStage: Instruction[]): string[] {
  const problems: string[] = [];
  for (const instruction of finalStage) {
    for (const [label, value] of Object.entries(instruction.labelValues ?? {})) {
      const arg = LABEL_ARGS[label];
      if (arg && value !== `\${${arg}}` && value !== `$${arg}`) {
        problems.push(
          `line ${instruction.line}: label ${label} must be "\${${arg}}", not ${value}`,
        );
      }
    }
  }
  return problems;
}

/**
 * A RUN that runs a copied script (`sh /tmp/kernel-devel.sh …`) finds it: a COPY earlier in the
 * same stage put it at that path (a build here cannot reach the real base images to find out).
 */
export function checkCopiedScripts(stages: { instructions: Instruction[] }[]): string[] {
  const problems: string[] = [];
  for (const stage of stages) {
    const copied = new Set<string>();
    for (const instruction of stage.instructions) {
      if (instruction.keyword === "COPY" && instruction.words.length >= 2) {
        const target = instruction.words.at(-1)!;
        for (const source of instruction.words.slice(0, -1)) {
          copied.add(target.endsWith("/") ? target + source.split("/").pop() : target);
        }
      }
      if (instruction.keyword !== "RUN") continue;
      for (const match of instruction.args.matchAll(/(?:^|[;&|]\s*|\s)sh\s+(\/\S+\.sh)\b/g)) {
        if (!copied.has(match[1]!)) {
          problems.push(
            `line ${instruction.line}: RUN runs ${
              match[1]
            }, which no COPY before it in this stage puts there`,
          );
        }
      }
    }
  }
  return problems;
}

/** The options of a `--mount=type=…,id=…` flag value. */
function mountOptions(value: string): Record<string, string> {
  return Object.fromEntries(
    value.split(",").map((option) => {
      const [key = "", ...rest] = option.split("=");
      return [key, rest.join("=")];
    }),
  );
}

/** The stage a `--from=stage` or `--mount=…,from=stage` flag names, if any. */
function stageOf(flag: { name: string; value: string }): string | undefined {
  if (flag.name === "from") return flag.value;
  if (flag.name === "mount") return mountOptions(flag.value).from;
  return undefined;
}
