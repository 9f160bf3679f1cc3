import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  BUILD_ARG_NAMES,
  type BuildInput,
  checkSigningPair,
  contextOf,
  displayCommand,
  insecureRegistriesConf,
  planBuild,
  resolveImageName,
  signingCertSha256,
  sourceUrlOf,
} from "../../lib/build/build.ts";
import { CheckError, InputError, UsageError } from "../../lib/core/errors.ts";
import { isLoopbackRegistry } from "../../lib/core/http.ts";
import { hostRegistriesConf, runBuild } from "../../lib/build/podman.ts";
import { BuildProgress, progressMode } from "../../lib/build/progress.ts";
import { formatElapsed, parseStep } from "../../lib/build/build_output.ts";
import { buildLogFile, removeStaleRegistriesConfs } from "../../lib/build/build_run.ts";
import { isolatedStorage } from "../helpers/isolated_storage.ts";
import { KERNEL, startBuildEnvironment } from "../helpers/build_env.ts";
import { spawnTask, type TaskResult } from "../helpers/run_task.ts";
import { integrationTest } from "../helpers/tools.ts";

const CERT = new TextEncoder().encode(
  "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
);

const DECODE = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const DIGEST = `sha256:${"a".repeat(64)}`;
const SHA = "d03c3edd320993bb04d6ec2c8c7300b87487c7b10ff5742f13a437a5164ba718";

function input(overrides: Partial<BuildInput> = {}): BuildInput {
  return {
    versions: {
      arch: "x86_64",
      zfsTag: "zfs-2.4.2",
      kernelVersion: "6.17.7-300.fc43.x86_64",
      kernelMajorMinor: "6.17",
      fedoraVersion: "43",
      pinnedImage: `quay.io/fedora/fedora-coreos@${DIGEST}`,
    },
    zfsSha256: SHA,
    zfsSourceUrl: "https://github.com/openzfs/zfs/archive/refs/tags",
    repository: "ghcr.io/owner/fedora-zfs-kmods",
    containerfile: "/repo/Containerfile",
    buildDate: "2025-11-26T07:30:00.000Z",
    vcsRef: "0123456789abcdef0123456789abcdef01234567",
    sourceUrl: "https://github.com/owner/fedora-zfs-kmods",
    documentationUrl: "https://github.com/owner/fedora-zfs-kmods#readme",
    ...overrides,
  };
}

Deno.test("planBuild() passes every build argument, the pinned target and the published tag", () => {
  const plan = planBuild(input());
  const tag = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
  assert.equal(plan.image, `ghcr.io/owner/fedora-zfs-kmods:${tag}`);
  assert.equal(plan.imageTag, tag);
  assert.deepEqual(Object.keys(plan.buildArgs), [...BUILD_ARG_NAMES]);
  assert.equal(plan.buildArgs.TARGET_IMAGE, `quay.io/fedora/fedora-coreos@${DIGEST}`);
  assert.equal(plan.buildArgs.REF_NAME, tag);
  assert.equal(plan.buildArgs.ZFS_SHA256, SHA);
  assert.deepEqual(plan.argv, [
    "build",
    "--arch",
    "amd64",
    "--file",
    "/repo/Containerfile",
    "--tag",
    `ghcr.io/owner/fedora-zfs-kmods:${tag}`,
    ...BUILD_ARG_NAMES.flatMap((name) => ["--build-arg", `${name}=${plan.buildArgs[name]}`]),
    "/repo",
  ]);
});

Deno.test("planBuild() adds isolation, secrets, cache and plain http only when asked or local", () => {
  const plan = planBuild(input({
    isolation: "chroot",
    secretKey: "/keys/key.pem",
    secretCert: "/keys/cert.der",
    secretCertContent: CERT,
    cacheFrom: "ghcr.io/owner/cache",
    cacheTo: "ghcr.io/owner/cache",
  }));
  const argv = plan.argv.join(" ");
  assert.match(argv, /^build --isolation chroot --arch amd64 /);
  assert.match(
    argv,
    / --secret id=signing_key,src=\/keys\/key.pem --secret id=signing_cert,src=\/keys\/cert.der /,
  );
  assert.match(
    argv,
    / --layers --cache-from ghcr.io\/owner\/cache --cache-to ghcr.io\/owner\/cache /,
  );
  assert.doesNotMatch(argv, /tls-verify/);
  const local = planBuild(input({
    versions: {
      ...input().versions,
      pinnedImage: `127.0.0.1:5000/fcos@${DIGEST}`,
      arch: "aarch64",
    },
  }));
  // plain http for the loopback registries alone, never a global --tls-verify=false (the
  // toolchain image still comes from quay.io over verified TLS)
  assert.ok(!local.argv.some((a) => a.startsWith("--tls-verify")));
  assert.deepEqual(local.insecureRegistries, ["127.0.0.1:5000"]);
  assert.deepEqual(
    planBuild(input({ cacheFrom: "localhost:5001/cache", cacheTo: "localhost:5001/cache" }))
      .insecureRegistries,
    ["localhost:5001"],
  );
  assert.deepEqual(planBuild(input()).insecureRegistries, []);
  assert.deepEqual(
    planBuild(input({ cacheTo: "[::1]:5002/cache" })).insecureRegistries,
    ["[::1]:5002"],
  );
  assert.ok(local.argv.includes("arm64"));
  assert.ok(!planBuild(input()).argv.includes("--isolation"));
});

Deno.test("planBuild() refuses values that must never reach podman", async (t) => {
  const v = input().versions;
  const cases: [string, Partial<BuildInput>, typeof InputError | typeof UsageError][] = [
    ["a kernel with shell characters", {
      versions: { ...v, kernelVersion: "6.17.7-300.fc43.x86_64;rm" },
    }, InputError],
    [
      "a ZFS tag with shell characters",
      { versions: { ...v, zfsTag: "zfs-2.4.2$(id)" } },
      InputError,
    ],
    ["a target image not pinned by digest", {
      versions: { ...v, pinnedImage: "quay.io/fedora/fedora-coreos:stable" },
    }, InputError],
    [
      "a major.minor that does not match",
      { versions: { ...v, kernelMajorMinor: "6.18" } },
      InputError,
    ],
    [
      "a Fedora version that is not a number",
      { versions: { ...v, fedoraVersion: "rawhide" } },
      InputError,
    ],
    ["a malformed sha256", { zfsSha256: "abc" }, InputError],
    ["a tag with shell characters", { tag: "zfs-2.4.2_kernel-6.17.7;rm -rf" }, InputError],
    ["a tag that is neither", { tag: "latest" }, InputError],
    ["a key without a certificate", { secretKey: "/k.pem" }, UsageError],
    [
      "a certificate file that is a private key",
      {
        secretKey: "/k.pem",
        secretCert: "/k.pem",
        secretCertContent: new TextEncoder().encode(
          "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        ),
      },
      InputError,
    ],
    [
      "an empty certificate file",
      { secretKey: "/k.pem", secretCert: "/c", secretCertContent: new Uint8Array() },
      InputError,
    ],
    [
      "a secret path with a comma",
      { secretKey: "/a,src=/etc/shadow", secretCert: "/c" },
      UsageError,
    ],
    ["a source URL with quotes", { zfsSourceUrl: "https://x/'y" }, InputError],
  ];
  for (const [name, overrides, error] of cases) {
    await t.step(name, () => assert.throws(() => planBuild(input(overrides)), error));
  }
});

Deno.test("planBuild() keys the kmod layer on the signing certificate: its DER's sha256, else unsigned", async () => {
  assert.equal(planBuild(input()).buildArgs.SIGNING_CERT_SHA256, "unsigned");
  // CERT's PEM body, decoded: the certificate in DER
  const der = Uint8Array.from([48, 130, 1, 179, 48, 130, 1, 89, 160, 3, 2, 1, 2, 2, 20]);
  const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", der))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const signed = planBuild(input({ secretKey: "/k", secretCert: "/c", secretCertContent: CERT }));
  assert.equal(signed.buildArgs.SIGNING_CERT_SHA256, expected);
  assert.ok(signed.argv.includes(`SIGNING_CERT_SHA256=${expected}`));
  // the same certificate as a DER secret, or in PEM with other lines around it: the same value
  for (const content of [der, new TextEncoder().encode(`subject=CN = x\n${DECODE(CERT)}\n`)]) {
    assert.equal(
      signingCertSha256({ secretKey: "/k", secretCert: "/c", secretCertContent: content }),
      expected,
    );
  }
  for (
    const bad of [
      "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
    ]
  ) {
    assert.throws(
      () =>
        signingCertSha256({
          secretKey: "/k",
          secretCert: "/c",
          secretCertContent: new TextEncoder().encode(bad),
        }),
      /Signing certificate is not an x509 certificate \(PEM or DER\): \/c/,
      bad,
    );
  }
  assert.throws(
    () =>
      signingCertSha256({
        secretKey: "/k",
        secretCert: "/c",
        secretCertContent: new TextEncoder().encode("hello"),
      }),
    /Signing certificate is not an x509 certificate \(PEM or DER\): \/c/,
  );
});

Deno.test("checkSigningPair() names the missing half, the same words for task and plan", () => {
  checkSigningPair();
  checkSigningPair("/k", "/c");
  assert.throws(() => checkSigningPair("/k"), {
    name: "UsageError",
    message: "--secret-key needs --secret-cert too (sign with both or neither)",
  });
  assert.throws(() => planBuild(input({ secretCert: "/c", secretCertContent: CERT })), {
    message: "--secret-cert needs --secret-key too (sign with both or neither)",
  });
});

Deno.test("insecureRegistriesConf() adds the loopback registries to the host's registries.conf", async (t) => {
  const entry = (r: string) => `[[registry]]\nlocation = "${r}"\ninsecure = true\n`;
  await t.step("no host file: only the loopback registries", () => {
    assert.deepEqual(insecureRegistriesConf(["127.0.0.1:5000"]), {
      text: entry("127.0.0.1:5000"),
      v1: false,
    });
  });
  await t.step("a V2 host file is kept whole, mirrors, blocks and aliases included", () => {
    const host = 'unqualified-search-registries = ["quay.io"]\n\n[[registry]]\n' +
      'location = "docker.io"\nblocked = true\n\n[aliases]\n"fcos" = "quay.io/fedora/fcos"\n';
    const { text, v1 } = insecureRegistriesConf(["127.0.0.1:5000", "[::1]:5001"], host);
    assert.equal(v1, false);
    assert.equal(text, `${host}\n${entry("127.0.0.1:5000")}\n${entry("[::1]:5001")}`);
  });
  await t.step("a registry the host file declares keeps the host's setting", () => {
    const host = '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n';
    assert.equal(
      insecureRegistriesConf(["127.0.0.1:5000", "localhost:5001"], host).text,
      `${host}\n${entry("localhost:5001")}`,
    );
    // a look-alike is not the same registry
    assert.match(
      insecureRegistriesConf(["127.0.0.1:5000"], host.replace(":5000", ":50000")).text,
      /location = "127\.0\.0\.1:5000"\ninsecure/,
    );
  });
  await t.step("a V1 host file cannot be extended: only the loopback registries", () => {
    const host = '[registries.search]\nregistries = ["quay.io"]\n\n[registries.block]\n' +
      'registries = ["docker.io"]\n';
    assert.deepEqual(insecureRegistriesConf(["127.0.0.1:5000"], host), {
      text: entry("127.0.0.1:5000"),
      v1: true,
    });
  });
});

Deno.test("hostRegistriesConf() reads the file podman would: env, else the user's, else /etc", async () => {
  const home = await Deno.makeTempDir({ prefix: "registries-home-" });
  try {
    await Deno.mkdir(`${home}/.config/containers`, { recursive: true });
    const user = `${home}/.config/containers/registries.conf`;
    await Deno.writeTextFile(user, "# user\n");
    await Deno.writeTextFile(`${home}/own.conf`, "# own\n");
    assert.deepEqual(await hostRegistriesConf({ HOME: home }), { path: user, text: "# user\n" });
    assert.deepEqual(
      await hostRegistriesConf({ HOME: home, CONTAINERS_REGISTRIES_CONF: `${home}/own.conf` }),
      { path: `${home}/own.conf`, text: "# own\n" },
    );
    assert.equal(
      await hostRegistriesConf({ HOME: home, CONTAINERS_REGISTRIES_CONF: `${home}/absent` }),
      undefined,
    );
    const system = await hostRegistriesConf({ HOME: `${home}/nobody` });
    const etc = await Deno.readTextFile("/etc/containers/registries.conf").catch(() => undefined);
    assert.deepEqual(
      system,
      etc === undefined ? undefined : { path: "/etc/containers/registries.conf", text: etc },
    );
    // a folder in its place: one line naming it
    await assert.rejects(
      hostRegistriesConf({ CONTAINERS_REGISTRIES_CONF: home }),
      (error: Error) =>
        error instanceof CheckError && error.message.startsWith(`Cannot read ${home}: `),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("removeStaleRegistriesConfs() removes only registries.conf files older than a day", async () => {
  const dir = await Deno.makeTempDir({ prefix: "build-logs-" });
  try {
    const now = Date.now();
    const twoDaysAgo = new Date(now - 2 * 86_400_000);
    for (const name of ["old.registries.conf", "old.log", "new.registries.conf"]) {
      await Deno.writeTextFile(`${dir}/${name}`, "");
    }
    await Deno.utime(`${dir}/old.registries.conf`, twoDaysAgo, twoDaysAgo);
    await Deno.utime(`${dir}/old.log`, twoDaysAgo, twoDaysAgo);
    await removeStaleRegistriesConfs(dir, 86_400_000, now);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "new.registries.conf",
      "old.log",
    ]);
    // a folder that is not there is nothing to sweep
    await removeStaleRegistriesConfs(`${dir}/absent`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a build log that cannot be written is a one-line CheckError, not a stack", async () => {
  const dir = await Deno.makeTempDir({ prefix: "build-logs-" });
  try {
    // build-logs is a file: the folder cannot be made
    await Deno.writeTextFile(`${dir}/build-logs`, "");
    await assert.rejects(buildLogFile(`${dir}/build-logs`, TAG), (error: Error) => {
      assert.ok(error instanceof CheckError);
      assert.match(error.message, /^Cannot write the build log in .*\/build-logs: /);
      return true;
    });
    assert.match(await buildLogFile(`${dir}/logs`, TAG), /\/logs\/build-zfs-2\.4\.2_.*\.log$/);
    // the log file itself cannot be opened: refused before podman starts
    const progress = new BuildProgress("plain", () => {}, Date.now, 80);
    await assert.rejects(
      runBuild(["--version"], `${dir}/build-logs/build.log`, progress),
      (error: Error) => {
        assert.ok(error instanceof CheckError);
        assert.match(error.message, /^Cannot write the build log .*build\.log: /);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveImageName() takes a bare tag or a full reference", () => {
  const tag = "zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64";
  assert.deepEqual(resolveImageName("ghcr.io/o/r", tag), {
    image: `ghcr.io/o/r:${tag}`,
    imageTag: tag,
  });
  assert.deepEqual(resolveImageName("ghcr.io/o/r", "x", tag), {
    image: `ghcr.io/o/r:${tag}`,
    imageTag: tag,
  });
  assert.deepEqual(resolveImageName("ghcr.io/o/r", "x", "127.0.0.1:5000/k:test"), {
    image: "127.0.0.1:5000/k:test",
    imageTag: "test",
  });
  assert.throws(
    () => resolveImageName("ghcr.io/o/r", "x", "zfs-2.4.2_kernel-6.17.7`id`"),
    InputError,
  );
});

Deno.test("displayCommand() quotes what a shell would split", () => {
  assert.equal(
    displayCommand(["podman", "build", "--build-arg", "A=b c", "it's"]),
    `podman build --build-arg 'A=b c' 'it'\\''s'`,
  );
});

Deno.test("sourceUrlOf(), contextOf() and isLoopbackRegistry()", () => {
  assert.equal(
    sourceUrlOf("x", { GITHUB_SERVER_URL: "https://github.com", GITHUB_REPOSITORY: "o/r" }),
    "https://github.com/o/r",
  );
  assert.equal(sourceUrlOf("ghcr.io/o/r", {}), "https://github.com/o/r");
  assert.equal(contextOf("/repo/Containerfile"), "/repo");
  assert.equal(contextOf("Containerfile"), ".");
  assert.ok(isLoopbackRegistry("127.0.0.1:5000/x"));
  assert.ok(isLoopbackRegistry("localhost:5000/x@sha256:0"));
  assert.ok(isLoopbackRegistry("[::1]:5000/x"));
  assert.ok(isLoopbackRegistry("[::1]/x"));
  assert.ok(!isLoopbackRegistry("[::2]:5000/x"));
  assert.ok(!isLoopbackRegistry("quay.io/127.0.0.1/x"));
});

Deno.test("parseStep() and formatElapsed() read podman's step lines", () => {
  assert.deepEqual(parseStep("[2/7] STEP 3/5: RUN make"), {
    stage: { index: 2, count: 7 },
    index: 3,
    count: 5,
    instruction: "RUN make",
  });
  assert.deepEqual(parseStep("STEP 1/2: FROM scratch")?.stage, undefined);
  assert.equal(parseStep("--> 1f103857e2d"), undefined);
  assert.equal(formatElapsed(5_400), "5s");
  assert.equal(formatElapsed(83_000), "1m23s");
  assert.equal(formatElapsed(3_723_000), "1h02m03s");
  assert.equal(progressMode({ GITHUB_ACTIONS: "true" }, true), "github");
  assert.equal(progressMode({}, true), "tty");
  assert.equal(progressMode({}, false), "plain");
});

// ---- integration: the real tasks against podman, rpmbuild and a local registry ------------

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TAG = `zfs-2.4.2_kernel-${KERNEL}`;

/** Runs a task as a user would: deno.json's command line for tasks/<file> (its permissions). */
function task(
  file: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): Promise<TaskResult> {
  return spawnTask(file, args, {
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    clearEnv: options.clearEnv,
    stdin: "inherit",
  });
}

/** An environment whose PATH holds only deno (linked into `dir`), keeping deno's caches. */
async function withoutPodman(dir: string): Promise<Record<string, string>> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.symlink(Deno.execPath(), `${dir}/bin/deno`).catch(() => {});
  const env: Record<string, string> = { PATH: `${dir}/bin` };
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "NPM_CONFIG_REGISTRY"]) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return env;
}

/** Builds the tiny RPMs and lays them out under `dir/layout` as the real final stage does. */
async function buildFixtureRpms(dir: string): Promise<string[]> {
  const { rpmFolder } = await import("../../lib/build/rpms.ts");
  const top = `${dir}/rpmbuild`;
  for (const [spec, defines] of [["zfs.spec", []], ["kmod-zfs.spec", ["kver", KERNEL]]] as const) {
    const output = await new Deno.Command("rpmbuild", {
      args: [
        "-ba",
        "--nodeps",
        "--define",
        `_topdir ${top}`,
        ...(defines.length ? ["--define", defines.join(" ")] : []),
        `${ROOT}tests/fixtures/rpms/${spec}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
  }
  const placed: string[] = [];
  for (const sub of ["RPMS/x86_64", "SRPMS"]) {
    for await (const entry of Deno.readDir(`${top}/${sub}`)) {
      const folder = rpmFolder(entry.name);
      const target = folder === "/" ? `${dir}/layout` : `${dir}/layout/${folder}`;
      await Deno.mkdir(target, { recursive: true });
      await Deno.copyFile(`${top}/${sub}/${entry.name}`, `${target}/${entry.name}`);
      placed.push(folder === "/" ? entry.name : `${folder}/${entry.name}`);
    }
  }
  // the installer sits beside the main RPMs, as in the real image: never listed as an RPM
  const installer = (await Deno.readTextFile(`${ROOT}install-zfs.sh`))
    .replaceAll("@KERNEL_VERSION@", KERNEL).replaceAll("@ZFS_TAG@", "zfs-2.4.2");
  await Deno.writeTextFile(`${dir}/layout/install-zfs.sh`, installer, { mode: 0o755 });
  return placed.sort();
}

async function podmanQuiet(env: Record<string, string>, ...args: string[]): Promise<void> {
  await new Deno.Command("podman", { args, env, stdout: "null", stderr: "null" }).output();
}

integrationTest(
  "build, list-rpms, extract-rpms and check-container work on a real image in a local registry",
  ["podman", "rpmbuild", "docker-registry"],
  async (t) => {
    // zfs-2.4.3 unpinned, for the refusal below
    const unpin2_4_3 = (matrix: string) => {
      const edited = matrix.replace(
        /(- tag: zfs-2\.4\.3\n(?: {6}[a-z-]+: .*\n)*?) {6}sha256: [0-9a-f]{64}\n/,
        "$1",
      );
      assert.doesNotMatch(edited, /- tag: zfs-2\.4\.3\n(?: {6}[a-z-]+: .*\n)*? {6}sha256:/);
      return edited;
    };
    // the registry, the FCOS builds server as it answers for a build it does not have (403 XML),
    // an FCOS-labelled target and a podman storage of its own; BUILDAH_LAYERS=false in env
    const build = await startBuildEnvironment({ editMatrix: unpin2_4_3 });
    const { registry, dir, target } = build;
    const image = `${registry.host}/kmods:${TAG}`;
    const env = { ...build.env, GITHUB_OUTPUT: `${dir}/output` };
    try {
      await Deno.mkdir(`${dir}/context`);
      await Deno.copyFile(
        `${ROOT}tests/fixtures/kmods.Containerfile`,
        `${dir}/context/Containerfile`,
      );
      const rpms = await buildFixtureRpms(`${dir}/context`);
      // build.common: the arguments that make build discover the local target and take zfs-2.4.2
      const common = ["--containerfile", `${dir}/context/Containerfile`, ...build.common];
      // build and test-build run in `dir` (their build-logs/ land there) with this test's env
      const inDir = (file: string, args: string[], more: Record<string, string> = {}) =>
        task(file, args, { env: { ...env, ...more }, cwd: dir });

      await t.step(
        "build --dry-run prints the versions and the podman command, runs nothing",
        async () => {
          const ran = await inDir("build.ts", [...common, "--dry-run"]);
          assert.equal(ran.code, 0, ran.stderr);
          assert.match(ran.stdout, new RegExp(`^kernel +${KERNEL.replaceAll(".", "\\.")} `, "m"));
          assert.match(ran.stdout, /^signing cert +unsigned$/m);
          assert.match(ran.stdout, /^podman build --isolation chroot --arch amd64 /m);
          assert.match(
            ran.stdout,
            new RegExp(`--build-arg TARGET_IMAGE=${registry.host}/fcos@sha256:[0-9a-f]{64} `),
          );
          assert.match(ran.stdout, /--build-arg ZFS_SHA256=d03c3edd/);
          assert.equal(await imageExistsLocally(image, env), false);
        },
      );

      await t.step(
        "build --github-output refuses an unwritable $GITHUB_OUTPUT before anything runs",
        async () => {
          const ran = await inDir("build.ts", [...common, "--dry-run", "--github-output"], {
            GITHUB_OUTPUT: dir,
          });
          assert.equal(ran.code, 2, ran.stderr);
          assert.match(ran.stderr, /^error: Cannot write \$GITHUB_OUTPUT: /m);
          assert.equal(ran.stdout, "");
        },
      );

      await t.step(
        "test-build under GitHub Actions builds and removes, never writing the step summary",
        async () => {
          const ran = await inDir("test_build.ts", common, {
            GITHUB_ACTIONS: "true",
            GITHUB_STEP_SUMMARY: `${dir}/test-summary`,
          });
          assert.equal(ran.code, 0, ran.stderr);
          assert.match(ran.stderr, /^Removed /m);
          assert.equal(await Deno.stat(`${dir}/test-summary`).catch(() => undefined), undefined);
          await Deno.remove(`${dir}/build-logs`, { recursive: true });
        },
      );

      await t.step("build builds, tags and pushes the image and writes its outputs", async () => {
        const ran = await inDir("build.ts", [...common, "--push", "--github-output"], {
          GITHUB_STEP_SUMMARY: `${dir}/summary`,
        });
        assert.equal(ran.code, 0, ran.stderr);
        const summary = await Deno.readTextFile(`${dir}/summary`);
        assert.match(summary, /^### Build stages$/m);
        assert.match(summary, /^\| .*kmods:zfs-2\.4\.2_kernel-\S+ \| sha256:[0-9a-f]{64} \|$/m);
        assert.equal(ran.stdout.trim(), image);
        assert.match(ran.stderr, /full log: .*build-logs\/build-.*\.log/);
        const outputs = await Deno.readTextFile(`${dir}/output`);
        assert.match(outputs, new RegExp(`^image-tag=${TAG.replaceAll(".", "\\.")}$`, "m"));
        assert.match(outputs, /^digest=sha256:[0-9a-f]{64}$/m);
        const log = [...Deno.readDirSync(`${dir}/build-logs`)];
        assert.equal(log.length, 1);
        assert.match(
          await Deno.readTextFile(`${dir}/build-logs/${log[0]!.name}`),
          /STEP \d+\/\d+: COPY layout\/ \//,
        );
      });

      await t.step("the image carries the labels a consumer checks", async () => {
        const { inspectImage } = await import("../../lib/registry/registry.ts");
        const { labels } = await inspectImage(image, "x86_64");
        assert.equal(labels["io.github.fedora-zfs-kmods.kernel-version"], KERNEL);
        assert.equal(labels["io.github.fedora-zfs-kmods.kernel-major-minor"], "6.15");
        assert.equal(labels["io.github.fedora-zfs-kmods.zfs-tag"], "zfs-2.4.2");
        assert.equal(labels["io.github.fedora-zfs-kmods.fedora-version"], "42");
        assert.equal(labels["org.opencontainers.image.ref.name"], TAG);
        assert.match(labels["org.opencontainers.image.created"] ?? "", /^\d{4}-\d\d-\d\dT/);
        // those of the images the original shell project published, which consumers may check
        assert.equal(labels["org.opencontainers.image.version"], "zfs-2.4.2");
        const compat = "io.github.samhclark.fedora-zfs-kmods.";
        assert.equal(labels[`${compat}kernel.version`], KERNEL);
        assert.equal(labels[`${compat}kernel.major_minor`], "6.15");
        assert.equal(labels[`${compat}zfs.tag`], "zfs-2.4.2");
        assert.equal(labels[`${compat}fedora.version`], "42");
      });

      await t.step("list-rpms groups the RPMs by folder", async () => {
        const ran = await task("list_rpms.ts", [image, "--json"], { env });
        assert.equal(ran.code, 0, ran.stderr);
        const { groups } = JSON.parse(ran.stdout) as {
          groups: { folder: string; rpms: string[] }[];
        };
        assert.deepEqual(groups.map((g) => g.folder), ["/", "debug", "devel", "other", "src"]);
        const listed = groups.flatMap((g) =>
          g.rpms.map((r) => g.folder === "/" ? r : `${g.folder}/${r}`)
        );
        assert.deepEqual(listed.sort(), rpms);
        assert.ok(groups[0]!.rpms.includes(`kmod-zfs-${KERNEL}-2.4.2-1.x86_64.rpm`));
      });

      await t.step("list-rpms without a kmods image lists the one built for --image", async () => {
        const ran = await task("list_rpms.ts", ["--image", target, "--zfs", "zfs-2.4.2"], { env });
        assert.equal(ran.code, 0, ran.stderr);
        assert.match(ran.stdout, /^other\/\n {2}zfs-dracut-2\.4\.2-1\.x86_64\.rpm$/m);
      });

      await t.step("extract-rpms copies them into the folders", async () => {
        const dest = `${dir}/out/rpms`;
        const ran = await task("extract_rpms.ts", [image, "--dest", dest], { env });
        assert.equal(ran.code, 0, ran.stderr);
        for (const rpm of rpms) assert.ok(Deno.statSync(`${dest}/${rpm}`).isFile, rpm);
        assert.doesNotMatch(ran.stdout, /install-zfs/);
        assert.equal(await Deno.stat(`${dest}/install-zfs.sh`).catch(() => undefined), undefined);
      });

      await t.step("check-container finds the pushed tag, and not an absent one", async () => {
        await Deno.writeTextFile(`${dir}/output`, "");
        const found = await task(
          "check_container.ts",
          ["--image", target, "--zfs", "zfs-2.4.2", "--github-output"],
          { env },
        );
        assert.equal(found.code, 0, found.stderr);
        assert.match(found.stdout, new RegExp(`exists: ${image.replaceAll(".", "\\.")}`));
        const absent = await task(
          "check_container.ts",
          ["--tag", "zfs-2.4.2_kernel-6.15.5-200.fc42.x86_64", "--github-output"],
          { env },
        );
        assert.equal(absent.code, 1, absent.stderr);
        assert.match(absent.stdout, /not found: .*kernel-6\.15\.5-200/);
        const outputs = await Deno.readTextFile(`${dir}/output`);
        assert.match(
          outputs,
          new RegExp(`container-exists=true\nimage-tag=${TAG.replaceAll(".", "\\.")}\n`),
        );
        assert.match(
          outputs,
          /container-exists=false\nimage-tag=zfs-2\.4\.2_kernel-6\.15\.5-200\.fc42\.x86_64\n/,
        );
      });

      await t.step(
        "check-container --require-attestations needs a repo and a verified attestation",
        async () => {
          const noRepo = await task(
            "check_container.ts",
            ["--tag", TAG, "--require-attestations"],
            { env: { ...env, GITHUB_REPOSITORY: "" } },
          );
          assert.equal(noRepo.code, 2, noRepo.stderr);
          assert.match(noRepo.stderr, /--require-attestations needs --repo OWNER\/REPO/);
          // The gh here (2.23) has no `attestation` command: that is not a verdict on the image,
          // so it is an error (exit 1) and no container-exists is written — the workflow stops
          // instead of rebuilding and re-pushing a tag that exists.
          await Deno.writeTextFile(`${dir}/output`, "");
          const unverified = await task(
            "check_container.ts",
            ["--tag", TAG, "--require-attestations", "--repo", "owner/repo", "--github-output"],
            { env: { ...env, GH_TOKEN: "test", GH_HOST: "127.0.0.1:9" } },
          );
          assert.equal(unverified.code, 1, unverified.stderr);
          assert.match(
            unverified.stderr,
            /^error: Cannot verify the attestation of .*gh 2\.49 or newer/m,
          );
          assert.equal(unverified.stdout, "");
          assert.doesNotMatch(await Deno.readTextFile(`${dir}/output`), /container-exists/);
        },
      );

      await t.step(
        "build refuses an incompatible or unpinned release before podman runs",
        async () => {
          const old = await inDir("build.ts", [
            "--image",
            target,
            "--zfs",
            "zfs-2.2.7",
            "--isolation",
            "chroot",
          ]);
          assert.equal(old.code, 1, old.stderr);
          assert.match(
            old.stderr,
            /^error: zfs-2\.2\.7 does not support 6\.15\S* \(6\.15 > 6\.12\)/m,
          );
          const unpinned = await inDir("build.ts", ["--image", target, "--zfs", "zfs-2.4.3"]);
          assert.equal(unpinned.code, 1, unpinned.stderr);
          assert.match(
            unpinned.stderr,
            /pins no sha256 for zfs-2\.4\.3.*deno task matrix add zfs-2\.4\.3/,
          );
          assert.doesNotMatch(old.stderr + unpinned.stderr, /Building|STEP/);
        },
      );

      await t.step(
        "the real Containerfile checks the target image first; a failure shows the log",
        async () => {
          // The target is FROM scratch: the target-check stage cannot run there and must fail
          // before anything else is fetched (no network needed).
          const ran = await inDir("build.ts", build.common);
          assert.equal(ran.code, 1, ran.stderr);
          assert.match(
            ran.stderr,
            /\[1\/7\] STEP 1\/\d+: FROM .*\/fcos@sha256:[0-9a-f]{64} AS target-check/,
          );
          assert.match(ran.stderr, /--- last \d+ lines of .*build-logs\/build-.*\.log ---/);
          // the last line names the cause: the stage and step that failed, and why
          assert.match(
            ran.stderr.trimEnd().split("\n").at(-1)!,
            /^error: podman build failed \(exit \d+\): target-check failed at step 4 of \d+ \(.+\): .+; full log: .*\.log$/,
          );
          assert.match(ran.stderr, /^target-check +failed at step 4 of \d+ /m);
          assert.doesNotMatch(ran.stderr, /AS builder/);
          // the loopback target was pulled over plain http (registries.conf): its RUN started
          assert.match(ran.stderr, /\[1\/7\] STEP 4\/\d+: RUN /);
          assert.doesNotMatch(ran.stderr, /HTTP response to HTTPS client|x509|tls:/i);
          assert.deepEqual(
            [...Deno.readDirSync(`${dir}/build-logs`)].filter((e) => e.name.endsWith(".conf")),
            [],
            "the registries.conf is removed after the build",
          );
        },
      );

      await t.step(
        "the build keeps the host's registries.conf: its alias resolves, over plain http",
        async () => {
          // podman reads the build's registries.conf instead of the host's main file: the
          // host's settings must be in it, here a short-name alias for the loopback target
          await Deno.mkdir(`${dir}/alias`);
          await Deno.writeTextFile(`${dir}/alias/Containerfile`, "FROM kmods-test-target:stable\n");
          await Deno.writeTextFile(
            `${dir}/host-registries.conf`,
            `[aliases]\n"kmods-test-target" = "${registry.host}/fcos"\n`,
          );
          const ran = await inDir("test_build.ts", [
            ...common,
            "--containerfile",
            `${dir}/alias/Containerfile`,
            "--tag",
            `${registry.host}/alias-check:${TAG}`,
          ], { CONTAINERS_REGISTRIES_CONF: `${dir}/host-registries.conf` });
          assert.equal(ran.code, 0, ran.stderr);
          const log = ran.stderr.match(/full log: (\S+\.log)$/m)?.[1] ?? "";
          assert.match(await Deno.readTextFile(log), /STEP 1\/1: FROM kmods-test-target:stable/);
          assert.match(ran.stderr, /^Removed /m);
          assert.deepEqual(
            [...Deno.readDirSync(`${dir}/build-logs`)].filter((e) => e.name.endsWith(".conf")),
            [],
          );
        },
      );

      await t.step("build without podman on PATH says how to install it", async () => {
        const ran = await task("build.ts", common, {
          env: { ...env, ...await withoutPodman(dir) },
          clearEnv: true,
          cwd: dir,
        });
        assert.equal(ran.code, 1, ran.stderr);
        assert.match(
          ran.stderr,
          /^error: podman is not installed: apt-get install podman \/ dnf install podman$/m,
        );
      });
    } finally {
      // also the kmods image and the target image the real Containerfile pulled (by digest)
      await build.stop();
    }
  },
);

async function imageExistsLocally(ref: string, env: Record<string, string>): Promise<boolean> {
  const output = await new Deno.Command("podman", { args: ["image", "exists", ref], env })
    .output();
  return output.success;
}

integrationTest(
  "list-rpms and extract-rpms refuse what they cannot read",
  ["podman"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "kmods-bad-" });
    try {
      const absent = `localhost/absent-${crypto.randomUUID()}:zfs-2.4.2_kernel-${KERNEL}`;
      await t.step("an image that does not exist → exit 1 naming it", async () => {
        for (const file of ["list_rpms.ts", "extract_rpms.ts"]) {
          const ran = await task(file, [
            absent,
            ...(file === "extract_rpms.ts" ? ["--dest", `${dir}/d`] : []),
          ]);
          assert.equal(ran.code, 1, ran.stderr);
          assert.match(
            ran.stderr,
            new RegExp(`^error: Image not found: ${absent.replaceAll(".", "\\.")}`, "m"),
          );
        }
      });
      await t.step("--dest that is a file → exit 2", async () => {
        await Deno.writeTextFile(`${dir}/file`, "");
        const ran = await task("extract_rpms.ts", [absent, "--dest", `${dir}/file`]);
        assert.equal(ran.code, 2, ran.stderr);
        assert.match(ran.stderr, /--dest is not a folder/);
      });
      await t.step("no podman on PATH → exit 1 with how to install it", async () => {
        const ran = await task("list_rpms.ts", [absent], {
          env: await withoutPodman(dir),
          clearEnv: true,
        });
        assert.equal(ran.code, 1, ran.stderr);
        assert.match(
          ran.stderr,
          /podman is not installed: apt-get install podman \/ dnf install podman/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("a tag or version with shell characters exits 2 before anything runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kmods-shell-" });
  try {
    const marker = `${dir}/pwned`;
    const cases: [string, string[]][] = [
      ["build.ts", ["--tag", `zfs-2.4.2_kernel-6.15.4;touch ${marker}`, "--dry-run"]],
      ["build.ts", ["--zfs", `zfs-2.4.2$(touch ${marker})`, "--dry-run"]],
      ["build.ts", ["--image", `quay.io/x:y;touch ${marker}`]],
      ["test_build.ts", ["--tag", "zfs-2.4.2_kernel-`id`"]],
      ["check_container.ts", ["--tag", `x' || touch ${marker}`]],
      ["list_rpms.ts", ["--image", `quay.io/x:$(touch ${marker})`]],
      ["extract_rpms.ts", ["--zfs", "2.4.2;id"]],
    ];
    for (const [file, args] of cases) {
      const ran = await task(file, args, { cwd: dir });
      assert.equal(ran.code, 2, `${file} ${args.join(" ")}: ${ran.stderr}`);
      assert.match(ran.stderr, /^error: .*Invalid/m);
    }
    assert.equal(await Deno.stat(marker).catch(() => undefined), undefined);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was written (no build-logs)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs `podman build` in `context` with `env`; returns whether it worked and its output. */
async function podmanBuild(
  context: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ success: boolean; output: string }> {
  const result = await new Deno.Command("podman", {
    args: ["build", "--isolation", "chroot", ...args, context],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  return { success: result.success, output };
}

/** The output lines of one step of a podman build: its STEP line up to the next STEP or COMMIT. */
function stepOutput(output: string, instruction: RegExp): string {
  const steps = output.split(/^(?=STEP \d+\/\d+: |COMMIT)/m);
  return steps.find((step) => instruction.test(step.split("\n")[0]!)) ?? "";
}

integrationTest(
  "a signed build does not reuse the cached unsigned layer of the signing RUN (podman --layers)",
  ["podman", "busybox"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "signing-cache-" });
    const storage = await isolatedStorage();
    const image = `localhost/signing-cache-test-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.copyFile(
        `${ROOT}tests/fixtures/signing-cache.Containerfile`,
        `${dir}/Containerfile`,
      );
      await Deno.copyFile(
        await Deno.realPath("/bin/busybox").catch(() => "/usr/bin/busybox"),
        `${dir}/busybox`,
      );
      await Deno.writeTextFile(`${dir}/nonce`, crypto.randomUUID());
      await Deno.writeTextFile(`${dir}/cert.pem`, new TextDecoder().decode(CERT));
      const sha = signingCertSha256({
        secretKey: "k",
        secretCert: `${dir}/cert.pem`,
        secretCertContent: CERT,
      });
      const signingStep = /^STEP \d+\/\d+: RUN --mount=type=secret,id=signing_cert/;
      const build = async (tag: string, args: string[]) => {
        const built = await podmanBuild(
          dir,
          ["--layers", "--tag", `${image}:${tag}`, ...args],
          storage.env,
        );
        assert.ok(built.success, built.output);
        return stepOutput(built.output, signingStep);
      };

      await t.step("first build, unsigned: the signing RUN runs", async () => {
        const step = await build("unsigned", ["--build-arg", "SIGNING_CERT_SHA256=unsigned"]);
        assert.ok(step !== "" && !step.includes("Using cache"), step);
      });
      await t.step(
        "control: a secret alone is not part of the cache key, the unsigned layer is reused",
        async () => {
          const step = await build("secret-only", [
            "--secret",
            `id=signing_cert,src=${dir}/cert.pem`,
            "--build-arg",
            "SIGNING_CERT_SHA256=unsigned",
          ]);
          assert.match(step, /--> Using cache [0-9a-f]{64}/);
        },
      );
      await t.step(
        "signed with the certificate's sha256: the cached step is not taken",
        async () => {
          const step = await build("signed", [
            "--secret",
            `id=signing_cert,src=${dir}/cert.pem`,
            "--build-arg",
            `SIGNING_CERT_SHA256=${sha}`,
          ]);
          assert.ok(step !== "", "no signing step in the output");
          assert.doesNotMatch(step, /Using cache/);
          const signed = await new Deno.Command("podman", {
            args: ["create", `${image}:signed`, "/bin/sh"],
            env: storage.env,
            stdout: "piped",
            stderr: "null",
          }).output();
          const container = new TextDecoder().decode(signed.stdout).trim();
          try {
            const copied = await new Deno.Command("podman", {
              args: ["cp", `${container}:/signed`, `${dir}/signed`],
              env: storage.env,
              stderr: "piped",
            }).output();
            assert.ok(copied.success, new TextDecoder().decode(copied.stderr));
            assert.equal((await Deno.readTextFile(`${dir}/signed`)).trim(), `signed ${sha}`);
          } finally {
            await podmanQuiet(storage.env, "rm", "--force", container);
          }
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
      await storage.cleanup(); // the tagged images and the cached layers
    }
  },
);
