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

/** A gh on PATH that logs its arguments and answers `attestation verify` like `script` says. */
async function fakeGh(dir: string, script: string): Promise<Record<string, string>> {
  await Deno.writeTextFile(`${dir}/gh`, `#!/bin/sh\necho "$@" >> "${dir}/gh.log"\n${script}\n`);
  await Deno.chmod(`${dir}/gh`, 0o755);
  return { PATH: `${dir}:/usr/bin:/bin` };
}

Deno.test("check-container --require-attestations: only gh's verdict means not attested", async (t) => {
  await withPrivatePackage(async ({ ref, env }) => {
    const dir = await Deno.makeTempDir();
    const auth = { ...env, GH_TOKEN: TOKEN, GITHUB_ACTOR: "octocat" };
    const check = async (script: string) => {
      await Deno.writeTextFile(env.GITHUB_OUTPUT!, "");
      return await runTaskFile(
        "check_container.ts",
        ["--tag", ref, "--require-attestations", "--repo", "owner/repo", "--github-output"],
        { ...auth, ...await fakeGh(dir, script) },
      );
    };
    try {
      await t.step("verified: exists", async () => {
        const result = await check("echo 'All attestations have been successfully verified!'");
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), `exists: ${ref}`);
        const name = ref.slice(0, ref.lastIndexOf(":"));
        assert.match(
          await Deno.readTextFile(`${dir}/gh.log`),
          new RegExp(
            `^attestation verify oci://${name}@sha256:[0-9a-f]{64} --repo owner/repo$`,
            "m",
          ),
        );
      });
      await t.step("none found: exists, not attested (a rebuild)", async () => {
        const result = await check(
          "echo 'Loaded digest sha256:ab for oci://x' >&2\n" +
            "echo 'Error: no attestations found for subject: sha256:ab' >&2; exit 1",
        );
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stdout.trim(), `exists, not attested: ${ref}`);
        assert.match(result.stderr, /attestation does not verify: Error: no attestations found/);
        assert.match(await Deno.readTextFile(env.GITHUB_OUTPUT!), /^container-exists=false$/m);
      });
      await t.step("signed by another workflow: exists, not attested (a rebuild)", async () => {
        const result = await check(
          "echo 'Loaded 1 attestation from GitHub API' >&2\n" +
            "echo '✗ Sigstore verification failed' >&2\n" +
            "echo 'verifying with issuer \"sigstore.dev\": failed to verify certificate identity' >&2; exit 1",
        );
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stdout.trim(), `exists, not attested: ${ref}`);
        assert.match(result.stderr, /does not verify: ✗ Sigstore verification failed$/m);
        assert.match(await Deno.readTextFile(env.GITHUB_OUTPUT!), /^container-exists=false$/m);
      });
      for (
        const [what, script, message] of [
          [
            "offline",
            "echo 'Error: failed to fetch attestations for subject: sha256:ab' >&2; exit 1",
            /gh attestation verify failed: Error: failed to fetch attestations/,
          ],
          [
            "too old",
            `echo 'unknown command "attestation" for "gh"' >&2; exit 1`,
            /unknown command "attestation" for "gh" \(gh attestation needs gh 2\.49 or newer\)$/,
          ],
          ["logged out", "exit 4", /gh is not logged in/],
          [
            "a registry refusing gh (HTTP 401 is not gh's login)",
            "echo 'Error: failed to digest artifact: GET https://ghcr.io/token: HTTP 401' >&2; exit 1",
            /verify failed: Error: failed to digest artifact: GET https:\/\/ghcr\.io\/token: HTTP 401$/,
          ],
          ["failing silently", "exit 1", /gh attestation verify failed: exit code 1/],
          [
            "no Sigstore trust root (TUF over the network)",
            "echo 'Loaded 1 attestation from GitHub API' >&2\n" +
            "echo '✗ Sigstore verification failed' >&2\n" +
            "echo 'failed to create TUF client: dial tcp: lookup tuf-repo-cdn.sigstore.dev: no such host' >&2; exit 1",
            /verify failed: failed to create TUF client: dial tcp: lookup tuf-repo-cdn\.sigstore\.dev/,
          ],
        ] as const
      ) {
        await t.step(`${what}: an error, no verdict`, async () => {
          const result = await check(script);
          assert.equal(result.code, 1, result.stderr);
          assert.equal(result.stdout, "");
          assert.match(result.stderr.trim(), /^error: Cannot verify the attestation of /);
          assert.match(result.stderr.trim(), message);
          assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
          assert.doesNotMatch(await Deno.readTextFile(env.GITHUB_OUTPUT!), /container-exists/);
        });
      }
      await t.step("gh not installed: an error, no verdict", async () => {
        await Deno.writeTextFile(env.GITHUB_OUTPUT!, "");
        const result = await runTaskFile(
          "check_container.ts",
          ["--tag", ref, "--require-attestations", "--repo", "owner/repo", "--github-output"],
          { ...auth, PATH: `${dir}/nowhere` },
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /^error: Cannot verify the attestation of .*gh is not installed/,
        );
        assert.doesNotMatch(await Deno.readTextFile(env.GITHUB_OUTPUT!), /container-exists/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
