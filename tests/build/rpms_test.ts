import assert from "node:assert/strict";
import { groupRpms, rpmFolder } from "../../lib/build/rpms.ts";

const K = "6.17.7-300.fc43.x86_64";

Deno.test("rpmFolder() sorts RPMs into the published layout", () => {
  const cases: [string, string][] = [
    [`kmod-zfs-${K}-2.4.2-1.fc43.x86_64.rpm`, "/"],
    ["zfs-2.4.2-1.fc43.x86_64.rpm", "/"],
    ["libzfs7-2.4.2-1.fc43.x86_64.rpm", "/"],
    // python3 is not in FCOS: pyzfs is installed only on request (install-zfs.sh --with-pyzfs)
    ["python3-pyzfs-2.4.2-1.fc43.noarch.rpm", "other"],
    ["zfs-debuginfo-2.4.2-1.fc43.x86_64.rpm", "debug"],
    ["zfs-debugsource-2.4.2-1.fc43.x86_64.rpm", "debug"],
    ["zfs-test-debuginfo-2.4.2-1.fc43.x86_64.rpm", "debug"],
    ["libzfs7-devel-2.4.2-1.fc43.x86_64.rpm", "devel"],
    [`kmod-zfs-devel-${K}-2.4.2-1.fc43.x86_64.rpm`, "devel"],
    ["kmod-zfs-devel-2.4.2-1.fc43.x86_64.rpm", "devel"],
    ["zfs-dracut-2.4.2-1.fc43.noarch.rpm", "other"],
    ["zfs-test-2.4.2-1.fc43.x86_64.rpm", "other"],
    ["zfs-2.4.2-1.fc43.src.rpm", "src"],
    ["zfs-kmod-2.4.2-1.fc43.src.rpm", "src"],
  ];
  for (const [name, folder] of cases) assert.equal(rpmFolder(name), folder, name);
});

Deno.test("groupRpms() groups by folder in layout order and ignores other files", () => {
  assert.deepEqual(
    groupRpms([
      "src/zfs-2.4.2-1.src.rpm",
      "./zfs-2.4.2-1.x86_64.rpm",
      "/debug/zfs-debuginfo-2.4.2-1.x86_64.rpm",
      "etc/hostname",
      "custom/extra-1-1.noarch.rpm",
      "other/zfs-dracut-2.4.2-1.noarch.rpm",
      "kmod-zfs-x-2.4.2-1.x86_64.rpm",
    ]),
    [
      { folder: "/", rpms: ["kmod-zfs-x-2.4.2-1.x86_64.rpm", "zfs-2.4.2-1.x86_64.rpm"] },
      { folder: "debug", rpms: ["zfs-debuginfo-2.4.2-1.x86_64.rpm"] },
      { folder: "other", rpms: ["zfs-dracut-2.4.2-1.noarch.rpm"] },
      { folder: "src", rpms: ["zfs-2.4.2-1.src.rpm"] },
      { folder: "custom", rpms: ["extra-1-1.noarch.rpm"] },
    ],
  );
  assert.deepEqual(groupRpms(["etc/hosts"]), []);
});

Deno.test("the Containerfile's verify stage sorts RPMs exactly like rpmFolder()", async () => {
  const { parseContainerfile } = await import("../../lib/build/containerfile.ts");
  const text = await Deno.readTextFile(new URL("../../Containerfile", import.meta.url));
  const run = parseContainerfile(text).find((i) =>
    i.keyword === "RUN" && i.args.includes("mkdir -p /layout/")
  );
  const mkdir = /mkdir -p \/layout\/[^;]*;/.exec(run?.args ?? "")?.[0];
  const loop = /for rpm in \*\.rpm; do\s+case .*?esac;\s+done;/.exec(run?.args ?? "")?.[0];
  assert.ok(mkdir && loop, "the verify stage has no `mkdir -p /layout/…` and `for rpm …` sorter");
  const sorter = `${mkdir} ${loop}`;
  const dir = await Deno.makeTempDir({ prefix: "layout-" });
  try {
    const names = [
      `kmod-zfs-${K}-2.4.2-1.fc43.x86_64.rpm`,
      "zfs-2.4.2-1.fc43.x86_64.rpm",
      "zfs-debuginfo-2.4.2-1.fc43.x86_64.rpm",
      "zfs-test-debuginfo-2.4.2-1.fc43.x86_64.rpm",
      "zfs-debugsource-2.4.2-1.fc43.x86_64.rpm",
      "libzfs7-devel-2.4.2-1.fc43.x86_64.rpm",
      `kmod-zfs-devel-${K}-2.4.2-1.fc43.x86_64.rpm`,
      "zfs-dracut-2.4.2-1.fc43.noarch.rpm",
      "zfs-test-2.4.2-1.fc43.x86_64.rpm",
      "python3-pyzfs-2.4.2-1.fc43.noarch.rpm",
      "zfs-kmod-2.4.2-1.fc43.src.rpm",
    ];
    await Deno.mkdir(`${dir}/out`);
    for (const name of names) await Deno.writeTextFile(`${dir}/out/${name}`, "");
    const script = `set -eu; cd ${dir}/out; ${sorter.replaceAll("/layout", `${dir}/layout`)}`;
    const result = await new Deno.Command("sh", { args: ["-c", script] }).output();
    assert.ok(result.success, new TextDecoder().decode(result.stderr));
    for (const name of names) {
      const folder = rpmFolder(name);
      const path = `${dir}/layout/${folder === "/" ? "" : `${folder}/`}${name}`;
      assert.ok((await Deno.stat(path)).isFile, `${name} not in ${folder}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("groupRpms() handles 200,000 paths (no copying per file)", () => {
  const paths = Array.from({ length: 200_000 }, (_, i) => `debug/zfs-${i}.rpm`);
  const groups = groupRpms(paths);
  assert.equal(groups.length, 1);
  assert.equal(groups[0]!.rpms.length, 200_000);
});
