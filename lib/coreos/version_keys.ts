// The output keys of version discovery, in a module of their own with no imports: tasks/versions.ts
// exports them as its OUTPUTS without loading the discovery code (start-up time).

/** The kebab-case keys shared by --json and $GITHUB_OUTPUT, in output order. */
export const VERSION_KEYS = [
  "zfs-tag",
  "zfs-version",
  "zfs-latest",
  "zfs-pinned",
  "kernel-version",
  "kernel-major-minor",
  "fedora-version",
  "max-kernel",
  "compatible",
  "image-digest",
  "image-tag",
  "kernel-source",
  "release",
  "release-tag",
] as const;

/** The fallback keys, present only when no pinned release supports the kernel. */
export const FALLBACK_KEYS = [
  "fallback-release",
  "fallback-image",
  "fallback-kernel-version",
  "fallback-zfs-tag",
  "fallback-image-tag",
] as const;
