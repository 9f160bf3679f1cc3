import assert from "node:assert/strict";
import { BUILD_ARG_NAMES } from "../../lib/build/build.ts";
import {
  checkContainerfile,
  checkCopiedScripts,
  checkLabelValues,
  CONTAINERFILE_RULES,
  parseContainerfile,
} from "../../lib/build/containerfile.ts";
import { rpmFolder } from "../../lib/build/rpms.ts";
import { masterRpms } from "../helpers/master_rpms.ts";
import { sandbox } from "../helpers/stub_sandbox.ts";
import { integrationTest } from "../helpers/tools.ts";

const CONTAINERFILE = await Deno.readTextFile(new URL("../../Containerfile", import.meta.url));

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

Deno.test("CONTAINERFILE_RULES: each rule named once and stated; problems come in table order", () => {
  const names = CONTAINERFILE_RULES.map((rule) => rule.name);
  assert.equal(new Set(names).size, names.length, names.join(", "));
  for (const rule of CONTAINERFILE_RULES) assert.ok(rule.rule.trim() !== "", rule.name);
  // A :latest early in the file (a late rule) and a stray ARG at its end (the first rule).
  const lines = CONTAINERFILE.split("\n");
  const first = lines.findIndex((line) => line.startsWith("FROM "));
  lines.splice(first + 1, 0, "RUN echo quay.io/x:latest");
  const text = `${lines.join("\n")}\nARG NOT_A_BUILD_ARG\n`;
  const argLine = text.split("\n").length - 1;
  assert.deepEqual(checkContainerfile(text), [
    `line ${argLine}: ARG NOT_A_BUILD_ARG is not passed by deno task build (BUILD_ARG_NAMES)`,
    `line ${first + 2}: floating tag :latest`,
  ]);
  assert.ok(names.indexOf("arg-declarations") < names.indexOf("no-latest"));
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
        "FROM source AS userland\n",
        "FROM source AS userland\nRUN --mount=type=bind,from=kmod,target=/k true\n",
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

Deno.test("the final stage labels the signing certificate and the kernel, each with its argument", async (t) => {
  await t.step("both are required", () => {
    assertProblem(
      mutate('      ostree.linux="${KERNEL_VERSION}" \\\n', ""),
      /lacks label ostree\.linux/,
    );
    assertProblem(
      mutate(
        '      io.github.fedora-zfs-kmods.signing-cert-sha256="${SIGNING_CERT_SHA256}" \\\n',
        "",
      ),
      /lacks label io\.github\.fedora-zfs-kmods\.signing-cert-sha256/,
    );
  });
  await t.step("a label carrying another argument is refused", () => {
    assertProblem(
      mutate('ostree.linux="${KERNEL_VERSION}"', 'ostree.linux="${KERNEL_MAJOR_MINOR}"'),
      /label ostree\.linux must be "\$\{KERNEL_VERSION\}", not \$\{KERNEL_MAJOR_MINOR\}/,
    );
    assertProblem(
      mutate(
        'signing-cert-sha256="${SIGNING_CERT_SHA256}"',
        'signing-cert-sha256="sha256:${SIGNING_CERT_SHA256}"',
      ),
      /label io\.github\.fedora-zfs-kmods\.signing-cert-sha256 must be "\$\{SIGNING_CERT_SHA256\}"/,
    );
  });
  await t.step("checkLabelValues() accepts $NAME and ${NAME}, ignores free-text labels", () => {
    const final = parseContainerfile(
      'FROM scratch\nLABEL ostree.linux=$KERNEL_VERSION org.opencontainers.image.title="x ${ZFS_TAG}"\n',
    ).slice(1);
    assert.deepEqual(checkLabelValues(final), []);
  });
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
    new URL("../fixtures/kmods.Containerfile", import.meta.url),
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

Deno.test("checkContainerfile() wants a Koji download in a RUN signature-checked before it is installed", async (t) => {
  // build/kernel-devel.sh does this (tests/build_scripts_test.ts); the rule keeps a download
  // written straight into a RUN to the same standard.
  const script = 'sh /tmp/kernel-devel.sh "${KERNEL_VERSION}" "${FEDORA_VERSION}"';
  const download =
    'url="https://kojipkgs.fedoraproject.org/packages/kernel/${KERNEL_VERSION}/k.rpm"; ' +
    'curl --fail --output /tmp/k.rpm "$url"; ';
  const check = "rpmkeys --checksig /tmp/k.rpm; ";
  const install = "dnf install -y /tmp/k.rpm kernel-rpm-macros";
  await t.step("checked, then installed: no problem", () => {
    assert.deepEqual(checkContainerfile(mutate(script, download + check + install)), []);
  });
  await t.step("no check", () => {
    assertProblem(
      mutate(script, download + install),
      /RPM downloaded from Koji is never signature-checked/,
    );
  });
  await t.step("the check after the install", () => {
    assertProblem(
      mutate(script, `${download}${install}; ${check}`),
      /RPM downloaded from Koji is installed before its signature is checked/,
    );
  });
  await t.step("rpm -i before the check", () => {
    assertProblem(
      mutate(script, `${download}rpm -i /tmp/k.rpm; ${check}${install}`),
      /installed before its signature is checked/,
    );
  });
});

Deno.test("checkContainerfile() wants each script a RUN runs copied there first, in that stage", async (t) => {
  await t.step("the kmod and verify stages copy their scripts", () => {
    assert.deepEqual(checkCopiedScripts(stagesOf(CONTAINERFILE)), []);
  });
  await t.step("a missing COPY", () => {
    assertProblem(
      mutate("COPY build/kernel-devel.sh /tmp/kernel-devel.sh\n", ""),
      /RUN runs \/tmp\/kernel-devel\.sh, which no COPY before it in this stage puts there/,
    );
  });
  await t.step("a COPY to another path, or after the RUN", () => {
    assertProblem(
      mutate(
        "build/expected-rpms.sh /tmp/expected-rpms.sh",
        "build/expected-rpms.sh /tmp/check.sh",
      ),
      /RUN runs \/tmp\/expected-rpms\.sh/,
    );
    const moved = mutate("COPY build/kernel-devel.sh /tmp/kernel-devel.sh\n", "").replace(
      "ARG SIGNING_CERT_SHA256\n",
      "ARG SIGNING_CERT_SHA256\nCOPY build/kernel-devel.sh /tmp/kernel-devel.sh\n",
    );
    assertProblem(moved, /RUN runs \/tmp\/kernel-devel\.sh/);
  });
  await t.step("a COPY into a folder counts", () => {
    const text = "FROM scratch AS a\nCOPY build/x.sh /tmp/\nRUN sh /tmp/x.sh\n";
    assert.deepEqual(checkCopiedScripts(stagesOf(text)), []);
  });
});

/** The instructions of each stage of a Containerfile text, without their FROM. */
function stagesOf(text: string) {
  const stages: { instructions: ReturnType<typeof parseContainerfile> }[] = [];
  for (const instruction of parseContainerfile(text)) {
    if (instruction.keyword === "FROM") stages.push({ instructions: [] });
    else stages.at(-1)?.instructions.push(instruction);
  }
  return stages;
}

Deno.test("the builder installs systemd (zfs.spec BuildRequires it on Fedora)", () => {
  const [install] = runsIn("builder");
  assert.match(install!.args, /\sdnf install\s[^;]*\ssystemd\s/);
});

Deno.test("the kmod stage installs kernel-devel of the exact kernel, not kernel or kernel-modules", async () => {
  const script = await Deno.readTextFile(new URL("../../build/kernel-devel.sh", import.meta.url));
  assert.doesNotMatch(
    script,
    /\bkernel-(?:modules-|core-|modules-core-)?(?:\$\{?KERNEL_VERSION|\$\{?kernel\b)/,
  );
  assert.match(script, /^package="kernel-devel-\$kernel"$/m);
  assert.match(script, /"\$@" kernel-rpm-macros$/m);
});

// ---- the RUN scripts themselves, run with sh against stub commands that record their calls -

const ROOT = new URL("../..", import.meta.url).pathname;
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

/** Runs openssl; its stdout. */
async function openssl(args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

/** A fresh self-signed certificate in `dir`: cert.pem, cert.der, key.pem; its DER's sha256. */
async function testCertificate(dir: string): Promise<string> {
  await openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=zfs test", "-days", "1"]
      .concat(["-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`]),
  );
  await openssl(["x509", "-in", `${dir}/cert.pem`, "-outform", "DER", "-out", `${dir}/cert.der`]);
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/cert.der`));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

integrationTest(
  "kmod: the signing RUN creates certs/, checks SIGNING_CERT_SHA256 (the DER's sha256) and deletes the key",
  ["openssl"],
  async (t) => {
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
      const certSha = await testCertificate(dir);
      const reset = async (cert?: string) => {
        for (const path of [`${dir}/kernels`, `${dir}/out`, `${dir}/secrets`]) {
          await Deno.remove(path, { recursive: true }).catch(() => {});
        }
        await Deno.mkdir(kernelDir, { recursive: true }); // kernel-devel has no certs/ folder
        await Deno.mkdir(`${dir}/secrets`);
        if (cert) {
          await Deno.writeTextFile(`${dir}/secrets/signing_key`, "KEY");
          await Deno.copyFile(cert, `${dir}/secrets/signing_cert`);
        }
      };

      for (const form of ["pem", "der"]) {
        await t.step(
          `signed (${form}): certs/ is created, the key is there for make and gone after`,
          async () => {
            await reset(`${dir}/cert.${form}`);
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
            assert.deepEqual(
              Deno.readFileSync(`${dir}/out/signing_cert.x509`),
              Deno.readFileSync(`${dir}/cert.${form}`),
            );
          },
        );
      }
      await t.step("a signing_cert that is no certificate: refused before make", async () => {
        await reset(`${dir}/key.pem`);
        const ran = await sh(script, env(certSha), `${dir}/src`);
        assert.notEqual(ran.code, 0);
        assert.match(ran.output, /error: the signing certificate is not an x509 certificate/);
        assert.ok(!ran.calls.some((c) => c.startsWith("make")));
      });
      await t.step(
        "signed with a SIGNING_CERT_SHA256 of another certificate: refused",
        async () => {
          await reset(`${dir}/cert.pem`);
          const ran = await sh(script, env("unsigned"), `${dir}/src`);
          assert.notEqual(ran.code, 0);
          assert.match(
            ran.output,
            /error: the signing certificate's sha256 is [0-9a-f]{64}, SIGNING_CERT_SHA256 is unsigned/,
          );
          assert.ok(!ran.calls.some((c) => c.startsWith("make")));
        },
      );
      await t.step(
        "unsigned: no certs/, and a certificate sha256 without secrets is refused",
        async () => {
          await reset();
          const unsigned = await sh(script, env("unsigned"), `${dir}/src`);
          assert.equal(unsigned.code, 0, unsigned.output);
          assert.match(unsigned.output, /building unsigned modules/);
          assert.ok(unsigned.calls.includes("certs at make time: "), unsigned.calls.join("\n"));
          await reset();
          const missing = await sh(script, env(certSha), `${dir}/src`);
          assert.notEqual(missing.code, 0);
          assert.match(
            missing.output,
            /SIGNING_CERT_SHA256 is [0-9a-f]{64} but the signing secrets are missing/,
          );
        },
      );
    });
  },
);

integrationTest(
  "verify: checks the RPMs against the spec, ships a signed build's certificate in DER, sorts the layout",
  ["openssl", "rpmspec"],
  async (t) => {
    const run = runsIn("verify").find((r) => r.args.includes("/tmp/expected-rpms.sh"));
    assert.ok(run, "the verify stage does not run build/expected-rpms.sh");
    assert.match(CONTAINERFILE, /^COPY build\/expected-rpms\.sh \/tmp\/expected-rpms\.sh$/m);
    assert.match(CONTAINERFILE, /^COPY --from=userland \/spec\/ \/spec\/$/m);
    const stubs = {
      rpm2cpio: "",
      cpio: "mkdir -p extra && : > extra/zfs.ko",
      modinfo: `case "$2" in
  vermagic) echo "$STUB_KERNEL SMP preempt mod_unload" ;;
  signer) echo "\${STUB_SIGNER:-}" ;;
  sig_key) echo "\${STUB_SIG_KEY:-}" ;;
esac`,
    };
    await sandbox(stubs, async ({ dir, run: sh }) => {
      const script = shellOf(run).replaceAll(
        "/tmp/expected-rpms.sh",
        `${ROOT}build/expected-rpms.sh`,
      )
        .replaceAll("/tmp/install-zfs.sh", `${ROOT}install-zfs.sh`)
        .replaceAll("/tmp/kmod", `${dir}/kmod`).replaceAll("/layout", `${dir}/layout`)
        .replaceAll("/spec/", `${dir}/spec/`).replaceAll(" /out", ` ${dir}/out`)
        .replaceAll('"/out/', `"${dir}/out/`);
      const certSha = await testCertificate(dir);
      const serial = new TextDecoder().decode(
        await openssl(["x509", "-in", `${dir}/cert.pem`, "-noout", "-serial"]),
      ).trim().replace("serial=", "");
      const rpms = masterRpms(KERNEL);
      const reset = async (cert?: string, drop?: string) => {
        for (const path of ["out", "kmod", "layout", "spec"]) {
          await Deno.remove(`${dir}/${path}`, { recursive: true }).catch(() => {});
        }
        await Deno.mkdir(`${dir}/out`);
        await Deno.mkdir(`${dir}/spec`);
        await Deno.copyFile(`${ROOT}tests/fixtures/specs/zfs-master.spec`, `${dir}/spec/zfs.spec`);
        await Deno.writeTextFile(`${dir}/spec/rpm-options`, "--with systemd --without pam\n");
        for (const rpm of rpms.filter((r) => r !== drop)) {
          await Deno.writeTextFile(`${dir}/out/${rpm}`, "");
        }
        if (cert) await Deno.copyFile(cert, `${dir}/out/signing_cert.x509`);
      };
      const layout = () =>
        [...Deno.readDirSync(`${dir}/layout`)].flatMap((e) =>
          e.isDirectory
            ? [...Deno.readDirSync(`${dir}/layout/${e.name}`)].map((f) => `${e.name}/${f.name}`)
            : [e.name]
        ).sort();
      const env = {
        KERNEL_VERSION: KERNEL,
        ZFS_TAG: "zfs-2.4.99",
        STUB_KERNEL: KERNEL,
        SIGNING_CERT_SHA256: "unsigned",
      };
      const signed = { ...env, SIGNING_CERT_SHA256: certSha, STUB_SIGNER: "zfs test" };

      await t.step("unsigned: no certificate in the layout; pyzfs goes to other/", async () => {
        await reset();
        const ran = await sh(script, env);
        assert.equal(ran.code, 0, ran.output);
        assert.match(
          ran.output,
          /all expected RPMs were built \(from zfs\.spec and the kmod build\)/,
        );
        assert.deepEqual(layout(), [
          "debug/zfs-debuginfo-2.4.99-1.fc43.x86_64.rpm",
          "devel/kmod-zfs-devel-2.4.99-1.fc43.x86_64.rpm",
          "devel/libzfs7-devel-2.4.99-1.fc43.x86_64.rpm",
          "install-zfs.sh",
          `kmod-zfs-${KERNEL}-2.4.99-1.fc43.x86_64.rpm`,
          "libnvpair3-2.4.99-1.fc43.x86_64.rpm",
          "libzfs7-2.4.99-1.fc43.x86_64.rpm",
          "libzpool7-2.4.99-1.fc43.x86_64.rpm",
          "other/python3-pyzfs-2.4.99-1.fc43.noarch.rpm",
          "other/zfs-dracut-2.4.99-1.fc43.noarch.rpm",
          "other/zfs-test-2.4.99-1.fc43.x86_64.rpm",
          "src/zfs-2.4.99-1.fc43.src.rpm",
          "zfs-2.4.99-1.fc43.x86_64.rpm",
        ]);
        // the same folders as lib/build/rpms.ts rpmFolder()
        for (const path of layout().filter((p) => p.endsWith(".rpm"))) {
          const slash = path.indexOf("/");
          assert.equal(rpmFolder(path.slice(slash + 1)), slash < 0 ? "/" : path.slice(0, slash));
        }
      });
      for (const [form, cert] of [["PEM", "cert.pem"], ["DER", "cert.der"]]) {
        await t.step(
          `signed (${form} secret): /signing-cert.der is the certificate in DER`,
          async () => {
            await reset(`${dir}/${cert}`);
            const ran = await sh(script, { ...signed, STUB_SIG_KEY: serial });
            assert.equal(ran.code, 0, ran.output);
            assert.deepEqual(
              await Deno.readFile(`${dir}/layout/signing-cert.der`),
              await Deno.readFile(`${dir}/cert.der`),
            );
            assert.ok(layout().includes("signing-cert.der"));
            assert.ok(!layout().some((f) => f.includes("x509")), layout().join("\n"));
          },
        );
      }
      await t.step("signed by another key: refused, no certificate shipped", async () => {
        await reset(`${dir}/cert.pem`);
        const ran = await sh(script, { ...signed, STUB_SIGNER: "other", STUB_SIG_KEY: "0BADC0DE" });
        assert.equal(ran.code, 1, ran.output);
        assert.match(ran.output, /error: zfs\.ko is signed by key 0BADC0DE \(other\)/);
        assert.equal(
          await Deno.stat(`${dir}/layout/signing-cert.der`).catch(() => undefined),
          undefined,
        );
      });
      await t.step("a label that is not the shipped certificate's sha256: refused", async () => {
        await reset(`${dir}/cert.pem`);
        const other = { ...signed, SIGNING_CERT_SHA256: "0".repeat(64), STUB_SIG_KEY: serial };
        const mismatch = await sh(script, other);
        assert.equal(mismatch.code, 1, mismatch.output);
        assert.match(
          mismatch.output,
          new RegExp(`error: /signing-cert.der has sha256 ${certSha}, the label would say 0{64}`),
        );
        await reset();
        const unsigned = await sh(script, { ...env, SIGNING_CERT_SHA256: certSha });
        assert.equal(unsigned.code, 1, unsigned.output);
        assert.match(
          unsigned.output,
          /error: no signing certificate came from the kmod stage, SIGNING_CERT_SHA256 is [0-9a-f]{64}/,
        );
      });
      await t.step("an RPM the spec names is missing: refused, naming it", async () => {
        await reset(undefined, "zfs-2.4.99-1.fc43.x86_64.rpm");
        const ran = await sh(script, env);
        assert.equal(ran.code, 1, ran.output);
        assert.match(ran.output, /error: expected RPMs were not built: zfs \(in /);
      });
    });
  },
);

integrationTest(
  "userland: keeps zfs.spec and the rpmbuild options make used, quotes intact",
  ["make"],
  async () => {
    const [run] = runsIn("userland");
    assert.ok(run?.args.includes("print-rpm-options"), "userland does not keep the rpm options");
    // make rpm-utils is stubbed; the print-rpm-options call runs the real make
    const stubs = {
      make:
        'case "$*" in *rpm-utils*) : > zfs-2.4.2-1.fc43.x86_64.rpm ;; *) exec /usr/bin/make "$@" ;; esac',
    };
    await sandbox(stubs, async ({ dir, run: sh }) => {
      await Deno.mkdir(`${dir}/src/rpm/generic`, { recursive: true });
      await Deno.writeTextFile(`${dir}/src/configure`, "#!/bin/sh\n", { mode: 0o755 });
      await Deno.copyFile(
        `${ROOT}tests/fixtures/specs/zfs-master.spec`,
        `${dir}/src/rpm/generic/zfs.spec`,
      );
      // the shape configure gives the top-level Makefile (config/zfs-build.m4, config/rpm.am)
      await Deno.writeTextFile(
        `${dir}/src/Makefile`,
        [
          "DEBUG_ZFS = _without_debug",
          "DEFINE_PYZFS = --without pyzfs",
          'RPM_DEFINE_COMMON = --define "$(DEBUG_ZFS) 1"',
          'RPM_DEFINE_UTIL =  --define "_initconfdir /etc/sysconfig" $(DEFINE_PYZFS)',
          "all:",
          "\t@echo not this one",
          "",
        ].join("\n"),
      );
      const script = shellOf(run!).replaceAll(" /out", ` ${dir}/out`)
        .replaceAll("/spec", `${dir}/spec`).replaceAll("/tmp/print.mk", `${dir}/print.mk`);
      const ran = await sh(script, {}, `${dir}/src`);
      assert.equal(ran.code, 0, ran.output);
      assert.ok((await Deno.stat(`${dir}/out/zfs-2.4.2-1.fc43.x86_64.rpm`)).isFile);
      assert.equal(
        await Deno.readTextFile(`${dir}/spec/zfs.spec`),
        await Deno.readTextFile(`${ROOT}tests/fixtures/specs/zfs-master.spec`),
      );
      const options = await Deno.readTextFile(`${dir}/spec/rpm-options`);
      assert.equal(
        options,
        '--define "_without_debug 1" --define "_initconfdir /etc/sysconfig" --without pyzfs\n',
      );
      // split the way build/expected-rpms.sh splits it
      const split = await sh(`eval "set -- $(cat ${dir}/spec/rpm-options)"; printf '<%s>' "$@"`);
      assert.equal(
        split.output,
        "<--define><_without_debug 1><--define><_initconfdir /etc/sysconfig><--without><pyzfs>",
      );
    });
  },
);

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
