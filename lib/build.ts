// The build as pure data: discovered versions + the matrix release → build arguments, the
// exact podman argv and the image name; and the static checker for the Containerfile.
import { InputError, UsageError } from "./errors.ts";
import {
  type Arch,
  fedoraVersion,
  IMAGE_TAG,
  imageRef,
  imageTag,
  kernelMajorMinor,
  kernelVersion,
  ociArch,
  SHA256,
  zfsTag,
  zfsVersionOf,
} from "./patterns.ts";

/** Every build argument `deno task build` passes; the Containerfile may declare no other. */
export const BUILD_ARG_NAMES = [
  "ZFS_TAG",
  "ZFS_SHA256",
  "ZFS_SOURCE_URL",
  "KERNEL_VERSION",
  "KERNEL_MAJOR_MINOR",
  "FEDORA_VERSION",
  "TARGET_IMAGE",
  "BUILD_DATE",
  "VCS_REF",
  "SOURCE_URL",
  "DOCUMENTATION_URL",
  "REF_NAME",
] as const;
export type BuildArgName = typeof BUILD_ARG_NAMES[number];

/** Arguments that change with the kernel: the userland stages must not see them. */
export const KERNEL_ARG_NAMES = ["KERNEL_VERSION", "KERNEL_MAJOR_MINOR", "TARGET_IMAGE"];

/** Project labels beside the org.opencontainers.image.* set. */
export const LABEL_PREFIX = "io.github.fedora-zfs-kmods.";
export const LABELS = {
  zfsTag: `${LABEL_PREFIX}zfs-tag`,
  kernelVersion: `${LABEL_PREFIX}kernel-version`,
  kernelMajorMinor: `${LABEL_PREFIX}kernel-major-minor`,
  fedoraVersion: `${LABEL_PREFIX}fedora-version`,
} as const;

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

/** What the build needs from version discovery (a subset of lib/discover.ts Versions). */
export interface BuildVersions {
  arch: Arch;
  zfsTag: string;
  kernelVersion: string;
  kernelMajorMinor: string;
  fedoraVersion: string;
  /** The target image pinned as name@sha256:… */
  pinnedImage: string;
}

export interface BuildInput {
  versions: BuildVersions;
  /** sha256 of the source tarball pinned in matrix.yaml */
  zfsSha256: string;
  /** base URL of the source tarballs: `${zfsSourceUrl}/${zfsTag}.tar.gz` */
  zfsSourceUrl: string;
  /** repository to tag into (matrix.yaml publish.image) */
  repository: string;
  /** --tag: a bare `zfs-…_kernel-…` tag or a full image reference */
  tag?: string;
  containerfile: string;
  buildDate: string;
  vcsRef: string;
  sourceUrl: string;
  documentationUrl: string;
  isolation?: string;
  cacheFrom?: string;
  cacheTo?: string;
  secretKey?: string;
  secretCert?: string;
}

export interface BuildPlan {
  /** full image reference the build is tagged as */
  image: string;
  /** the tag part of `image` */
  imageTag: string;
  buildArgs: Record<BuildArgName, string>;
  /** arguments after `podman` */
  argv: string[];
}

/** Where this project lives when neither GitHub Actions nor a ghcr.io image says otherwise. */
export const PROJECT_URL = "https://github.com/fedora-zfs-kmods/fedora-zfs-kmods";

/** The repository URL for the source label: the Actions repository, else the ghcr.io owner/name. */
export function sourceUrlOf(publishImage: string, env: Record<string, string | undefined>): string {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY) {
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`;
  }
  const ghcr = /^ghcr\.io\/([a-z0-9_.-]+\/[a-z0-9_.-]+)$/.exec(publishImage);
  return ghcr ? `https://github.com/${ghcr[1]}` : PROJECT_URL;
}

/** Whether a reference points at a loopback registry, which is spoken to over plain http. */
export function isLoopbackRegistry(ref: string): boolean {
  return /^(?:127\.0\.0\.1|localhost)(?::\d{1,5})?\//.test(ref);
}

/** The full image reference for `--tag` (bare tag or full reference) or the default tag. */
export function resolveImageName(
  repository: string,
  defaultTag: string,
  tag?: string,
): { image: string; imageTag: string } {
  imageRef(repository);
  if (tag === undefined) return { image: `${repository}:${defaultTag}`, imageTag: defaultTag };
  const bare = IMAGE_TAG.exec(tag);
  if (bare) {
    imageTag(bare[1]!, bare[2]!);
    return { image: `${repository}:${tag}`, imageTag: tag };
  }
  imageRef(tag);
  const match = /^(.+\/[^:/@]+):([^:/@]+)$/.exec(tag);
  if (!match) {
    throw new InputError(
      `Invalid tag: ${JSON.stringify(tag)} (expected zfs-<zfs-version>_kernel-<kernel-version> ` +
        "or a full image reference with a tag)",
    );
  }
  return { image: tag, imageTag: match[2]! };
}

/** Validates a --tag option: a `zfs-…_kernel-…` tag or a full image reference with a tag. */
export function tagOption(value: string): string {
  resolveImageName("localhost/check", "", value);
  return value;
}

function checkPath(value: string, what: string): string {
  // podman parses `--secret id=…,src=…` on commas
  if (value.includes(",") || value === "") {
    throw new UsageError(`Invalid ${what} path: ${JSON.stringify(value)} (no commas)`);
  }
  return value;
}

function checkUrl(value: string, what: string): string {
  if (!/^https?:\/\/[A-Za-z0-9.:_\/#%~+-]+$/.test(value)) {
    throw new InputError(`Invalid ${what}: ${JSON.stringify(value)} (expected an http(s) URL)`);
  }
  return value.replace(/\/+$/, "");
}

/** Builds the plan: every build argument validated, and the exact podman argv. */
export function planBuild(input: BuildInput): BuildPlan {
  const v = input.versions;
  const tag = zfsTag(v.zfsTag);
  const kernel = kernelVersion(v.kernelVersion);
  if (kernelMajorMinor(kernel) !== v.kernelMajorMinor) {
    throw new InputError(`Kernel major.minor ${v.kernelMajorMinor} does not match ${kernel}`);
  }
  if (!SHA256.test(input.zfsSha256)) {
    throw new InputError(`Invalid sha256 for ${tag}: ${JSON.stringify(input.zfsSha256)}`);
  }
  if (!/@sha256:[0-9a-f]{64}$/.test(v.pinnedImage)) {
    throw new InputError(`Target image is not pinned by digest: ${v.pinnedImage}`);
  }
  imageRef(v.pinnedImage);
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$/.test(input.buildDate)) {
    throw new InputError(`Invalid build date: ${input.buildDate} (expected ISO 8601 UTC)`);
  }
  if (!/^(?:[0-9a-f]{7,64}|unknown)$/.test(input.vcsRef)) {
    throw new InputError(`Invalid VCS ref: ${JSON.stringify(input.vcsRef)}`);
  }
  const { image, imageTag: refName } = resolveImageName(
    input.repository,
    imageTag(zfsVersionOf(tag), kernel),
    input.tag,
  );
  const buildArgs: Record<BuildArgName, string> = {
    ZFS_TAG: tag,
    ZFS_SHA256: input.zfsSha256,
    ZFS_SOURCE_URL: checkUrl(input.zfsSourceUrl, "ZFS source URL"),
    KERNEL_VERSION: kernel,
    KERNEL_MAJOR_MINOR: v.kernelMajorMinor,
    FEDORA_VERSION: fedoraVersion(v.fedoraVersion),
    TARGET_IMAGE: v.pinnedImage,
    BUILD_DATE: input.buildDate,
    VCS_REF: input.vcsRef,
    SOURCE_URL: checkUrl(input.sourceUrl, "source URL"),
    DOCUMENTATION_URL: checkUrl(input.documentationUrl, "documentation URL"),
    REF_NAME: refName,
  };

  const argv = ["build"];
  if (input.isolation !== undefined) {
    if (!["chroot", "oci", "rootless"].includes(input.isolation)) {
      throw new UsageError(
        `Invalid isolation: ${JSON.stringify(input.isolation)} (chroot, oci or rootless)`,
      );
    }
    argv.push("--isolation", input.isolation);
  }
  argv.push("--arch", ociArch(v.arch), "--file", input.containerfile, "--tag", image);
  for (const name of BUILD_ARG_NAMES) argv.push("--build-arg", `${name}=${buildArgs[name]}`);
  if ((input.secretKey === undefined) !== (input.secretCert === undefined)) {
    throw new UsageError("--secret-key and --secret-cert go together: give both or neither");
  }
  if (input.secretKey !== undefined && input.secretCert !== undefined) {
    argv.push("--secret", `id=signing_key,src=${checkPath(input.secretKey, "--secret-key")}`);
    argv.push("--secret", `id=signing_cert,src=${checkPath(input.secretCert, "--secret-cert")}`);
  }
  if (input.cacheFrom !== undefined || input.cacheTo !== undefined) argv.push("--layers");
  if (input.cacheFrom !== undefined) argv.push("--cache-from", imageRef(input.cacheFrom));
  if (input.cacheTo !== undefined) argv.push("--cache-to", imageRef(input.cacheTo));
  if ([v.pinnedImage, input.cacheFrom, input.cacheTo].some((r) => r && isLoopbackRegistry(r))) {
    argv.push("--tls-verify=false");
  }
  argv.push(contextOf(input.containerfile));
  return { image, imageTag: refName, buildArgs, argv };
}

/** The build context: the folder holding the Containerfile. */
export function contextOf(containerfile: string): string {
  const slash = containerfile.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : containerfile.slice(0, slash);
}

/** A command line for people to read or paste (POSIX shell quoting); never executed. */
export function displayCommand(argv: string[]): string {
  return argv.map((a) =>
    /^[A-Za-z0-9_.,:\/=@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`
  )
    .join(" ");
}

// ---- the Containerfile static checker -------------------------------------------------------

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
