// install-zfs.sh, the one-line installer at the root of every kmods image: shellcheck-clean, and
// run for real inside `podman build --isolation chroot` on a tiny image (dash as /bin/sh,
// busybox for the utilities) whose rpm, rpm-ostree, dnf and depmod are stubs that record their
// arguments. The kmods image is mounted the way the README shows.
import { isolatedStorage } from "./helpers/isolated_storage.ts";
import assert from "node:assert/strict";
import { rpmFolder } from "../lib/build/rpms.ts";
import { copyWithLibraries, integrationTest } from "./helpers/tools.ts";

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

integrationTest("docs/install.md's sample output lists every main RPM a 2.4 build makes", [
  "rpmspec",
], async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/install.md`);
  const sample = /installed (\d+) RPMs with dnf:\n((?:\s+\S+\.rpm\n)+)/.exec(doc);
  assert.ok(sample, "docs/install.md has no `installed N RPMs with dnf` sample");
  const listed = sample[2]!.trim().split(/\s+/);
  assert.equal(listed.length, Number(sample[1]), "the count and the list disagree");
  for (const rpm of listed) assert.equal(rpmFolder(rpm), "/", `${rpm} does not go to the root`);
  // the packages OpenZFS 2.4's spec builds on Fedora (what build/expected-rpms.sh expects)
  const spec = `${ROOT}tests/fixtures/specs/zfs-2.4.spec`;
  const query = await run("rpmspec", [
    "-q",
    "--builtrpms",
    "--qf",
    "%{NAME}\\n",
    "--with",
    "systemd",
    "--without",
    "pam",
    spec,
  ]);
  assert.equal(query.code, 0, query.output);
  const packages = query.output.trim().split("\n");
  assert.ok(packages.includes("libuutil3") && packages.includes("python3-pyzfs"), `${packages}`);
  for (const name of [...packages, `kmod-zfs-${KERNEL}`]) {
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
    assert.match(
      help.output,
      /^Usage: sh .*install-zfs\.sh \[--with-dracut\] \[--with-devel\] \[--with-pyzfs\]$/m,
    );
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

/** Global podman flags of the test's own storage (set by the integration test below). */
let storageArgs: string[] = [];

async function podman(args: string[]): Promise<{ code: number; output: string }> {
  return await run("podman", [...storageArgs, ...args]);
}

/** Copies one file out of an image without running it (create, cp, rm); undefined if absent. */
async function bytesFromImage(
  image: string,
  path: string,
  dir: string,
): Promise<Uint8Array | undefined> {
  const created = await podman(["create", image, "/bin/sh"]);
  assert.equal(created.code, 0, created.output);
  const container = created.output.trim().split("\n").at(-1)!;
  try {
    const target = `${dir}/copied-${crypto.randomUUID()}`;
    const copied = await podman(["cp", `${container}:${path}`, target]);
    if (copied.code !== 0) return undefined;
    return await Deno.readFile(target);
  } finally {
    await podman(["rm", "--force", container]);
  }
}

async function readFromImage(image: string, path: string, dir: string): Promise<string> {
  const bytes = await bytesFromImage(image, path, dir);
  assert.ok(bytes, `${path} is not in ${image}`);
  return new TextDecoder().decode(bytes);
}

const STUB = (name: string, body = "") =>
  `#!/bin/sh\necho "${name} $*" >> /stub.log\n${body}\nexit 0\n`;

/** The RPMs of a kmods image (file names only matter here), by folder. */
const KMODS_RPMS = [
  "zfs-2.4.2-1.fc43.x86_64.rpm",
  "libzfs7-2.4.2-1.fc43.x86_64.rpm",
  `kmod-zfs-${KERNEL}-2.4.2-1.fc43.x86_64.rpm`,
  "other/zfs-dracut-2.4.2-1.fc43.noarch.rpm",
  "other/zfs-test-2.4.2-1.fc43.x86_64.rpm",
  "other/python3-pyzfs-2.4.2-1.fc43.noarch.rpm",
  "devel/libzfs7-devel-2.4.2-1.fc43.x86_64.rpm",
  "debug/zfs-debuginfo-2.4.2-1.fc43.x86_64.rpm",
  "src/zfs-2.4.2-1.fc43.src.rpm",
];
const MAIN = [
  `/tmp/zfs/kmod-zfs-${KERNEL}-2.4.2-1.fc43.x86_64.rpm`,
  "/tmp/zfs/libzfs7-2.4.2-1.fc43.x86_64.rpm",
  "/tmp/zfs/zfs-2.4.2-1.fc43.x86_64.rpm",
];
const DRACUT = `dracut --no-hostonly --kver ${KERNEL} --reproducible --add ostree ` +
  `-f /usr/lib/modules/${KERNEL}/initramfs.img`;
// a DER certificate's first bytes, and bytes no text round trip keeps
const CERT = new Uint8Array([0x30, 0x82, 0x03, 0x0b, 0xff, 0x00, 0x80, 0x0a]);
const MOKUTIL = /^ {2}mokutil --import \/usr\/share\/zfs-kmods\/signing-cert\.der$/m;
const UNSIGNED = /^install-zfs\.sh: the modules are unsigned: a host with Secure Boot refuses/m;

/** The README's consumer example: the first Dockerfile block of its bootc section. */
async function readmeExample(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const section = readme.slice(readme.indexOf("## Using the images in a bootc Containerfile"));
  const block = /```Dockerfile\n([\s\S]*?)```/.exec(section);
  assert.ok(block, "README's bootc section has no Dockerfile example");
  return block[1]!;
}

/** Builds an image from a Containerfile text in its own context folder. */
async function buildImage(dir: string, name: string, tag: string, containerfile: string) {
  const context = `${dir}/${name}`;
  await Deno.mkdir(context, { recursive: true });
  await Deno.writeTextFile(`${context}/Containerfile`, containerfile);
  return await podman(["build", "--isolation", "chroot", "--layers=false", "--tag", tag, context]);
}

/** A kmods image's layout (with the certificate of a signed build) in `dir`/`name`/layout. */
async function kmodsLayout(dir: string, name: string, signed: boolean): Promise<void> {
  const layout = `${dir}/${name}/layout`;
  for (const sub of ["other", "devel", "debug", "src"]) {
    await Deno.mkdir(`${layout}/${sub}`, { recursive: true });
  }
  for (const rpm of KMODS_RPMS) await Deno.writeTextFile(`${layout}/${rpm}`, "");
  await Deno.writeTextFile(`${layout}/install-zfs.sh`, await baked(), { mode: 0o755 });
  if (signed) await Deno.writeFile(`${layout}/signing-cert.der`, CERT);
}

/** The image being built: dash as /bin/sh, busybox for the rest, stub tools in /usr/bin. */
async function baseRoot(root: string): Promise<void> {
  await copyWithLibraries("/bin/dash", root, "/bin/sh");
  await Deno.copyFile(await Deno.realPath("/bin/busybox"), `${root}/bin/busybox`);
  await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
  const stubs: Record<string, string> = {
    rpm: '[ "$1" = -q ] && [ "$2" = kernel ] && cat /etc/stub-kernel',
    "rpm-ostree": "",
    dnf: "",
    depmod: "",
    dracut: "",
    bootc: "",
  };
  for (const [name, body] of Object.entries(stubs)) {
    await Deno.writeTextFile(`${root}/usr/bin/${name}`, STUB(name, body), { mode: 0o755 });
  }
  // what the zfs RPM ships (upstream content `#zfs`): the installer must leave it as it is
  await Deno.mkdir(`${root}/usr/lib/modules-load.d`, { recursive: true });
  await Deno.writeTextFile(`${root}/usr/lib/modules-load.d/zfs.conf`, "#zfs\n");
}

integrationTest(
  "install-zfs.sh installs with dnf (else rpm-ostree), loads zfs from /etc, rebuilds the initramfs on request, hands over the certificate",
  ["podman", "busybox", "dash", "ldd"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "installer-" });
    // Its own podman storage: the `--mount=…,from=` of another image must not race with other
    // tests' `podman rmi` in the shared storage.
    const storage = await isolatedStorage();
    storageArgs = storage.podmanArgs;
    const id = crypto.randomUUID().slice(0, 8);
    const kmods = `localhost/installer-test-kmods-${id}:zfs-2.4.2_kernel-${KERNEL}`;
    const signed = `localhost/installer-test-kmods-${id}:signed`;
    const base = `localhost/installer-test-base-${id}:1`;
    const images = [kmods, signed, base];
    try {
      for (
        const [name, tag, isSigned] of [["kmods", kmods, false], ["signed", signed, true]] as const
      ) {
        await kmodsLayout(dir, name, isSigned);
        const built = await buildImage(dir, name, tag, "FROM scratch\nCOPY layout/ /\n");
        assert.equal(built.code, 0, built.output);
      }
      await baseRoot(`${dir}/base/root`);
      const builtBase = await buildImage(
        dir,
        "base",
        base,
        [
          "FROM scratch",
          "COPY root/ /",
          // busybox's own rpm and depmod would shadow the stubs
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
          'RUN ["/bin/busybox", "rm", "/bin/rpm", "/bin/depmod"]',
        ].join("\n"),
      );
      assert.equal(builtBase.code, 0, builtBase.output);

      /** Builds a consumer image FROM base with `kernel` installed, running the installer. */
      const consumer = async (
        name: string,
        args: string,
        options: { kernel?: string; setup?: string; from?: string } = {},
      ) => {
        const image = `localhost/installer-test-${name}-${id}:1`;
        images.push(image);
        const setup = options.setup ? ` && ${options.setup}` : "";
        const built = await buildImage(
          dir,
          name,
          image,
          [
            `FROM ${base}`,
            `RUN echo ${options.kernel ?? KERNEL} > /etc/stub-kernel${setup}`,
            `RUN --mount=type=bind,from=${options.from ?? kmods},target=/tmp/zfs ` +
            `sh /tmp/zfs/install-zfs.sh ${args}`,
          ].join("\n"),
        );
        const calls = async () =>
          (await readFromImage(image, "/stub.log", dir)).trim().split("\n")
            .filter((call) => call !== "");
        return { image, calls, ...built };
      };

      await t.step(
        "dnf and rpm-ostree both there: dnf; --with-dracut rebuilds the initramfs",
        async () => {
          const built = await consumer("dnf-first", "--with-dracut --with-devel");
          assert.equal(built.code, 0, built.output);
          assert.deepEqual(await built.calls(), [
            "rpm -q kernel --qf %{VERSION}-%{RELEASE}.%{ARCH}",
            "dnf install -y " + [
              ...MAIN,
              "/tmp/zfs/other/zfs-dracut-2.4.2-1.fc43.noarch.rpm",
              "/tmp/zfs/devel/libzfs7-devel-2.4.2-1.fc43.x86_64.rpm",
            ].join(" "),
            `depmod -a ${KERNEL}`,
            DRACUT,
          ]);
          assert.equal(
            await readFromImage(built.image, "/etc/modules-load.d/zfs.conf", dir),
            "zfs\n",
          );
          assert.equal(
            await readFromImage(built.image, "/usr/lib/modules-load.d/zfs.conf", dir),
            "#zfs\n",
            "the zfs RPM's own file must stay as shipped",
          );
          assert.match(built.output, /install-zfs\.sh: installed 5 RPMs with dnf:/);
          assert.match(built.output, new RegExp(`ran depmod -a ${KERNEL.replaceAll(".", "\\.")}`));
          assert.match(
            built.output,
            /wrote \/etc\/modules-load\.d\/zfs\.conf: the zfs module loads/,
          );
          assert.match(built.output, /rebuilt \/usr\/lib\/modules\/.*\/initramfs\.img with dracut/);
          assert.match(built.output, UNSIGNED);
          assert.doesNotMatch(built.output, /mokutil/);
          assert.equal(await bytesFromImage(built.image, "/usr/share/zfs-kmods", dir), undefined);
        },
      );

      await t.step("no dnf: rpm-ostree, main RPMs only, no pyzfs, no dracut run", async () => {
        const built = await consumer("ostree", "", { setup: "rm /usr/bin/dnf" });
        assert.equal(built.code, 0, built.output);
        assert.deepEqual(await built.calls(), [
          "rpm -q kernel --qf %{VERSION}-%{RELEASE}.%{ARCH}",
          `rpm-ostree install ${MAIN.join(" ")}`,
          `depmod -a ${KERNEL}`,
        ]);
        assert.match(built.output, /installed 3 RPMs with rpm-ostree:/);
        assert.doesNotMatch(built.output, /pyzfs/);
      });

      await t.step("--with-pyzfs adds other/python3-pyzfs", async () => {
        const built = await consumer("pyzfs", "--with-pyzfs");
        assert.equal(built.code, 0, built.output);
        assert.equal(
          (await built.calls())[1],
          `dnf install -y ${MAIN.join(" ")} /tmp/zfs/other/python3-pyzfs-2.4.2-1.fc43.noarch.rpm`,
        );
      });

      await t.step("--with-dracut without dracut in the image: fails saying so", async () => {
        const built = await consumer("no-dracut", "--with-dracut", { setup: "rm /usr/bin/dracut" });
        assert.notEqual(built.code, 0, built.output);
        assert.match(
          built.output,
          /^install-zfs\.sh: error: --with-dracut: dracut is not installed, so the initramfs cannot be rebuilt with ZFS in it$/m,
        );
      });

      await t.step(
        "a signed image: the certificate is copied and the mokutil line printed",
        async () => {
          const built = await consumer("signed", "", { from: signed });
          assert.equal(built.code, 0, built.output);
          assert.deepEqual(
            await bytesFromImage(built.image, "/usr/share/zfs-kmods/signing-cert.der", dir),
            CERT,
          );
          assert.match(built.output, MOKUTIL);
          assert.equal(built.output.match(/mokutil --import/g)?.length, 1, built.output);
          assert.doesNotMatch(built.output, UNSIGNED);
        },
      );

      await t.step("wrong kernel: the build fails naming the tag that would match", async () => {
        const built = await consumer("wrong", "--with-dracut", { kernel: OTHER_KERNEL });
        assert.notEqual(built.code, 0, built.output);
        const k = (kernel: string) => kernel.replaceAll(".", "\\.");
        assert.match(
          built.output,
          new RegExp(
            `install-zfs\\.sh: error: these RPMs are for kernel ${k(KERNEL)}, ` +
              `this image has ${k(OTHER_KERNEL)}: ` +
              `use the kmods image tag zfs-2\\.4\\.2_kernel-${k(OTHER_KERNEL)}$`,
            "m",
          ),
        );
        assert.doesNotMatch(built.output, /dnf install|depmod -a/);
      });

      await t.step(
        "the README's example, pinned release and all, with stand-in images",
        async () => {
          const example = await readmeExample();
          const release = /^ARG FCOS=(\S+)$/m.exec(example)?.[1];
          assert.ok(release, `no ARG FCOS=<release> in the README's example:\n${example}`);
          const fcos = `localhost/installer-test-fcos-${id}`;
          const kmodsRepo = `localhost/installer-test-kmods-${id}`;
          images.push(`${fcos}:${release}`, `${kmodsRepo}:fcos-${release}`, `${fcos}-consumer:1`);
          // the release's kmods index and the release's image, as the registry would serve them
          assert.equal((await podman(["tag", signed, `${kmodsRepo}:fcos-${release}`])).code, 0);
          const target = await buildImage(
            dir,
            "fcos",
            `${fcos}:${release}`,
            `FROM ${base}\nRUN echo ${KERNEL} > /etc/stub-kernel\n`,
          );
          assert.equal(target.code, 0, target.output);
          const text = example.replaceAll("ghcr.io/fedora-zfs-kmods/fedora-zfs-kmods", kmodsRepo)
            .replaceAll("quay.io/fedora/fedora-coreos", fcos);
          assert.notEqual(text, example);
          const built = await buildImage(dir, "readme", `${fcos}-consumer:1`, text);
          assert.equal(built.code, 0, built.output);
          const calls = (await readFromImage(`${fcos}-consumer:1`, "/stub.log", dir)).trim()
            .split("\n").filter((call) => call !== "");
          assert.deepEqual(calls, [
            "rpm -q kernel --qf %{VERSION}-%{RELEASE}.%{ARCH}",
            `dnf install -y ${MAIN.join(" ")}`,
            `depmod -a ${KERNEL}`,
            "bootc container lint",
          ]);
          assert.match(built.output, MOKUTIL);
        },
      );
    } finally {
      for (const image of images.reverse()) await podman(["rmi", "--force", image]);
      storageArgs = [];
      await storage.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
