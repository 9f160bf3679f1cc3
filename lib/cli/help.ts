// The part of every task's --help that commander does not generate: examples (the README's),
// the exit codes and the environment variables the task reads. One table, so the help of
// every task has the same sections in the same order.

/** Environment variables, by what reads them. */
const ENV = {
  matrix: "MATRIX_FILE (another matrix.yaml; a relative path is relative to INIT_CWD)",
  http: "HTTP_TIMEOUT_MS, HTTP_RETRIES, HTTP_BACKOFF_MS (network timeout and retries)",
  github: "GITHUB_API_URL, GH_TOKEN / GITHUB_TOKEN (GitHub REST base URL and token)",
  fcos: "FCOS_BUILDS_URL (Fedora CoreOS build metadata)",
  source: "ZFS_SOURCE_URL (OpenZFS source tarballs)",
  outputs: "GITHUB_OUTPUT, GITHUB_STEP_SUMMARY (written with --github-output)",
  registry: "GITHUB_ACTOR (registry user with GH_TOKEN, for matrix.yaml's GitHub registry only)",
  engine: "CONTAINER_ENGINE (podman, or docker where it costs nothing), PODMAN_TIMEOUT_MS",
  push: "PODMAN_TIMEOUT_MS (time limit of podman push)",
  gh: "GH_REPO, GH_TOKEN (read by gh)",
  color: "NO_COLOR (no colour on a terminal)",
  isolation: "BUILD_ISOLATION (--isolation when not given)",
  labels: "GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_SHA (the source and vcs-ref labels)",
  repository: "GITHUB_REPOSITORY (--repo when not given)",
  actions: "GITHUB_ACTIONS (true: warnings and errors are also annotations)",
  initCwd: "INIT_CWD (set by deno task: relative paths are relative to it)",
  sigstore: "SIGSTORE_PASSWORD (passphrase of cosign.key; COSIGN_PASSWORD is read too)",
} as const;

type EnvKey = keyof typeof ENV;

interface TaskHelp {
  examples: string[];
  env: EnvKey[];
  /** What exit 1 means for this task; null: the task never exits 1. */
  exit1: string | null;
}

const LOOKUP = "a look-up failed (registry, GitHub or Fedora CoreOS builds; the line says which)";
const GH = "gh failed (not installed, not logged in, no repository: the line says gh's reason)";

// Discovery reads the target image's manifest from its registry (lib/registry/registry.ts).
const DISCOVERY: EnvKey[] = ["matrix", "http", "github", "fcos", "registry"];

/** Examples and environment per task name (the `deno task` name). */
export const TASK_HELP: Record<string, TaskHelp> = {
  versions: {
    examples: [
      "deno task versions",
      "deno task versions --json",
      "deno task versions --image quay.io/fedora/fedora-coreos:testing --arch aarch64",
      "deno task versions --all-targets --github-output",
      "deno task versions --all-targets --skip-published --repo owner/repo --github-output",
    ],
    env: [...DISCOVERY, "outputs", "repository", "gh"],
    exit1: LOOKUP,
  },
  "zfs-version": {
    examples: [
      "deno task zfs-version",
      "deno task zfs-version --latest",
      "deno task zfs-version --latest --series 2.3",
    ],
    env: DISCOVERY,
    exit1: LOOKUP,
  },
  "kernel-version": {
    examples: [
      "deno task kernel-version",
      "deno task kernel-version --image quay.io/fedora/fedora-coreos:testing",
    ],
    env: DISCOVERY,
    exit1: LOOKUP,
  },
  "kernel-major-minor": {
    examples: ["deno task kernel-major-minor"],
    env: DISCOVERY,
    exit1: LOOKUP,
  },
  "fedora-version": {
    examples: ["deno task fedora-version"],
    env: DISCOVERY,
    exit1: LOOKUP,
  },
  "check-compatibility": {
    examples: [
      "deno task check-compatibility",
      "deno task check-compatibility --zfs zfs-2.4.2 --kernel 6.18",
    ],
    env: DISCOVERY,
    exit1:
      "the release does not support the kernel, has no sha256 pinned or is not in matrix.yaml; or a look-up failed",
  },
  build: {
    examples: [
      "deno task build --dry-run",
      "deno task build",
      "deno task build --image quay.io/fedora/fedora-coreos:testing --zfs zfs-2.4.2",
      "deno task build --secret-key mok.priv.pem --secret-cert mok.der",
      "deno task build --push --cache-from ghcr.io/o/cache --cache-to ghcr.io/o/cache",
    ],
    // podman always (CONTAINER_ENGINE is for the read-only tasks)
    env: [...DISCOVERY, "source", "push", "isolation", "labels", "outputs", "initCwd"],
    exit1: "the build failed, no pinned release supports the kernel, or a look-up failed",
  },
  "test-build": {
    examples: ["deno task test-build", "deno task test-build --zfs zfs-2.4.2"],
    env: [...DISCOVERY, "source", "isolation", "labels", "initCwd"],
    exit1: "the build failed, no pinned release supports the kernel, or a look-up failed",
  },
  "list-rpms": {
    examples: [
      "deno task list-rpms",
      "deno task list-rpms ghcr.io/fedora-zfs-kmods/fedora-zfs-kmods:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64 --json",
      "deno task list-rpms --image quay.io/fedora/fedora-coreos:testing --zfs zfs-2.4.4",
    ],
    env: [...DISCOVERY, "engine"],
    exit1: "the kmods image cannot be read, or a look-up failed",
  },
  "extract-rpms": {
    examples: [
      "deno task extract-rpms --dest ./rpms",
      "deno task extract-rpms ghcr.io/fedora-zfs-kmods/fedora-zfs-kmods:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64 --dest ./rpms",
      "deno task extract-rpms --image quay.io/fedora/fedora-coreos:testing --dest ./rpms",
    ],
    env: [...DISCOVERY, "engine", "initCwd"],
    exit1: "the kmods image cannot be read or copied, or a look-up failed",
  },
  "check-container": {
    examples: [
      "deno task check-container",
      "deno task check-container --tag zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64 --require-attestations",
    ],
    env: [...DISCOVERY, "repository", "gh", "outputs"],
    exit1: "the tag is not published (or not attested), or the registry or gh failed",
  },
  "zfs-tarball-hash": {
    examples: [
      "deno task zfs-tarball-hash zfs-2.4.4",
      "deno task zfs-tarball-hash 2.4.4 --json",
    ],
    env: ["matrix", "http", "source"],
    exit1: "the download failed, or its sha256 differs from the one matrix.yaml pins",
  },
  matrix: {
    examples: [
      "deno task matrix show",
      "deno task matrix check",
      "deno task matrix add zfs-2.4.4",
      "deno task matrix add zfs-2.4.4 --sha256 <64 hex>",
    ],
    env: ["matrix", "http", "github", "source", "outputs"],
    exit1:
      "matrix add: the download failed or the entry exists with other values; matrix check: GitHub failed (matrix show never exits 1)",
  },
  cleanup: {
    examples: [
      "deno task cleanup --dry-run 90 3",
      "deno task cleanup 90 3",
      "deno task cleanup 90 3 --yes --github-output",
      "deno task cleanup --dry-run 90 3 --json",
    ],
    env: ["matrix", "http", "github", "registry", "outputs", "color"],
    exit1: "a deletion failed, or the registry or GitHub failed",
  },
  "run-workflow": {
    examples: ["deno task run-workflow", "deno task run-workflow --force-rebuild --ref main"],
    env: ["gh"],
    exit1: GH,
  },
  "workflow-status": {
    examples: ["deno task workflow-status", "deno task workflow-status --limit 10 --json"],
    env: ["gh"],
    exit1: GH,
  },
  "tag-release": {
    examples: [
      "deno task tag-release --plan plan.json",
      "deno task tag-release --plan plan.json --dry-run",
      "deno task tag-release --plan plan.json --github-output",
    ],
    env: ["matrix", "http", "registry", "push", "outputs", "initCwd"],
    exit1: "a kmods image is missing or of another arch, or the registry or podman failed",
  },
  forecast: {
    examples: [
      "deno task forecast",
      "deno task forecast --json",
      "deno task forecast --fail-on-unsupported",
      "deno task forecast --update-issue",
    ],
    env: [...DISCOVERY, "outputs", "gh"],
    exit1: "the forecast is incomplete, or --fail-on-unsupported and a kernel is not supported",
  },
  "sign-image": {
    examples: [
      "deno task sign-image ghcr.io/o/fedora-zfs-kmods@sha256:<64 hex> --key cosign.key",
      "deno task sign-image ghcr.io/o/fedora-zfs-kmods@sha256:<64 hex> --key cosign.key --json",
    ],
    env: ["sigstore", "http", "github", "registry", "outputs", "initCwd"],
    exit1: "the image is not in the registry, the key does not decrypt, or the push failed",
  },
  "verify-image": {
    examples: [
      "deno task verify-image ghcr.io/o/fedora-zfs-kmods@sha256:<64 hex> --key cosign.pub",
      "deno task verify-image ghcr.io/o/fedora-zfs-kmods:zfs-2.4.4_kernel-6.17.7-300.fc43.x86_64 --key cosign.pub --json",
    ],
    env: ["http", "github", "registry", "initCwd"],
    exit1: "refused: unsigned, signed by another key, or the payload names another image",
  },
  "signing-keys": {
    examples: [
      "deno task signing-keys",
      "deno task signing-keys --dir ~/zfs-keys --set-secrets --repo owner/fedora-zfs-kmods",
    ],
    env: ["sigstore", "gh", "initCwd"],
    exit1: "openssl or gh secret set failed (nothing is overwritten)",
  },
};

/** The subcommands of `matrix`, each with its own examples and exit codes. */
export const SUBCOMMAND_HELP: Record<string, TaskHelp> = {
  "matrix show": {
    examples: ["deno task matrix show", "deno task matrix show --json"],
    env: ["matrix"],
    exit1: null,
  },
  "matrix check": {
    examples: ["deno task matrix check", "deno task matrix check --github-output"],
    env: ["matrix", "http", "github", "outputs"],
    exit1: "GitHub failed (a report of what is missing is exit 0)",
  },
  "matrix add": {
    examples: [
      "deno task matrix add zfs-2.4.4",
      "deno task matrix add 2.4.4 --sha256 <64 hex>",
      "deno task matrix add zfs-2.4.4 --force",
    ],
    env: ["matrix", "http", "source"],
    exit1: "the download failed, its sha256 is not --sha256, or the entry exists with other " +
      "values and --force is not given (nothing written)",
  },
};

/** The Exit codes lines: 0, 1 only when the task can return it, 2. */
function exitCodes(help: TaskHelp | undefined): string[] {
  const exit1 = help === undefined
    ? "a check or an operation failed (the line says which)"
    : help.exit1;
  return [
    "  0  success",
    ...(exit1 === null ? [] : [`  1  ${exit1}`]),
    "  2  usage or input error (bad flag or argument, malformed matrix.yaml, bad variable)",
  ];
}

/** The Examples, Exit codes and Environment sections for a task's (or subcommand's) --help. */
export function helpFooter(task: string): string {
  const help = TASK_HELP[task] ?? SUBCOMMAND_HELP[task];
  const sections: string[] = [];
  if (help) sections.push(["Examples:", ...help.examples.map((e) => `  ${e}`)].join("\n"));
  sections.push(["Exit codes:", ...exitCodes(help)].join("\n"));
  // Every task's warnings and errors become annotations under GitHub Actions.
  const env = [...(help?.env ?? []), "actions" as const];
  sections.push(["Environment:", ...env.map((key) => `  ${ENV[key]}`)].join("\n"));
  return `\n${sections.join("\n\n")}`;
}
