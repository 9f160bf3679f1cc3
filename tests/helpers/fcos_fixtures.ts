// Fixtures for version discovery: FCOS-shaped images in a real registry and pages of GitHub
// releases of openzfs/zfs (the Fedora CoreOS builds server stand-in is release_index.ts).
import { $ } from "zx";
import { buildAndPush, pushImage } from "./registry.ts";

/** A GitHub release list item with the fields this project reads (and a few it does not). */
export function release(tag: string, options: { draft?: boolean; prerelease?: boolean } = {}) {
  return {
    id: Math.floor(Math.random() * 1e9),
    tag_name: tag,
    name: tag,
    draft: options.draft ?? false,
    prerelease: options.prerelease ?? false,
    published_at: "2025-11-10T12:00:00Z",
    assets: [{ name: `${tag}.tar.gz` }],
  };
}

/** Releases as openzfs/zfs publishes them: series in parallel, newest first. */
export const RELEASES = [
  release("zfs-2.4.5", { draft: true }),
  release("zfs-2.4.5-rc1", { prerelease: true }),
  release("zfs-2.4.4"),
  release("zfs-2.3.9"),
  release("zfs-2.2.11"),
  release("zfs-2.4.3"),
  release("zfs-2.3.8"),
  release("zfs-2.2.10"),
  release("zfs-2.4.2"),
  release("zfs-2.3.7"),
  release("zfs-2.4.1"),
  release("zfs-2.3.6"),
  release("zfs-2.3.10", { prerelease: true }),
  release("zfs-2.4.0"),
  release("zfs-2.3.5"),
  release("zfs-2.2.9"),
];

/** Answers `/repos/openzfs/zfs/releases` in pages of `perPage` with Link headers. */
export function releasesHandler(
  releases: unknown[],
  perPage = 4,
): (request: Request) => Response {
  return (request) => {
    const url = new URL(request.url);
    if (url.pathname !== "/repos/openzfs/zfs/releases") {
      return Response.json({ message: "Not Found" }, { status: 404 });
    }
    const page = Number(url.searchParams.get("page") ?? 1);
    const pages = Math.ceil(releases.length / perPage);
    const headers = new Headers();
    if (page < pages) {
      const next = new URL(url);
      next.searchParams.set("page", String(page + 1));
      const last = new URL(url);
      last.searchParams.set("page", String(pages));
      headers.set("link", `<${next.href}>; rel="next", <${last.href}>; rel="last"`);
    }
    return Response.json(releases.slice((page - 1) * perPage, page * perPage), { headers });
  };
}

export const FCOS42_KERNEL = "6.15.4-200.fc42.x86_64";
export const FCOS43 = { version: "6.17.7", release: "300.fc43", arch: "x86_64" };
export const FCOS43_KERNEL = "6.17.7-300.fc43.x86_64";
export const FCOS43_VERSION = "43.20251110.3.1";
export const ARM_KERNEL = "6.17.8-300.fc43.aarch64";
export const X86_KERNEL = "6.17.8-300.fc43.x86_64";
export const MODULES_KERNEL = "6.16.3-100.fc41.x86_64";

function labels(values: Record<string, string>): string {
  return Object.entries(values).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}\n`).join("");
}

const fcosLabels = (version: string, stream = "stable") => ({
  "containers.bootc": "1",
  "ostree.bootable": "1",
  "com.coreos.osname": "fedora-coreos",
  "com.coreos.stream": stream,
  "org.opencontainers.image.version": version,
  "org.opencontainers.image.title": "Fedora CoreOS",
});

/** Pushes the test images (label, FCOS 43 index, multi-arch, modules-only, nothing) to `host` and returns their references. */
export async function pushFixtureImages(host: string, name: string) {
  const repo = `${host}/${name}`;
  const refs = {
    ostree: `${repo}:42`,
    fcos43: `${repo}:43`,
    multi: `${repo}:multi`,
    modules: `${repo}:modules`,
    nothing: `${repo}:nothing`,
  };
  const file = { "etc/os-release": "NAME=Fedora\n" };
  await Promise.all([
    buildAndPush(
      refs.ostree,
      `FROM scratch\nCOPY etc /etc\n${
        labels({ ...fcosLabels("42.20250705.3.0"), "ostree.linux": FCOS42_KERNEL })
      }`,
      file,
    ),
    // Like the real Fedora CoreOS 43: an index, and no ostree.linux label.
    pushIndex(refs.fcos43, {
      amd64: fcosLabels(FCOS43_VERSION),
      arm64: fcosLabels(FCOS43_VERSION),
    }),
    buildAndPush(
      refs.modules,
      "FROM scratch\nCOPY usr /usr\nLABEL containers.bootc=1\n",
      { [`usr/lib/modules/${MODULES_KERNEL}/modules.dep`]: "kernel/fs/ext4/ext4.ko:\n" },
    ),
    buildAndPush(
      refs.nothing,
      'FROM scratch\nCOPY etc /etc\nLABEL org.opencontainers.image.version="7"\n',
      file,
    ),
    pushIndex(refs.multi, {
      amd64: { ...fcosLabels("43.20251111.3.0"), "ostree.linux": X86_KERNEL },
      arm64: { ...fcosLabels("43.20251111.3.0"), "ostree.linux": ARM_KERNEL },
    }),
  ]);
  return refs;
}

/** An OCI index with one image per arch (podman manifest), each with its own labels. */
async function pushIndex(
  ref: string,
  labelsByArch: Record<"amd64" | "arm64", Record<string, string>>,
) {
  const list = `localhost/test-list-${crypto.randomUUID()}`;
  const dir = await Deno.makeTempDir({ prefix: "multi-" });
  const images: string[] = [];
  try {
    await $({ quiet: true })`podman manifest create ${list}`;
    for (const [arch, values] of Object.entries(labelsByArch)) {
      const local = `localhost/test-${crypto.randomUUID()}`;
      images.push(local);
      await Deno.mkdir(`${dir}/${arch}/etc`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${arch}/etc/arch`, `${arch}\n`);
      await Deno.writeTextFile(
        `${dir}/${arch}/Containerfile`,
        `FROM scratch\nCOPY etc /etc\n${labels(values)}`,
      );
      // --layers=false: a cache lookup fails when another test's podman rmi removes a layer
      await $({
        quiet: true,
      })`podman build --isolation chroot --layers=false --arch ${arch} -t ${local} -f ${dir}/${arch}/Containerfile ${dir}/${arch}`;
      await $({ quiet: true })`podman manifest add ${list} containers-storage:${local}`;
    }
    await $({ quiet: true })`podman manifest push --all --tls-verify=false ${list} docker://${ref}`;
  } finally {
    await $({ quiet: true, nothrow: true })`podman manifest rm ${list}`;
    for (const image of images) await $({ quiet: true, nothrow: true })`podman rmi ${image}`;
    await Deno.remove(dir, { recursive: true });
  }
}

export const BASE_VERSION = "43.20251124.3.0";
export const BASE_KERNEL = "6.17.9-300.fc43.x86_64";
export const DERIVED_KERNEL = "6.18.2-200.fc43.x86_64";
export const OPAQUE_KERNEL = "6.18.3-200.fc43.x86_64";
export const LEGACY_VERSION = "42.20251027.3.0";
export const LEGACY_KERNEL = "6.16.12-200.fc42.x86_64";

/**
 * An FCOS-like base (usr/lib/modules/<BASE_KERNEL>, a static busybox so RUN works under
 * `podman build --isolation chroot`) and images built FROM it the way users derive theirs:
 * `derived` replaces the kernel directory (a `.wh.<name>` whiteout in its layer), `opaque`
 * replaces all of usr/lib/modules (a `.wh..wh..opq` marker). Both inherit the base's labels.
 * `legacy` carries only the pre-Nov-2025 `fedora-coreos.stream` label.
 */
export async function pushDerivedImages(host: string, name: string, busybox = "/bin/busybox") {
  const repo = `${host}/${name}`;
  const refs = {
    base: `${repo}:base`,
    derived: `${repo}:derived`,
    opaque: `${repo}:opaque`,
    legacy: `${repo}:legacy`,
  };
  const dir = await Deno.makeTempDir({ prefix: "derived-" });
  const local = `localhost/test-base-${crypto.randomUUID()}`;
  const locals = [local];
  const build = async (tag: string, containerfile: string) => {
    await Deno.writeTextFile(`${dir}/Containerfile`, containerfile);
    await $({
      quiet: true,
    })`podman build --isolation chroot --layers=false --arch amd64 -t ${tag} -f ${dir}/Containerfile ${dir}/ctx`;
  };
  try {
    await Deno.mkdir(`${dir}/ctx/bin`, { recursive: true });
    await Deno.mkdir(`${dir}/ctx/usr/lib/modules/${BASE_KERNEL}`, { recursive: true });
    await Deno.copyFile(busybox, `${dir}/ctx/bin/busybox`);
    await Deno.symlink("busybox", `${dir}/ctx/bin/sh`);
    await Deno.writeTextFile(`${dir}/ctx/usr/lib/modules/${BASE_KERNEL}/modules.dep`, "\n");
    await build(local, `FROM scratch\nCOPY . /\n${labels(fcosLabels(BASE_VERSION))}`);
    await pushImage(local, refs.base);
    const derived = [
      [refs.derived, `rm -rf /usr/lib/modules/${BASE_KERNEL}`, DERIVED_KERNEL],
      [refs.opaque, "rm -rf /usr/lib/modules", OPAQUE_KERNEL],
    ] as const;
    for (const [ref, remove, kernel] of derived) {
      const tag = `localhost/test-derived-${crypto.randomUUID()}`;
      locals.push(tag);
      await build(
        tag,
        `FROM ${local}\nRUN ${remove} && mkdir -p /usr/lib/modules/${kernel} && ` +
          `echo > /usr/lib/modules/${kernel}/modules.dep\n`,
      );
      await pushImage(tag, ref);
    }
    const legacy = `localhost/test-legacy-${crypto.randomUUID()}`;
    locals.push(legacy);
    const { "com.coreos.stream": _, ...rest } = fcosLabels(LEGACY_VERSION);
    await build(
      legacy,
      `FROM scratch\nCOPY bin /bin\n${labels({ ...rest, "fedora-coreos.stream": "testing" })}`,
    );
    await pushImage(legacy, refs.legacy);
  } finally {
    for (const tag of locals.reverse()) await $({ quiet: true, nothrow: true })`podman rmi ${tag}`;
    await Deno.remove(dir, { recursive: true });
  }
  return refs;
}
