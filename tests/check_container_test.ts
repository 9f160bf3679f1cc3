// check-container against a private package (like a new ghcr.io package): it asks as the
// workflow's own identity, and a registry that still refuses is "cannot read", never
// "not published".
import assert from "node:assert/strict";
import { withAuthProxy } from "./helpers/auth_proxy.ts";
import { withFakeRegistry } from "./helpers/fake_registry.ts";
import { matrixWithPublishImage } from "./helpers/matrix_file.ts";
import { runTaskFile } from "./helpers/run_task.ts";

const TOKEN = "ghs_workflow_token";

async function withPrivatePackage(
  action: (context: { ref: string; missing: string; env: Record<string, string> }) => Promise<void>,
) {
  await withFakeRegistry("honest", (registry) =>
    withAuthProxy(registry.host, async (proxy) => {
      const name = `${proxy.host}/${registry.repository}`;
      const matrix = await matrixWithPublishImage(name);
      const output = await Deno.makeTempFile();
      try {
        await action({
          ref: `${name}:stable`,
          missing: `${name}:zfs-2.4.2_kernel-6.17.7-300.fc43.x86_64`,
          env: { MATRIX_FILE: matrix, GITHUB_OUTPUT: output },
        });
      } finally {
        await Deno.remove(matrix);
        await Deno.remove(output);
      }
    }, { private: { password: TOKEN } }));
}

Deno.test("check-container reads a private package with GH_TOKEN and GITHUB_ACTOR", async () => {
  await withPrivatePackage(async ({ ref, missing, env }) => {
    const auth = { ...env, GH_TOKEN: TOKEN, GITHUB_ACTOR: "octocat" };
    const found = await runTaskFile("check_container.ts", ["--tag", ref, "--github-output"], auth);
    assert.equal(found.code, 0, found.stderr);
    assert.equal(found.stdout.trim(), `exists: ${ref}`);
    assert.match(await Deno.readTextFile(env.GITHUB_OUTPUT!), /^container-exists=true$/m);

    const asJson = await runTaskFile("check_container.ts", ["--tag", ref, "--json"], auth);
    assert.equal(asJson.code, 0, asJson.stderr);
    const result = JSON.parse(asJson.stdout);
    assert.equal(result["container-exists"], true);
    assert.match(result.digest, /^sha256:[0-9a-f]{64}$/);

    const absent = await runTaskFile("check_container.ts", ["--tag", missing], auth);
    assert.equal(absent.code, 1, absent.stderr);
    assert.equal(absent.stdout.trim(), `not found: ${missing}`);
  });
});

Deno.test("check-container says it cannot read a private package without the right token", async (t) => {
  await withPrivatePackage(async ({ ref, env }) => {
    for (
      const [what, extra] of [
        ["no token", { GH_TOKEN: "", GITHUB_TOKEN: "" }],
        ["a wrong token", { GH_TOKEN: "ghs_wrong" }],
      ] as const
    ) {
      await t.step(what, async () => {
        const result = await runTaskFile(
          "check_container.ts",
          ["--tag", ref, "--github-output"],
          { ...env, ...extra },
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^error: Cannot read the registry \(a private package needs/);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.equal(result.stdout, "", "no exists/not found verdict");
        assert.doesNotMatch(await Deno.readTextFile(env.GITHUB_OUTPUT!), /container-exists/);
      });
    }
  });
});
