// install-zfs.sh, the one-line installer at the root of every kmods image: shellcheck-clean, and
// run for real inside `podman build --isolation chroot` on a tiny image (dash as /bin/sh,
// busybox for the utilities) whose rpm, rpm-ostree, dnf and depmod are stubs that record their
// arguments. The kmods image is mounted the way the README shows.
import { isolatedStorage } from "./helpers/isolated_storage.ts";
import assert from "node:assert/strict";
import { rpmFolder } from "../lib/rpms.ts";
import { integrationTest } from "./helpers/tools.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SCRIPT = `${ROOT}install-zfs.sh`;
const KERNEL = "6.17.7-300.fc43.x86_64";
const OTHER_KERNEL = "6.17.8-300.fc43.x86_64";

/** install-zfs.sh as the Containerfile's verify stage bakes it. */
async function baked(kernel = KERNEL, zfsTag = "zfs-2.4.2"): Promise<string> {
  return (await Deno.readTextFile(SCRIPT)).replaceAll("@KERNEL_VERSION@", kernel)
    .replaceAll("@ZFS_TAG@", zfsTag);
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ code: number; output: string }> {
  const result = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: result.code, output: decode(result.stdout) + decode(result.stderr) };
}

integrationTest("install-zfs.sh is shellcheck-clean as POSIX sh", ["shellcheck"], async () => {
  const clean = await run("shellcheck", ["--shell=sh", "--severity=style", SCRIPT]);
  assert.equal(clean.code, 0, clean.output);
  // the same check does find a problem when there is one
  const dir = await Deno.makeTempDir({ prefix: "shellcheck-" });
  try {
    await Deno.writeTextFile(
      `${dir}/bad.sh`,
      "#!/bin/sh\nfor f in $(ls *.rpm); do echo $f; done\n",
    );
    const bad = await run("shellcheck", ["--shell=sh", "--severity=style", `${dir}/bad.sh`]);
    assert.equal(bad.code, 1, bad.output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/install.md's sample output lists every main RPM the verify stage requires", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/install.md`);
  const sample = /installed (\d+) RPMs with rpm-ostree:\n((?:\s+\S+\.rpm\n)+)/.exec(doc);
  assert.ok(sample, "docs/install.md has no `installed N RPMs` sample");
  const listed = sample[2]!.trim().split(/\s+/);
  assert.equal(listed.length, Number(sample[1]), "the count and the list disagree");
  for (const rpm of listed) assert.equal(rpmFolder(rpm), "/", `${rpm} does not go to the root`);
  // the verify stage's `for name in …` loop: the RPMs every image has, sorted by rpmFolder()
  const containerfile = await Deno.readTextFile(`${ROOT}Containerfile`);
  const names = /for name in ([^;]+);/.exec(containerfile)![1]!.split(/\s+/)
    .map((name) => name.replaceAll("'", "").replace("[0-9]", "7"));
  for (const name of [...names, `kmod-zfs-${KERNEL}`, "python3-pyzfs"]) {
    if (rpmFolder(`${name}-2.4.2-1.fc43.x86_64.rpm`) !== "/") continue;
    assert.ok(listed.some((rpm) => rpm.startsWith(`${name}-2.4.2-`)), `${name} is not listed`);
  }
});

Deno.test("install-zfs.sh refuses to run unbaked, explains itself with --help, rejects bad options", async () => {
  const unbaked = await run("sh", [SCRIPT]);
  assert.equal(unbaked.code, 1, unbaked.output);
  assert.equal(
    unbaked.output,
    "install-zfs.sh: error: this copy of install-zfs.sh has no kernel version baked in: " +
      "use the one at the root of a kmods image\n",
  );
  const dir = await Deno.makeTempDir({ prefix: "install-zfs-" });
  try {
    await Deno.writeTextFile(`${dir}/install-zfs.sh`, await baked());
    const help = await run("sh", [`${dir}/install-zfs.sh`, "--help"]);
    assert.equal(help.code, 0, help.output);
    assert.match(help.output, /^Usage: sh .*install-zfs\.sh \[--with-dracut\] \[--with-devel\]$/m);
    assert.match(
      help.output,
      new RegExp(`ZFS 2\\.4\\.2 RPMs for kernel ${KERNEL.replaceAll(".", "\\.")}`),
    );
    const bad = await run("sh", [`${dir}/install-zfs.sh`, "--with-everything"]);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /^install-zfs\.sh: error: unknown option: --with-everything$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The files a dynamically linked binary needs (itself and what ldd lists), absolute paths. */
async function withLibraries(binary: string): Promise<string[]> {
  const ldd = await run("ldd", [binary]);
  const libraries = [...ldd.output.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!);
  return [binary, ...libraries];
}

/** Global podman flags of the test's own storage (set by the integration test below). */
let storageArgs: string[] = [];

async function podman(args: string[]): Promise<{ code: number; output: string }> {
  return await run("podman", [...storageArgs, ...args]);
}

/** Copies one file out of an image without running it (create, cp, rm). */
async function readFromImage(image: string, path: string, dir: string): Promise<string> {
  const created = await podman(["create", image, "/bin/sh"]);
  assert.equal(created.code, 0, created.output);
  const container = created.output.trim().split("\n").at(-1)!;
  try {
    const target = `${dir}/copied-${crypto.randomUUID()}`;
    const copied = await podman(["cp", `${container}:${path}`, target]);
    assert.equal(copied.code, 0, copied.output);
    return await Deno.readTextFile(target);
  } finally {
    await podman(["rm", "--force", container]);
  }
}

const STUB = (name: string, body = "") =>
  `#!/bin/sh\necho "${name} $*" >> /stub.log\n${body}\nexit 0\n`;

integrationTest(
  "install-zfs.sh installs into an image with the right kernel, and names the tag for a wrong one",
  ["podman", "busybox", "dash", "ldd"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "installer-" });
    // Its own podman storage: the `--mount=…,from=` of another image must not race with other
    // tests' `podman rmi` in the shared storage.
    const storage = await isolatedStorage();
    storageArgs = storage.podmanArgs;
    const id = crypto.randomUUID().slice(0, 8);
    const kmods = `localhost/installer-test-kmods-${id}:zfs-2.4.2_kernel-${KERNEL}`;
    const base = `localhost/installer-test-base-${id}:1`;
    const images = [kmods, base];
    try {
      // The kmods image: the layout of a real one (RPM files need no content here).
      const layout = `${dir}/kmods/layout`;
      for (const sub of ["other", "devel", "debug", "src"]) {
        await Deno.mkdir(`${layout}/${sub}`, { recursive: true });
      }
      for (
        const rpm of [
          "zfs-2.4.2-1.fc43.x86_64.rpm",
          "libzfs7-2.4.2-1.fc43.x86_64.rpm",
          `kmod-zfs-${KERNEL}-2.4.2-1.fc43.x86_64.rpm`,
          "other/zfs-dracut-2.4.2-1.fc43.noarch.rpm",
          "other/zfs-test-2.4.2-1.fc43.x86_64.rpm",
          "devel/libzfs7-devel-2.4.2-1.fc43.x86_64.rpm",
          "debug/zfs-debuginfo-2.4.2-1.fc43.x86_64.rpm",
          "src/zfs-2.4.2-1.fc43.src.rpm",
        ]
      ) await Deno.writeTextFile(`${layout}/${rpm}`, "");
      await Deno.writeTextFile(`${layout}/install-zfs.sh`, await baked(), { mode: 0o755 });
      await Deno.writeTextFile(`${dir}/kmods/Containerfile`, "FROM scratch\nCOPY layout/ /\n");
      const builtKmods = await podman([
        "build",
        "--isolation",
        "chroot",
        "--layers=false",
        "--tag",
        kmods,
        `${dir}/kmods`,
      ]);
      assert.equal(builtKmods.code, 0, builtKmods.output);

      // The image being built: dash as /bin/sh, busybox for the rest, stub package tools.
      const root = `${dir}/base/root`;
      for (const file of await withLibraries("/bin/dash")) {
        const target = file === "/bin/dash" ? `${root}/bin/sh` : `${root}${file}`;
        await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
        await Deno.copyFile(await Deno.realPath(file), target);
      }
      await Deno.copyFile(await Deno.realPath("/bin/busybox"), `${root}/bin/busybox`);
      await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
      const stubs: Record<string, string> = {
        rpm: '[ "$1" = -q ] && [ "$2" = kernel ] && cat /etc/stub-kernel',
        "rpm-ostree": "",
        dnf: "",
        depmod: "",
      };
      for (const [name, body] of Object.entries(stubs)) {
        await Deno.writeTextFile(`${root}/usr/bin/${name}`, STUB(name, body), { mode: 0o755 });
      }
      await Deno.writeTextFile(
        `${dir}/base/Containerfile`,
        [
          "FROM scratch",
          "COPY root/ /",
          // busybox's own rpm and depmod would shadow the stubs
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
          'RUN ["/bin/busybox", "rm", "/bin/rpm", "/bin/depmod"]',
        ].join("\n"),
      );
      const builtBase = await podman([
        "build",
        "--isolation",
        "chroot",
        "--layers=false",
        "--tag",
        base,
        `${dir}/base`,
      ]);
      assert.equal(builtBase.code, 0, builtBase.output);

      /** Builds a consumer image FROM base with `kernel` installed, running the installer. */
      const consumer = async (name: string, kernel: string, args: string, setup = "") => {
        const image = `localhost/installer-test-${name}-${id}:1`;
        images.push(image);
        const context = `${dir}/${name}`;
        await Deno.mkdir(context);
        await Deno.writeTextFile(
          `${context}/Containerfile`,
          [
            `FROM ${base}`,
            `RUN echo ${kernel} > /etc/stub-kernel${setup ? ` && ${setup}` : ""}`,
            // the README's one line
            `RUN --mount=type=bind,from=${kmods},target=/tmp/zfs sh /tmp/zfs/install-zfs.sh ${args}`,
          ].join("\n"),
        );
        const built = await podman([
          "build",
          "--isolation",
          "chroot",
          "--layers=false",
          "--tag",
          image,
          context,
        ]);
        return { image, ...built };
      };

      await t.step("rpm-ostree image, right kernel, --with-dracut --with-devel", async () => {
        const built = await consumer("ostree", KERNEL, "--with-dracut --with-devel");
        assert.equal(built.code, 0, built.output);
        const calls = (await readFromImage(built.image, "/stub.log", dir)).trim().split("\n");
        assert.deepEqual(calls, [
          "rpm -q kernel --qf %{VERSION}-%{RELEASE}.%{ARCH}",
          "",
          "rpm-ostree install " + [
            `/tmp/zfs/kmod-zfs-${KERNEL}-2.4.2-1.fc43.x86_64.rpm`,
            "/tmp/zfs/libzfs7-2.4.2-1.fc43.x86_64.rpm",
            "/tmp/zfs/zfs-2.4.2-1.fc43.x86_64.rpm",
            "/tmp/zfs/other/zfs-dracut-2.4.2-1.fc43.noarch.rpm",
            "/tmp/zfs/devel/libzfs7-devel-2.4.2-1.fc43.x86_64.rpm",
          ].join(" "),
          `depmod -a ${KERNEL}`,
        ]);
        assert.equal(
          await readFromImage(built.image, "/usr/lib/modules-load.d/zfs.conf", dir),
          "zfs\n",
        );
        assert.match(built.output, /install-zfs\.sh: installed 5 RPMs with rpm-ostree:/);
        assert.match(
          built.output,
          new RegExp(`install-zfs\\.sh: ran depmod -a ${KERNEL.replaceAll(".", "\\.")}`),
        );
        assert.match(built.output, /install-zfs\.sh: wrote \/usr\/lib\/modules-load\.d\/zfs\.conf/);
      });

      await t.step("dnf image (no rpm-ostree), right kernel, main RPMs only", async () => {
        const built = await consumer("dnf", KERNEL, "", "rm /usr/bin/rpm-ostree");
        assert.equal(built.code, 0, built.output);
        const calls = (await readFromImage(built.image, "/stub.log", dir)).trim().split("\n");
        assert.equal(
          calls[2],
          "dnf install -y " + [
            `/tmp/zfs/kmod-zfs-${KERNEL}-2.4.2-1.fc43.x86_64.rpm`,
            "/tmp/zfs/libzfs7-2.4.2-1.fc43.x86_64.rpm",
            "/tmp/zfs/zfs-2.4.2-1.fc43.x86_64.rpm",
          ].join(" "),
        );
        assert.equal(calls[3], `depmod -a ${KERNEL}`);
        assert.match(built.output, /installed 3 RPMs with dnf:/);
      });

      await t.step("wrong kernel: the build fails naming the tag that would match", async () => {
        const built = await consumer("wrong", OTHER_KERNEL, "--with-dracut");
        assert.notEqual(built.code, 0, built.output);
        assert.match(
          built.output,
          new RegExp(
            `install-zfs\\.sh: error: these RPMs are for kernel ${
              KERNEL.replaceAll(".", "\\.")
            }, ` +
              `this image has ${OTHER_KERNEL.replaceAll(".", "\\.")}: ` +
              `use the kmods image tag zfs-2\\.4\\.2_kernel-${
                OTHER_KERNEL.replaceAll(".", "\\.")
              }$`,
            "m",
          ),
        );
        assert.doesNotMatch(built.output, /rpm-ostree install|depmod -a/);
      });
    } finally {
      for (const image of images.reverse()) await podman(["rmi", "--force", image]);
      storageArgs = [];
      await storage.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
