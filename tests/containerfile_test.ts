import assert from "node:assert/strict";
import { BUILD_ARG_NAMES } from "../lib/build.ts";
import { checkContainerfile, parseContainerfile } from "../lib/containerfile.ts";

const CONTAINERFILE = await Deno.readTextFile(new URL("../Containerfile", import.meta.url));

/** The real Containerfile with one change; fails if `from` is not in it (a silent no-op). */
function mutate(from: string, to: string): string {
  assert.ok(
    CONTAINERFILE.includes(from),
    `Containerfile no longer contains ${JSON.stringify(from)}`,
  );
  return CONTAINERFILE.replace(from, to);
}

function assertProblem(text: string, pattern: RegExp): void {
  const problems = checkContainerfile(text);
  assert.ok(
    problems.some((p) => pattern.test(p)),
    `expected a problem matching ${pattern}, got:\n${problems.join("\n") || "(none)"}`,
  );
}

Deno.test("the Containerfile passes every static check", () => {
  assert.deepEqual(checkContainerfile(CONTAINERFILE), []);
});

Deno.test("the Containerfile declares every build argument that build passes", () => {
  const declared = parseContainerfile(CONTAINERFILE).filter((i) => i.keyword === "ARG")
    .map((i) => i.args);
  for (const name of BUILD_ARG_NAMES) assert.ok(declared.includes(name), name);
});

Deno.test("parseContainerfile() joins continuations and skips comments inside them", () => {
  const instructions = parseContainerfile(
    "# comment\nARG A\n\nRUN one \\\n  # inside\n  two \\\n  three\nlabel x=1\n",
  );
  assert.deepEqual(
    instructions.map(({ line, keyword, args }) => ({ line, keyword, args })),
    [
      { line: 2, keyword: "ARG", args: "A" },
      { line: 4, keyword: "RUN", args: "one  two  three" },
      { line: 8, keyword: "LABEL", args: "x=1" },
    ],
  );
  assert.deepEqual(instructions[2]!.labelKeys, ["x"]);
});

Deno.test("parseContainerfile() reads what the old tokeniser misread", async (t) => {
  await t.step("a RUN <<EOF heredoc is one instruction, its lines kept as written", () => {
    const instructions = parseContainerfile(
      "FROM scratch AS a\nRUN <<EOF\nset -eu\n# not a comment\nFROM x\nEOF\nCOPY a /b\n",
    );
    assert.deepEqual(instructions.map((i) => i.keyword), ["FROM", "RUN", "COPY"]);
    assert.equal(instructions[1]!.args, "<<EOF\nset -eu\n# not a comment\nFROM x\nEOF");
    assert.equal(instructions[2]!.line, 7);
  });
  await t.step("FROM --platform=… names the image and the stage, not the flag", () => {
    const [from] = parseContainerfile("FROM --platform=$BUILDPLATFORM quay.io/x:1 AS b\n");
    assert.deepEqual(from!.from, { image: "quay.io/x:1", stage: "b" });
    assert.deepEqual(from!.flags, [{ name: "platform", value: "$BUILDPLATFORM" }]);
  });
  await t.step("# escape=` makes the backtick the continuation character", () => {
    const instructions = parseContainerfile(
      '# escape=`\nFROM scratch\nRUN one `\n  two\nLABEL a="c:\\\\d"\n',
    );
    assert.deepEqual(instructions.map((i) => [i.keyword, i.args]), [
      ["FROM", "scratch"],
      ["RUN", "one  two"],
      ["LABEL", 'a="c:\\\\d"'],
    ]);
  });
  await t.step("the checker sees through them", () => {
    const text = mutate(
      "FROM source AS userland\n",
      "FROM --platform=linux/amd64 source AS userland\nRUN <<EOF\necho ${KERNEL_VERSION}\nEOF\n",
    );
    assertProblem(text, /stage userland .* sees kernel argument KERNEL_VERSION/);
    assertProblem(text, /RUN uses KERNEL_VERSION, not declared with ARG in stage userland/);
    // the stage is still found as userland's base, so no "never used" for source
    assert.ok(!checkContainerfile(text).some((p) => /stage source is never used/.test(p)));
  });
});

Deno.test("checkContainerfile() catches an argument used in a stage that does not declare it", async (t) => {
  await t.step("a RUN in the verify stage", () => {
    assertProblem(
      mutate("FROM builder AS verify\nARG KERNEL_VERSION\n", "FROM builder AS verify\n"),
      /RUN uses KERNEL_VERSION, not declared with ARG in stage verify/,
    );
  });
  await t.step("a global ARG used in a LABEL without redeclaring it", () => {
    assertProblem(
      mutate("ARG KERNEL_MAJOR_MINOR\n", ""),
      /LABEL uses KERNEL_MAJOR_MINOR, not declared with ARG in stage \(final\)/,
    );
  });
  await t.step("a FROM using an ARG declared only inside a stage", () => {
    assertProblem(
      mutate("ARG TARGET_IMAGE\nARG FEDORA_VERSION\n", "ARG TARGET_IMAGE\n"),
      /FROM uses FEDORA_VERSION, not declared before the first FROM/,
    );
  });
  await t.step("an ARG used before its declaration", () => {
    assertProblem(
      mutate(
        "FROM source AS kmod\nARG KERNEL_VERSION\n",
        "FROM source AS kmod\nCOPY --from=target-check /target-check.ok /tmp/${KERNEL_VERSION}\nARG KERNEL_VERSION\n",
      ),
      /COPY uses KERNEL_VERSION/,
    );
  });
});

Deno.test("checkContainerfile() refuses version defaults and arguments build does not pass", () => {
  assertProblem(
    mutate("ARG ZFS_TAG\n", "ARG ZFS_TAG=zfs-2.4.2\n"),
    /ARG ZFS_TAG must not have a default/,
  );
  assertProblem(
    mutate("ARG ZFS_SHA256\n", "ARG ZFS_SHA256\nARG ZFS_CHECKSUM\n"),
    /ARG ZFS_CHECKSUM is not passed/,
  );
  assertProblem(
    mutate("ARG SOURCE_URL\n", "").replace("${SOURCE_URL}", "x").replace("${SOURCE_URL}", "x"),
    /build argument SOURCE_URL is never declared/,
  );
});

Deno.test("checkContainerfile() keeps every kernel argument out of userland and the stages below it", async (t) => {
  await t.step("declared in userland", () => {
    assertProblem(
      mutate("FROM source AS userland\n", "FROM source AS userland\nARG KERNEL_VERSION\n"),
      /stage userland .* sees kernel argument KERNEL_VERSION/,
    );
  });
  await t.step("used in the builder base that userland builds on", () => {
    assertProblem(
      mutate(
        "FROM quay.io/fedora/fedora:${FEDORA_VERSION} AS builder\n",
        "FROM quay.io/fedora/fedora:${FEDORA_VERSION} AS builder\nARG KERNEL_VERSION\nRUN echo ${KERNEL_VERSION}\n",
      ),
      /stage builder .* sees kernel argument KERNEL_VERSION/,
    );
  });
  await t.step("a stage that userland's base copies from", () => {
    assertProblem(
      mutate(
        "WORKDIR /build/zfs\n",
        "COPY --from=target-check /target-check.ok /tmp/target-check.ok\nWORKDIR /build/zfs\n",
      ),
      /stage target-check .* sees kernel argument KERNEL_VERSION/,
    );
  });
  await t.step("a stage that userland mounts", () => {
    assertProblem(
      mutate(
        "FROM source AS userland\nRUN ",
        "FROM source AS userland\nRUN --mount=type=bind,from=kmod,target=/k ",
      ),
      /stage kmod .* sees kernel argument KERNEL_VERSION/,
    );
  });
  await t.step("userland built on the kmod stage", () => {
    assertProblem(
      mutate("FROM source AS userland\n", "FROM kmod AS userland\n"),
      /stage kmod .* sees kernel argument KERNEL_VERSION/,
    );
  });
});

Deno.test("checkContainerfile() wants a FROM scratch final stage with every label", () => {
  assertProblem(
    mutate("FROM scratch\n", "FROM quay.io/fedora/fedora:43\n"),
    /final stage must be FROM scratch/,
  );
  const withoutLabel = CONTAINERFILE.replace(
    /\s+io\.github\.fedora-zfs-kmods\.fedora-version="\$\{FEDORA_VERSION\}" \\\n/,
    "\n",
  );
  assert.notEqual(withoutLabel, CONTAINERFILE);
  assertProblem(withoutLabel, /lacks label io\.github\.fedora-zfs-kmods\.fedora-version/);
  assertProblem(
    mutate('org.opencontainers.image.revision="${VCS_REF}" \\\n', ""),
    /lacks label org\.opencontainers\.image\.revision/,
  );
});

Deno.test("the final stage keeps the labels of the images the original project published", () => {
  const [label] = parseContainerfile(CONTAINERFILE).filter((i) => i.keyword === "LABEL");
  assert.match(label!.args, /\borg\.opencontainers\.image\.version="\$\{ZFS_TAG\}"/);
  for (
    const [key, arg] of [
      ["zfs.tag", "ZFS_TAG"],
      ["kernel.version", "KERNEL_VERSION"],
      ["kernel.major_minor", "KERNEL_MAJOR_MINOR"],
      ["fedora.version", "FEDORA_VERSION"],
    ] as const
  ) {
    const line = `io.github.samhclark.fedora-zfs-kmods.${key}="\${${arg}}"`;
    assert.ok(label!.args.includes(line), line);
    assertProblem(
      mutate(line, line.replace(key, `${key}-renamed`)),
      new RegExp(`lacks label io\\.github\\.samhclark\\.fedora-zfs-kmods\\.${key}$`),
    );
  }
});

Deno.test("checkContainerfile() refuses floating tags", () => {
  assertProblem(
    mutate("quay.io/fedora/fedora:${FEDORA_VERSION}", "quay.io/fedora/fedora:latest"),
    /floating tag :latest/,
  );
  assertProblem(
    mutate(
      "FROM quay.io/fedora/fedora:${FEDORA_VERSION} AS builder",
      "FROM quay.io/fedora/fedora AS builder",
    ),
    /FROM quay\.io\/fedora\/fedora has no tag or digest/,
  );
});

Deno.test("checkContainerfile() wants the sha256 checked before the tarball is unpacked", async (t) => {
  await t.step("tar moved above the check", () => {
    const text = mutate("    tar -xzf zfs.tar.gz --strip-components=1 -C zfs; \\\n", "")
      .replace("    if ! echo", "    tar -xzf zfs.tar.gz -C zfs; \\\n    if ! echo");
    assertProblem(text, /unpacked before its sha256 is checked/);
  });
  await t.step("downloaded straight into tar", () => {
    const text = mutate(
      'curl --fail --location --silent --show-error --retry 3 --output zfs.tar.gz "$url";',
      'curl --fail --location "$url" | tar xz;',
    );
    assertProblem(text, /unpacked before its sha256 is checked/);
  });
  await t.step("no check at all", () => {
    const text = mutate("sha256sum --check --strict", "cat");
    assertProblem(text, /no RUN checks the source with sha256sum --check/);
    assertProblem(text, /unpacked before its sha256 is checked/);
  });
});

Deno.test("checkContainerfile() wants every stage, each used by a later one", () => {
  assertProblem(
    mutate("COPY --from=target-check /target-check.ok /tmp/target-check.ok\n", ""),
    /stage target-check is never used/,
  );
  assertProblem(
    mutate("FROM source AS kmod", "FROM source AS kernel"),
    /stage kmod is missing/,
  );
});

Deno.test("the test fixture's final stage is the real final stage, RPMs from the context", async () => {
  const fixture = await Deno.readTextFile(
    new URL("./fixtures/kmods.Containerfile", import.meta.url),
  );
  const finalStage = (text: string) => {
    const instructions = parseContainerfile(text);
    const from = instructions.findLastIndex((i) => i.keyword === "FROM");
    return instructions.slice(from).map((i) => `${i.keyword} ${i.args}`);
  };
  assert.deepEqual(
    finalStage(fixture),
    finalStage(CONTAINERFILE).map((line) =>
      line === "COPY --from=verify /layout/ /" ? "COPY layout/ /" : line
    ),
  );
});

// ---- the new rules: signing cache key, verified Koji download -----------------------------

Deno.test("checkContainerfile() wants SIGNING_CERT_SHA256 in the RUN that reads the signing secrets", () => {
  const text = mutate(
    '      [ "$cert_sha256" = "${SIGNING_CERT_SHA256}" ] \\\n' +
      '        || fail "the signing certificate\'s sha256 is $cert_sha256, SIGNING_CERT_SHA256 is ${SIGNING_CERT_SHA256}"; \\\n',
    "",
  ).replace(
    '      [ "${SIGNING_CERT_SHA256}" = unsigned ] \\\n' +
      '        || fail "SIGNING_CERT_SHA256 is ${SIGNING_CERT_SHA256} but the signing secrets are missing"; \\\n',
    "",
  );
  assertProblem(
    text,
    /RUN mounts the signing secrets but does not use \$\{SIGNING_CERT_SHA256\}: a signed build could reuse an unsigned cached layer/,
  );
  assertProblem(
    mutate("ARG SIGNING_CERT_SHA256\n", ""),
    /RUN uses SIGNING_CERT_SHA256, not declared with ARG in stage kmod/,
  );
  assertProblem(
    mutate("FROM source AS userland\n", "FROM source AS userland\nARG SIGNING_CERT_SHA256\n"),
    /stage userland .* sees kernel argument SIGNING_CERT_SHA256/,
  );
});

Deno.test("kmod: SIGNING_CERT_SHA256 is not in the cache key of the kernel-devel install", () => {
  const kmod = instructionsIn("kmod");
  const arg = kmod.findIndex((i) => i.keyword === "ARG" && i.words.includes("SIGNING_CERT_SHA256"));
  const install = kmod.findIndex((i) => i.keyword === "RUN" && i.args.includes("kernel-devel"));
  assert.ok(arg > install && install >= 0, `ARG at ${arg}, kernel-devel RUN at ${install}`);
  assertProblem(
    mutate("ARG SIGNING_CERT_SHA256\n", "")
      .replace("FROM source AS kmod\n", "FROM source AS kmod\nARG SIGNING_CERT_SHA256\n"),
    /line \d+: RUN does not use SIGNING_CERT_SHA256 but follows its ARG: switching signed\/unsigned would rebuild it/,
  );
});

Deno.test("checkContainerfile() wants the Koji download signature-checked before it is installed", async (t) => {
  const check =
    "      rpmkeys --checksig --define '_pkgverify_level signature' /tmp/kernel-devel.rpm \\\n" +
    '        || fail "the signature of $url does not verify against the Fedora ${FEDORA_VERSION} key"; \\\n';
  await t.step("no check", () => {
    assertProblem(mutate(check, ""), /RPM downloaded from Koji is never signature-checked/);
  });
  await t.step("the check after the install", () => {
    const install =
      "      dnf install -y --setopt=keepcache=1 --setopt=install_weak_deps=False \\\n" +
      "        /tmp/kernel-devel.rpm kernel-rpm-macros; \\\n";
    assertProblem(
      mutate(check, "").replace(install, install + check),
      /RPM downloaded from Koji is installed before its signature is checked/,
    );
  });
  await t.step("rpm -i before the check", () => {
    assertProblem(
      mutate(check, "      rpm -i /tmp/kernel-devel.rpm; \\\n" + check),
      /installed before its signature is checked/,
    );
  });
});

Deno.test("the builder installs systemd (zfs.spec BuildRequires it on Fedora)", () => {
  const [install] = runsIn("builder");
  assert.match(install!.args, /\sdnf install\s[^;]*\ssystemd\s/);
});

Deno.test("the kmod stage installs kernel-devel of the exact kernel, not kernel or kernel-modules", () => {
  const run = runsIn("kmod").find((r) => r.args.includes("kernel-devel"))!;
  assert.doesNotMatch(
    run.args,
    /\bkernel-(?:modules-|core-|modules-core-)?(?:\$\{?KERNEL_VERSION|\$\{?kernel\b)/,
  );
  assert.match(run.args, /"kernel-devel-\$kernel" kernel-rpm-macros/);
});

// ---- the RUN scripts themselves, run with sh against stub commands that record their calls -

const ROOT = new URL("..", import.meta.url).pathname;
const KERNEL = "6.17.7-300.fc43.x86_64";

/** The instructions of one stage of the real Containerfile, without its FROM. */
function instructionsIn(stage: string) {
  let current: string | undefined;
  const instructions = [];
  for (const instruction of parseContainerfile(CONTAINERFILE)) {
    if (instruction.keyword === "FROM") current = instruction.from?.stage;
    else if (current === stage) instructions.push(instruction);
  }
  return instructions;
}

/** The RUN instructions of one stage of the real Containerfile. */
function runsIn(stage: string) {
  return instructionsIn(stage).filter((i) => i.keyword === "RUN");
}

/** The shell command of a RUN, without its `--mount=…` flags. */
function shellOf(run: { args: string }): string {
  return run.args.replace(/^(?:--\S+\s+)+/, "");
}

interface Sandbox {
  dir: string;
  run(script: string, env?: Record<string, string>, cwd?: string): Promise<{
    code: number;
    output: string;
    calls: string[];
  }>;
}

/** A temp folder with stub commands in bin/ that append `name args…` to a log, then `body`. */
async function sandbox(
  stubs: Record<string, string>,
  fn: (box: Sandbox) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "containerfile-run-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    for (const [name, body] of Object.entries(stubs)) {
      await Deno.writeTextFile(
        `${dir}/bin/${name}`,
        `#!/bin/sh\necho "${name} $*" >> "$STUB_LOG"\n${body}\n`,
        { mode: 0o755 },
      );
    }
    await fn({
      dir,
      async run(script, env = {}, cwd = dir) {
        const log = `${dir}/calls.log`;
        await Deno.writeTextFile(log, "");
        const result = await new Deno.Command("sh", {
          args: ["-c", script],
          cwd,
          env: { PATH: `${dir}/bin:/usr/bin:/bin`, STUB_LOG: log, ...env },
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        return {
          code: result.code,
          output: decode(result.stdout) + decode(result.stderr),
          calls: (await Deno.readTextFile(log)).split("\n").filter(Boolean),
        };
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// What `rpm -q gpg-pubkey --qf '%{VERSION} %{SUMMARY}\n'` prints: rpm 4 names a key by its short
// id, rpm 6 by its fingerprint; the builder's rpmdb may hold other Fedora keys too.
const FEDORA_43 = "Fedora (43) <fedora-43-primary@fedoraproject.org> public key";
const PUBKEYS_RPM4 = `105ef944 Fedora (42) <fedora-42-primary@fedoraproject.org> public key\n` +
  `31645531 ${FEDORA_43}\n`;
const PUBKEYS_RPM6 = `c6e7f081cf80e13146676e88829b606631645531 ${FEDORA_43}\n`;

Deno.test("kmod: kernel-devel comes from the repositories, else from Koji after its signature verifies", async (t) => {
  const run = runsIn("kmod").find((r) => r.args.includes("kojipkgs.fedoraproject.org"));
  assert.ok(run, "no kmod RUN downloads from Koji");
  const stubs = {
    dnf:
      '[ "$1" = repoquery ] && [ -n "${STUB_IN_REPO:-}" ] && echo "kernel-devel-$KERNEL_VERSION"; exit 0',
    curl:
      'while [ $# -gt 0 ]; do [ "$1" = --output ] && echo rpm > "$2"; shift; done; exit "${STUB_CURL_EXIT:-0}"',
    rpm: 'printf "%s" "$STUB_PUBKEYS"',
    rpmkeys: 'case "$*" in *--checksig*) exit "${STUB_CHECKSIG_EXIT:-0}";; esac',
  };
  await sandbox(stubs, async ({ dir, run: sh }) => {
    const script = shellOf(run).replaceAll("/tmp/kernel-devel.rpm", `${dir}/kernel-devel.rpm`);
    const env = { KERNEL_VERSION: KERNEL, FEDORA_VERSION: "43", STUB_PUBKEYS: PUBKEYS_RPM4 };
    // Koji's unsigned build output is …/<arch>/…; the copy signed with a key is data/signed/<id>/
    const koji =
      "https://kojipkgs.fedoraproject.org/packages/kernel/6.17.7/300.fc43/data/signed/31645531/x86_64/kernel-devel-6.17.7-300.fc43.x86_64.rpm";

    await t.step("in a repository: dnf installs it, nothing is downloaded", async () => {
      const ran = await sh(script, { ...env, STUB_IN_REPO: "1" });
      assert.equal(ran.code, 0, ran.output);
      assert.match(
        ran.output,
        /kernel-devel-6\.17\.7-300\.fc43\.x86_64: from the Fedora repositories/,
      );
      assert.ok(!ran.calls.some((c) => c.startsWith("curl")), ran.calls.join("\n"));
      assert.match(
        ran.calls.at(-1)!,
        /^dnf install .* kernel-devel-6\.17\.7-300\.fc43\.x86_64 kernel-rpm-macros$/,
      );
    });

    for (const [rpm, pubkeys] of [["rpm 4", PUBKEYS_RPM4], ["rpm 6", PUBKEYS_RPM6]]) {
      await t.step(
        `in no repository (${rpm}): import the key, its id, the signed copy, the check, the install`,
        async () => {
          const ran = await sh(script, { ...env, STUB_PUBKEYS: pubkeys! });
          assert.equal(ran.code, 0, ran.output);
          assert.match(ran.output, new RegExp(`from Koji, ${koji.replaceAll(".", "\\.")}`));
          assert.match(ran.output, /signature verified against the Fedora 43 key 31645531/);
          const order = ran.calls.map((c) => c.split(" ").slice(0, 2).join(" "));
          assert.deepEqual(order, [
            "dnf repoquery",
            "rpmkeys --import",
            "rpm -q",
            "curl --fail",
            "rpmkeys --checksig",
            "dnf install",
          ]);
          assert.equal(
            ran.calls[1],
            "rpmkeys --import /etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-43-primary",
          );
          assert.ok(ran.calls[3]!.endsWith(` ${koji}`), ran.calls[3]);
          assert.match(ran.calls[4]!, /--define _pkgverify_level signature .*kernel-devel\.rpm$/);
          assert.match(ran.calls[5]!, /kernel-devel\.rpm kernel-rpm-macros$/);
        },
      );
    }

    await t.step("no imported key of this Fedora release: stops before the download", async () => {
      const ran = await sh(script, { ...env, FEDORA_VERSION: "44" });
      assert.notEqual(ran.code, 0);
      assert.match(
        ran.output,
        /error: no key id for \/etc\/pki\/rpm-gpg\/RPM-GPG-KEY-fedora-44-primary/,
      );
      assert.ok(!ran.calls.some((c) => c.startsWith("curl")), ran.calls.join("\n"));
    });

    await t.step("no signed copy on Koji yet: one error naming the URL", async () => {
      const ran = await sh(script, { ...env, STUB_CURL_EXIT: "22" });
      assert.notEqual(ran.code, 0);
      assert.match(
        ran.output,
        /error: Koji has no copy of kernel-devel-6\.17\.7-300\.fc43\.x86_64 signed with the Fedora 43 key 31645531 \(not signed yet\?\): https:\/\/kojipkgs\..*\/data\/signed\/31645531\//,
      );
      assert.ok(!ran.calls.some((c) => c.startsWith("rpmkeys --checksig")), ran.calls.join("\n"));
    });

    await t.step("a signature that does not verify stops before the install", async () => {
      const ran = await sh(script, { ...env, STUB_CHECKSIG_EXIT: "1" });
      assert.notEqual(ran.code, 0);
      assert.match(ran.output, /error: the signature of https:\/\/kojipkgs\..* does not verify/);
      assert.ok(!ran.calls.some((c) => c.startsWith("dnf install")), ran.calls.join("\n"));
    });

    await t.step("a malformed kernel version never reaches the URL", async () => {
      for (
        const bad of ["6.17.7-300.fc43/../x.x86_64", "6.17.7-300.fc43.x86_64;id", "6.x-1.x86_64"]
      ) {
        const ran = await sh(script, { ...env, KERNEL_VERSION: bad });
        assert.notEqual(ran.code, 0, bad);
        assert.match(ran.output, /error: kernel (?:version|release|arch) part/, bad);
        assert.ok(!ran.calls.some((c) => c.startsWith("curl")), `${bad}: ${ran.calls}`);
      }
    });
  });
});

Deno.test("kmod: the signing RUN creates certs/, checks SIGNING_CERT_SHA256 and deletes the key", async (t) => {
  const run = runsIn("kmod").find((r) => r.args.includes("id=signing_key"));
  assert.ok(run, "no kmod RUN mounts the signing key");
  const stubs = {
    make:
      'echo "certs at make time: $(ls "$KERNEL_DIR/certs" 2>/dev/null | tr \'\\n\' \' \')" >> "$STUB_LOG"; touch kmod-zfs-1.rpm',
    configure: "",
  };
  await sandbox(stubs, async ({ dir, run: sh }) => {
    const script = shellOf(run).replaceAll("/run/secrets/", `${dir}/secrets/`)
      .replaceAll("/usr/src/kernels/", `${dir}/kernels/`).replaceAll(" /out", ` ${dir}/out`);
    const kernelDir = `${dir}/kernels/${KERNEL}`;
    const env = (sha: string) => ({
      KERNEL_VERSION: KERNEL,
      SIGNING_CERT_SHA256: sha,
      KERNEL_DIR: kernelDir,
    });
    await Deno.mkdir(`${dir}/src`);
    await Deno.rename(`${dir}/bin/configure`, `${dir}/src/configure`);
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const certSha = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(cert))
      .then((d) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    const reset = async (secrets: boolean) => {
      for (const path of [`${dir}/kernels`, `${dir}/out`, `${dir}/secrets`]) {
        await Deno.remove(path, { recursive: true }).catch(() => {});
      }
      await Deno.mkdir(kernelDir, { recursive: true }); // kernel-devel has no certs/ folder
      await Deno.mkdir(`${dir}/secrets`);
      if (secrets) {
        await Deno.writeTextFile(`${dir}/secrets/signing_key`, "KEY");
        await Deno.writeTextFile(`${dir}/secrets/signing_cert`, cert);
      }
    };

    await t.step(
      "signed: certs/ is created, the key is there for make and gone after",
      async () => {
        await reset(true);
        const ran = await sh(script, env(certSha), `${dir}/src`);
        assert.equal(ran.code, 0, ran.output);
        assert.match(
          ran.output,
          new RegExp(`signing the modules with the certificate of sha256 ${certSha}`),
        );
        assert.ok(
          ran.calls.includes("certs at make time: signing_key.pem signing_key.x509 "),
          ran.calls.join("\n"),
        );
        assert.deepEqual([...Deno.readDirSync(`${kernelDir}/certs`)].map((e) => e.name), [
          "signing_key.x509",
        ]);
        assert.equal(Deno.readTextFileSync(`${dir}/out/signing_cert.x509`), cert);
      },
    );
    await t.step("signed with a SIGNING_CERT_SHA256 of another certificate: refused", async () => {
      await reset(true);
      const ran = await sh(script, env("unsigned"), `${dir}/src`);
      assert.notEqual(ran.code, 0);
      assert.match(
        ran.output,
        /error: the signing certificate's sha256 is [0-9a-f]{64}, SIGNING_CERT_SHA256 is unsigned/,
      );
      assert.ok(!ran.calls.some((c) => c.startsWith("make")));
    });
    await t.step(
      "unsigned: no certs/, and a certificate sha256 without secrets is refused",
      async () => {
        await reset(false);
        const unsigned = await sh(script, env("unsigned"), `${dir}/src`);
        assert.equal(unsigned.code, 0, unsigned.output);
        assert.match(unsigned.output, /building unsigned modules/);
        assert.ok(unsigned.calls.includes("certs at make time: "), unsigned.calls.join("\n"));
        await reset(false);
        const missing = await sh(script, env(certSha), `${dir}/src`);
        assert.notEqual(missing.code, 0);
        assert.match(
          missing.output,
          /SIGNING_CERT_SHA256 is [0-9a-f]{64} but the signing secrets are missing/,
        );
      },
    );
  });
});

Deno.test("verify: the zfs RPM check is not satisfied by zfs-*.src.rpm", async () => {
  const run = runsIn("verify").find((r) => r.args.includes("for name in zfs "));
  const loop = /for name in zfs .*?fail "expected RPM \$name was not built: \$\(ls\)"; \s*done;/
    .exec(run?.args ?? "")?.[0];
  assert.ok(loop, "the verify stage has no `for name in zfs … done;` loop");
  const others = [
    "libnvpair3-2.4.2-1.fc43.x86_64.rpm",
    "libuutil3-2.4.2-1.fc43.x86_64.rpm",
    "libzfs7-2.4.2-1.fc43.x86_64.rpm",
    "libzpool7-2.4.2-1.fc43.x86_64.rpm",
    "zfs-dracut-2.4.2-1.fc43.noarch.rpm",
    `kmod-zfs-devel-2.4.2-1.fc43.x86_64.rpm`,
  ];
  await sandbox({}, async ({ dir, run: sh }) => {
    const script = `set -eu; fail() { echo "error: $*" >&2; exit 1; }; ${loop}`;
    for (const name of [...others, "zfs-2.4.2-1.src.rpm"]) {
      await Deno.writeTextFile(`${dir}/${name}`, "");
    }
    const srcOnly = await sh(script);
    assert.notEqual(srcOnly.code, 0);
    assert.match(srcOnly.output, /error: expected RPM zfs was not built/);
    await Deno.writeTextFile(`${dir}/zfs-2.4.2-1.fc43.x86_64.rpm`, "");
    const built = await sh(script);
    assert.equal(built.code, 0, built.output);
  });
});

Deno.test("verify: install-zfs.sh lands at the image root with the kernel and release baked in", async () => {
  const run = runsIn("verify").find((r) => r.args.includes("/layout/install-zfs.sh"));
  const bake = /sed [^;]*\/tmp\/install-zfs\.sh > \/layout\/install-zfs\.sh;.*?fi;/.exec(
    run?.args ?? "",
  )?.[0];
  assert.ok(bake, "the verify stage does not bake install-zfs.sh into /layout");
  assert.match(CONTAINERFILE, /^COPY install-zfs\.sh \/tmp\/install-zfs\.sh$/m);
  await sandbox({}, async ({ dir, run: sh }) => {
    await Deno.mkdir(`${dir}/layout`);
    const script = `set -eu; fail() { echo "error: $*" >&2; exit 1; }; ${
      bake.replaceAll("/tmp/install-zfs.sh", `${ROOT}install-zfs.sh`).replaceAll(
        "/layout/",
        `${dir}/layout/`,
      )
    }`;
    const ran = await sh(script, { KERNEL_VERSION: KERNEL, ZFS_TAG: "zfs-2.4.2" });
    assert.equal(ran.code, 0, ran.output);
    const baked = await Deno.readTextFile(`${dir}/layout/install-zfs.sh`);
    assert.match(baked, new RegExp(`^kernel_version='${KERNEL.replaceAll(".", "\\.")}'$`, "m"));
    assert.match(baked, /^zfs_tag='zfs-2\.4\.2'$/m);
    assert.equal((await Deno.stat(`${dir}/layout/install-zfs.sh`)).mode! & 0o777, 0o755);
  });
});
