// build/*.sh, the scripts the Containerfile's kmod and verify stages run, run here with sh
// against stub dnf/curl/rpm/rpmkeys that answer each case and record their calls (and the real
// rpmspec on specs shaped like OpenZFS 2.4 and master).
import assert from "node:assert/strict";
import { parseContainerfile } from "../lib/build/containerfile.ts";
import { masterRpms } from "./helpers/master_rpms.ts";
import { sandbox } from "./helpers/stub_sandbox.ts";
import { integrationTest } from "./helpers/tools.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const KERNEL = "6.17.7-300.fc43.x86_64";
const KERNEL_DEVEL = `${ROOT}build/kernel-devel.sh`;
const EXPECTED_RPMS = `${ROOT}build/expected-rpms.sh`;
const CONTAINERFILE = await Deno.readTextFile(`${ROOT}Containerfile`);

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

// ---- build/kernel-devel.sh ----------------------------------------------------------------

// dnf answers `repoquery` for the repository named by STUB_WHERE: `enabled` (no --repo option),
// `updates-testing` or `fedora-coreos-pool` (--repo=…); anything else finds nothing.
const DNF = `case "$1" in
  repoquery)
    where=enabled; last=""
    for arg in "$@"; do case "$arg" in --repo=*) where=\${arg#--repo=} ;; esac; last=$arg; done
    [ "$where" = "\${STUB_WHERE:-}" ] && echo "\${last%%-[0-9]*}-0:\${last#kernel-devel-}"
    exit 0 ;;
esac
exit 0`;

// What the key listings print. `rpmkeys --list` (rpm >= 4.20): `<fingerprint> <user id> public
// key`; rpm 4.18 has no --list and exits 1. `rpm -q gpg-pubkey --qf '%{VERSION} %{SUMMARY}\n'`:
// the short id before rpm 6, the fingerprint since.
const FEDORA_43 = "Fedora (43) <fedora-43-primary@fedoraproject.org> public key";
const FEDORA_42 = "Fedora (42) <fedora-42-primary@fedoraproject.org> public key";
const LIST_RPM6 = `c6e7f081cf80e13146676e88829b606631645531 ${FEDORA_43}\n` +
  `b0f4950458f3c5ab1b1b7ee5bfa9ec10105ef944 ${FEDORA_42}\n`;
const PUBKEYS_RPM4 = `105ef944 ${FEDORA_42}\n31645531 ${FEDORA_43}\n`;

const KERNEL_DEVEL_STUBS = {
  dnf: DNF,
  curl:
    'while [ $# -gt 0 ]; do [ "$1" = --output ] && echo rpm > "$2"; shift; done; exit "${STUB_CURL_EXIT:-0}"',
  rpm: 'printf "%s" "${STUB_PUBKEYS:-}"',
  rpmkeys: `case "$*" in
  *--checksig*) exit "\${STUB_CHECKSIG_EXIT:-0}" ;;
  --list) [ -n "\${STUB_LIST:-}" ] || { echo "rpmkeys: --list: unknown option" >&2; exit 1; }
          printf "%s" "$STUB_LIST" ;;
esac`,
};

const KOJI =
  "https://kojipkgs.fedoraproject.org/packages/kernel/6.17.7/300.fc43/data/signed/31645531/x86_64/kernel-devel-6.17.7-300.fc43.x86_64.rpm";

/** The first two words of each recorded call. */
function commands(calls: string[]): string[] {
  return calls.map((c) => c.split(" ").slice(0, 2).join(" "));
}

Deno.test("kernel-devel.sh looks in the repositories, updates-testing, coreos-pool, then Koji", async (t) => {
  await sandbox(KERNEL_DEVEL_STUBS, async ({ run }) => {
    const sh = (env: Record<string, string>, args = [KERNEL, "43"]) =>
      run(`sh ${KERNEL_DEVEL} ${args.join(" ")}`, { PUBKEYS: "", ...env });
    const install = (options: string) =>
      `dnf install -y --setopt=keepcache=1 --setopt=install_weak_deps=False ${options}` +
      `kernel-devel-${KERNEL} kernel-rpm-macros`;

    await t.step(
      "found in the enabled repositories: installed from there, nothing else asked",
      async () => {
        const ran = await sh({ STUB_WHERE: "enabled" });
        assert.equal(ran.code, 0, ran.output);
        assert.equal(ran.output, `kernel-devel-${KERNEL}: from the enabled Fedora repositories\n`);
        assert.deepEqual(ran.calls, [`dnf repoquery --quiet kernel-devel-${KERNEL}`, install("")]);
      },
    );

    await t.step("only in updates-testing: installed with updates-testing enabled", async () => {
      const ran = await sh({ STUB_WHERE: "updates-testing" });
      assert.equal(ran.code, 0, ran.output);
      assert.equal(ran.output, `kernel-devel-${KERNEL}: from updates-testing\n`);
      assert.deepEqual(ran.calls, [
        `dnf repoquery --quiet kernel-devel-${KERNEL}`,
        `dnf repoquery --quiet --repo=updates-testing kernel-devel-${KERNEL}`,
        install("--enablerepo=updates-testing "),
      ]);
    });

    await t.step("only in coreos-pool: installed with fedora-coreos-pool enabled", async () => {
      const ran = await sh({ STUB_WHERE: "fedora-coreos-pool" });
      assert.equal(ran.code, 0, ran.output);
      assert.equal(ran.output, `kernel-devel-${KERNEL}: from coreos-pool\n`);
      assert.deepEqual(ran.calls.slice(2), [
        `dnf repoquery --quiet --repo=fedora-coreos-pool kernel-devel-${KERNEL}`,
        install("--enablerepo=fedora-coreos-pool "),
      ]);
      assert.ok(!ran.calls.some((c) => /^(?:curl|rpmkeys)/.test(c)), ran.calls.join("\n"));
    });

    await t.step(
      "only on Koji (rpm 6): key id from rpmkeys --list, checked, then installed",
      async () => {
        const ran = await sh({ STUB_WHERE: "koji", STUB_LIST: LIST_RPM6 });
        assert.equal(ran.code, 0, ran.output);
        assert.deepEqual(commands(ran.calls), [
          "dnf repoquery",
          "dnf repoquery",
          "dnf repoquery",
          "rpmkeys --import",
          "rpmkeys --list",
          "curl --fail",
          "rpmkeys --checksig",
          "dnf install",
        ]);
        assert.equal(
          ran.calls[3],
          "rpmkeys --import /etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-43-primary",
        );
        assert.ok(ran.calls[5]!.endsWith(` ${KOJI}`), ran.calls[5]);
        assert.match(
          ran.calls[6]!,
          /--define _pkgverify_level signature \S+kernel-devel-\S+\.rpm$/,
        );
        assert.match(
          ran.calls[7]!,
          /\/kernel-devel-6\.17\.7-300\.fc43\.x86_64\.rpm kernel-rpm-macros$/,
        );
        assert.match(
          ran.output,
          new RegExp(`with key 31645531 \\(rpmkeys --list\\) from Koji, ${escape(KOJI)}`),
        );
        assert.match(
          ran.output,
          /^kernel-devel-6\.17\.7-300\.fc43\.x86_64: from Koji, signature verified against the Fedora 43 key 31645531$/m,
        );
      },
    );

    await t.step("only on Koji (rpm 4.18, no --list): key id from rpm -q gpg-pubkey", async () => {
      const ran = await sh({ STUB_WHERE: "koji", STUB_PUBKEYS: PUBKEYS_RPM4 });
      assert.equal(ran.code, 0, ran.output);
      assert.ok(
        // (the stub's echo turns the format's \\n into a line break)
        ran.calls.includes("rpm -q gpg-pubkey --qf %{VERSION} %{SUMMARY}"),
        ran.calls.join("\n"),
      );
      assert.match(ran.output, /with key 31645531 \(rpm -q gpg-pubkey\) from Koji/);
      assert.ok(ran.calls.some((c) => c.endsWith(` ${KOJI}`)), ran.calls.join("\n"));
    });

    await t.step("rpmkeys --list without this release's key falls back to rpm -q", async () => {
      const ran = await sh({
        STUB_WHERE: "koji",
        STUB_LIST: `b0f4950458f3c5ab1b1b7ee5bfa9ec10105ef944 ${FEDORA_42}\n`,
        STUB_PUBKEYS: PUBKEYS_RPM4,
      });
      assert.equal(ran.code, 0, ran.output);
      assert.match(ran.output, /key 31645531 \(rpm -q gpg-pubkey\)/);
    });

    await t.step("nowhere: one error line naming all four places, nothing installed", async () => {
      const ran = await sh({ STUB_WHERE: "none", STUB_LIST: LIST_RPM6, STUB_CURL_EXIT: "22" });
      assert.equal(ran.code, 1, ran.output);
      const errors = ran.output.split("\n").filter((line) => line.startsWith("error:"));
      assert.equal(errors.length, 1, ran.output);
      assert.match(
        errors[0]!,
        new RegExp(
          "^error: kernel-devel-6\\.17\\.7-300\\.fc43\\.x86_64 is nowhere Fedora CoreOS gets " +
            "kernels: not in the enabled Fedora repositories, not in updates-testing, not in " +
            "coreos-pool, and Koji has no copy signed with the Fedora 43 key 31645531 " +
            `\\(not signed yet, or pruned\\): ${escape(KOJI)}$`,
        ),
      );
      assert.ok(!ran.calls.some((c) => /^(?:rpmkeys --checksig|dnf install)/.test(c)));
    });

    await t.step("no key of this Fedora release anywhere: stops before the download", async () => {
      const ran = await sh({ STUB_WHERE: "koji", STUB_LIST: LIST_RPM6 }, [KERNEL, "44"]);
      assert.equal(ran.code, 1, ran.output);
      assert.match(
        ran.output,
        /^error: no key id for \/etc\/pki\/rpm-gpg\/RPM-GPG-KEY-fedora-44-primary/m,
      );
      assert.ok(!ran.calls.some((c) => c.startsWith("curl")), ran.calls.join("\n"));
    });

    await t.step("a Koji copy whose signature does not verify is never installed", async () => {
      const ran = await sh({ STUB_WHERE: "koji", STUB_LIST: LIST_RPM6, STUB_CHECKSIG_EXIT: "1" });
      assert.equal(ran.code, 1, ran.output);
      assert.match(ran.output, /^error: the signature of https:\/\/kojipkgs\.\S+ does not verify/m);
      assert.ok(!ran.calls.some((c) => c.startsWith("dnf install")), ran.calls.join("\n"));
    });

    await t.step("a malformed kernel or Fedora version never reaches dnf or a URL", async () => {
      for (
        const args of [
          ["'6.17.7-300.fc43/../x.x86_64'", "43"],
          ["'6.17.7-300.fc43.x86_64;id'", "43"],
          ["6.x-1.x86_64", "43"],
          [KERNEL, "43x"],
        ]
      ) {
        const ran = await sh({ STUB_WHERE: "enabled" }, args);
        assert.equal(ran.code, 1, `${args}: ${ran.output}`);
        assert.match(ran.output, /^error: (?:kernel (?:version|release|arch) part|Fedora version)/);
        assert.deepEqual(ran.calls, [], args.join(" "));
      }
      const usage = await sh({}, [KERNEL]);
      assert.equal(usage.code, 2, usage.output);
      assert.match(usage.output, /^usage: sh kernel-devel\.sh <kernel version> <fedora version>$/m);
    });
  });
});

Deno.test("build/fedora-coreos-pool.repo is FCOS's pool repository, kernel-devel only, signatures checked", async () => {
  const text = await Deno.readTextFile(`${ROOT}build/fedora-coreos-pool.repo`);
  const sections = [...text.matchAll(/^\[([^\]]+)\]$/gm)].map((m) => m[1]);
  assert.deepEqual(sections, ["fedora-coreos-pool"]);
  const options = Object.fromEntries(
    [...text.matchAll(/^([a-z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]),
  );
  assert.equal(
    options.baseurl,
    "https://kojipkgs.fedoraproject.org/repos-dist/coreos-pool/latest/$basearch/",
  );
  assert.equal(options.gpgcheck, "1");
  assert.equal(options.enabled, "0", "only build/kernel-devel.sh enables it, and only for itself");
  assert.equal(options.includepkgs, "kernel-devel*");
  // the script asks for the repository by this id, and the kmod stage installs both
  const script = await Deno.readTextFile(KERNEL_DEVEL);
  assert.match(script, /--repo=fedora-coreos-pool;? /);
  assert.match(
    CONTAINERFILE,
    /^COPY build\/fedora-coreos-pool\.repo \/etc\/yum\.repos\.d\/fedora-coreos-pool\.repo$/m,
  );
});

Deno.test("the kmod stage runs build/kernel-devel.sh with the kernel and Fedora version", () => {
  let stage: string | undefined;
  const kmod = parseContainerfile(CONTAINERFILE).filter((i) => {
    if (i.keyword === "FROM") stage = i.from?.stage;
    return stage === "kmod" && i.keyword !== "FROM";
  });
  const copy = kmod.findIndex((i) => i.args === "build/kernel-devel.sh /tmp/kernel-devel.sh");
  const run = kmod.findIndex((i) =>
    i.keyword === "RUN" &&
    i.args.endsWith('sh /tmp/kernel-devel.sh "${KERNEL_VERSION}" "${FEDORA_VERSION}"')
  );
  assert.ok(copy >= 0 && run > copy, `COPY at ${copy}, RUN at ${run}`);
});

integrationTest("kernel-devel.sh is shellcheck-clean as POSIX sh", ["shellcheck"], async () => {
  for (const script of [KERNEL_DEVEL, EXPECTED_RPMS]) {
    const ran = await new Deno.Command("shellcheck", {
      args: ["--shell=sh", "--severity=style", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(ran.code, 0, new TextDecoder().decode(ran.stdout));
  }
});

// ---- build/expected-rpms.sh -----------------------------------------------------------------

const SPECS = `${ROOT}tests/fixtures/specs`;
// What `make rpm-utils` passes to rpmbuild on Fedora ($(RPM_DEFINE_COMMON) $(RPM_DEFINE_UTIL)).
const RPM_OPTIONS = [
  '--define "_without_debug 1" --define "_without_debuginfo 1" --define "_without_asan 1"',
  '--define "_without_ubsan 1" --define "_initconfdir /etc/sysconfig"',
  '--define "_dracutdir /usr/lib/dracut" --define "_udevdir /usr/lib/udev"',
  "--with systemd --without pam",
  '--define "__use_python /usr/bin/python3" --define "__use_python_pkg_version 3"',
].join(" ");

const MASTER_RPMS = masterRpms(KERNEL);

integrationTest(
  "expected-rpms.sh expects the RPMs the spec names: master without libuutil3, 2.4 with it",
  ["rpmspec"],
  async (t) => {
    await sandbox({}, async ({ dir, run }) => {
      await Deno.writeTextFile(`${dir}/options`, RPM_OPTIONS);
      const check = async (spec: string, rpms: string[], options = `${dir}/options`) => {
        await Deno.remove(`${dir}/out`, { recursive: true }).catch(() => {});
        await Deno.mkdir(`${dir}/out`);
        for (const rpm of rpms) await Deno.writeTextFile(`${dir}/out/${rpm}`, "");
        return await run(`sh ${EXPECTED_RPMS} ${dir}/out ${KERNEL} ${SPECS}/${spec} ${options}`);
      };
      const without = (...names: string[]) =>
        MASTER_RPMS.filter((rpm) => !names.some((name) => rpm.startsWith(`${name}-2`)));

      await t.step(
        "a spec like master's: built without libuutil3, and that is complete",
        async () => {
          const ran = await check("zfs-master.spec", MASTER_RPMS);
          assert.equal(ran.code, 0, ran.output);
          assert.equal(
            ran.output,
            "all expected RPMs were built (from zfs-master.spec and the kmod build): zfs " +
              "libzpool7 libnvpair3 libzfs7 libzfs7-devel zfs-test zfs-dracut python3-pyzfs " +
              `kmod-zfs-${KERNEL} kmod-zfs-devel\n`,
          );
        },
      );
      await t.step("a spec like 2.4's: the same RPMs miss libuutil3", async () => {
        const ran = await check("zfs-2.4.spec", MASTER_RPMS);
        assert.equal(ran.code, 1, ran.output);
        assert.match(ran.output, /^error: expected RPMs were not built: libuutil3 \(in /m);
        const complete = await check("zfs-2.4.spec", [
          ...MASTER_RPMS,
          "libuutil3-2.4.99-1.fc43.x86_64.rpm",
        ]);
        assert.equal(complete.code, 0, complete.output);
        assert.match(complete.output, / libuutil3 /);
      });
      await t.step("every RPM the spec names must be there, the kmod ones too", async () => {
        for (const name of ["zfs", "zfs-dracut", "libzpool7", "python3-pyzfs", "zfs-test"]) {
          const ran = await check("zfs-master.spec", without(name));
          assert.equal(ran.code, 1, `${name}: ${ran.output}`);
          assert.match(ran.output, new RegExp(`not built: ${escape(name)} \\(in `), name);
        }
        const kmod = await check("zfs-master.spec", without(`kmod-zfs-${KERNEL}`));
        assert.match(kmod.output, new RegExp(`not built: kmod-zfs-${escape(KERNEL)} `));
        const devel = await check("zfs-master.spec", without("kmod-zfs-devel"));
        assert.match(devel.output, /not built: kmod-zfs-devel /);
      });
      await t.step(
        "zfs-*.src.rpm does not stand in for zfs, nor another kernel's kmod",
        async () => {
          const src = await check("zfs-master.spec", without("zfs"));
          assert.match(src.output, /not built: zfs \(in /);
          const other = await check("zfs-master.spec", [
            ...without(`kmod-zfs-${KERNEL}`),
            "kmod-zfs-6.17.8-300.fc43.x86_64-2.4.99-1.fc43.x86_64.rpm",
          ]);
          assert.equal(other.code, 1, other.output);
        },
      );
      await t.step(
        "the options make used count: --without pyzfs expects no python3-pyzfs",
        async () => {
          await Deno.writeTextFile(`${dir}/no-pyzfs`, `${RPM_OPTIONS} --without pyzfs`);
          const ran = await check("zfs-master.spec", without("python3-pyzfs"), `${dir}/no-pyzfs`);
          assert.equal(ran.code, 0, ran.output);
          assert.doesNotMatch(ran.output, /pyzfs/);
        },
      );
      await t.step("a spec that no longer names zfs-dracut fails, naming it", async () => {
        const spec = (await Deno.readTextFile(`${SPECS}/zfs-master.spec`))
          .replace(/^%files dracut\n/m, "%if 0\n%files dracut\n%endif\n");
        await Deno.writeTextFile(`${dir}/changed.spec`, spec);
        await Deno.mkdir(`${dir}/out`, { recursive: true });
        const ran = await run(`sh ${EXPECTED_RPMS} ${dir}/out ${KERNEL} ${dir}/changed.spec`);
        assert.equal(ran.code, 1, ran.output);
        assert.match(ran.output, /names no zfs-dracut package: the build changed/);
      });
      await t.step(
        "options that are not plain words are refused, bad arguments exit 2",
        async () => {
          await Deno.writeTextFile(`${dir}/evil`, '--define "x $(touch pwned)"');
          const ran = await check("zfs-master.spec", MASTER_RPMS, `${dir}/evil`);
          assert.equal(ran.code, 1, ran.output);
          assert.match(ran.output, /^error: rpmbuild options in .* hold shell syntax/m);
          assert.equal(await Deno.stat(`${dir}/pwned`).catch(() => undefined), undefined);
          const usage = await run(`sh ${EXPECTED_RPMS} ${dir}/out`);
          assert.equal(usage.code, 2, usage.output);
        },
      );
    });
  },
);
