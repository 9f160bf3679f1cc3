import assert from "node:assert/strict";
import { commitmetaUrl, fetchCommitmeta, kernelFromCommitmeta } from "../lib/coreos.ts";
import { RemoteError } from "../lib/errors.ts";
import { commitmeta, FCOS43, FCOS43_KERNEL } from "./helpers/fcos_fixtures.ts";
import { withServer } from "./helpers/server.ts";

Deno.test("kernelFromCommitmeta() reads the kernel entry of rpmostree.rpmdb.pkglist", () => {
  assert.equal(kernelFromCommitmeta(commitmeta(FCOS43)), FCOS43_KERNEL);
});

Deno.test("kernelFromCommitmeta() prefers ostree.linux when the build has it", () => {
  const meta = { ...commitmeta(FCOS43), "ostree.linux": "6.18.1-100.fc43.x86_64" };
  assert.equal(kernelFromCommitmeta(meta), "6.18.1-100.fc43.x86_64");
});

Deno.test("kernelFromCommitmeta() finds nothing in a build without a kernel package", () => {
  assert.equal(
    kernelFromCommitmeta({ "rpmostree.rpmdb.pkglist": [["bash", "0", "5", "1", "x"]] }),
    undefined,
  );
  assert.equal(kernelFromCommitmeta(null), undefined);
  // kernel-core is not the kernel entry, and a malformed one is not trusted
  assert.equal(
    kernelFromCommitmeta({ "rpmostree.rpmdb.pkglist": [["kernel", "0", "6;x", "1", "x86_64"]] }),
    undefined,
  );
});

Deno.test("commitmetaUrl() builds the documented path and refuses malformed parts", () => {
  assert.equal(
    commitmetaUrl("stable", "43.20251110.3.1", "x86_64", "http://m"),
    "http://m/stable/builds/43.20251110.3.1/x86_64/commitmeta.json",
  );
  assert.equal(commitmetaUrl("../x", "43.20251110.3.1", "x86_64", "http://m"), undefined);
  assert.equal(commitmetaUrl("stable", "43", "x86_64", "http://m"), undefined);
});

Deno.test("fetchCommitmeta() treats 404 as no such build and 5xx as a failure", async () => {
  await withServer(
    (request) =>
      new URL(request.url).pathname === "/gone"
        ? new Response("", { status: 404 })
        : new Response("", { status: 503 }),
    async (server) => {
      assert.deepEqual(await fetchCommitmeta(`${server.url}/gone`), { status: 404 });
      await assert.rejects(
        fetchCommitmeta(`${server.url}/down`, { retries: 1, backoffMs: 1 }),
        (e) => e instanceof RemoteError && e.status === 503 && e.message.includes("/down"),
      );
    },
  );
});
