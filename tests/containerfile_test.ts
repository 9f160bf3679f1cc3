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
  assert.deepEqual(instructions, [
    { line: 2, keyword: "ARG", args: "A" },
    { line: 4, keyword: "RUN", args: "one  two  three" },
    { line: 8, keyword: "LABEL", args: "x=1" },
  ]);
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
        "FROM source AS kmod\nARG KERNEL_VERSION\nCOPY --from=target-check /target-check.ok /tmp/target-check.ok\n",
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
