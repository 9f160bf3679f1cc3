// lib/registry/registry_push.ts against the real registry (docker-registry) behind a token-guarded front
// like ghcr.io's: writes need a token with `push` scope, asked for after the 401 challenge; a
// registry that grants only pull, denies the write (ghcr.io's 403 DENIED), sends the upload
// elsewhere or names another digest is refused in one line, and nothing goes to another host.
import assert from "node:assert/strict";
import { CheckError } from "../../lib/core/errors.ts";
import { parseImageRef, readManifest } from "../../lib/registry/registry.ts";
import { pushBlob, pushManifest } from "../../lib/registry/registry_push.ts";
import { OCI_MANIFEST_TYPE, sha256Digest, signatureManifest } from "../../lib/signing/sigstore.ts";
import { startRegistry } from "../helpers/registry.ts";
import { type TestServer, withServer } from "../helpers/server.ts";
import { integrationTest } from "../helpers/tools.ts";

type FrontMode = "ok" | "pull-only" | "denied" | "foreign-location" | "other-digest";

interface Front {
  host: string;
  /** The scope of each token request. */
  scopes: string[];
  /** Requests the other host (the "foreign" upload location) received. */
  foreign: TestServer;
}

/** A front for `upstream` that asks for Bearer tokens and grants the scope asked for. */
async function withFront(
  upstream: string,
  mode: FrontMode,
  action: (front: Front) => Promise<void>,
): Promise<void> {
  const state: Front = { host: "", scopes: [], foreign: undefined as unknown as TestServer };
  await withServer(
    () => new Response("not here", { status: 500 }),
    (foreign) =>
      withServer(async (request, server) => {
        const url = new URL(request.url);
        if (url.pathname === "/token") {
          const scope = url.searchParams.get("scope") ?? "";
          state.scopes.push(scope);
          const granted = mode === "pull-only" ? "pull" : scope.split(":").pop()!;
          return Response.json({ token: `granted.${granted.replace(",", ".")}` });
        }
        const name = /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1] ?? "";
        const write = !["GET", "HEAD"].includes(request.method);
        const token = request.headers.get("authorization") ?? "";
        const allowed = write
          ? /^Bearer granted\.pull\.push$/.test(token)
          : /^Bearer granted/.test(token);
        if (write && allowed && mode === "denied") {
          // ghcr.io's answer to a token whose package grants the workflow no write access
          return Response.json({
            errors: [{ code: "DENIED", message: "permission_denied: write_package" }],
          }, { status: 403 });
        }
        if (!allowed) {
          return Response.json({ errors: [{ code: "UNAUTHORIZED" }] }, {
            status: 401,
            headers: {
              "www-authenticate":
                `Bearer realm="${server.url}/token",service="test",scope="repository:${name}:${
                  write ? "pull,push" : "pull"
                }"`,
            },
          });
        }
        const response = await fetch(`http://${upstream}${url.pathname}${url.search}`, {
          method: request.method,
          headers: { "content-type": request.headers.get("content-type") ?? "" },
          body: write ? await request.arrayBuffer() : undefined,
          redirect: "manual",
        });
        const headers = new Headers(response.headers);
        const location = headers.get("location");
        if (location) {
          const target = mode === "foreign-location" ? foreign.url : server.url;
          headers.set("location", location.replace(`http://${upstream}`, target));
        }
        if (mode === "other-digest" && headers.has("docker-content-digest")) {
          headers.set("docker-content-digest", `sha256:${"e".repeat(64)}`);
        }
        return new Response(response.body, { status: response.status, headers });
      }, async (server) => {
        state.host = `127.0.0.1:${server.port}`;
        state.foreign = foreign;
        await action(state);
      }),
  );
}

integrationTest(
  "pushBlob() and pushManifest() write with a push-scoped token, and refuse what is wrong",
  ["docker-registry"],
  async (t) => {
    const registry = await startRegistry();
    try {
      const payload = new TextEncoder().encode('{"hello":"registry"}');
      const { config, manifest } = await signatureManifest([{
        mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
        size: payload.length,
        digest: await sha256Digest(payload),
      }]);
      const pushAll = async (repo: string) => {
        const image = parseImageRef(repo, false);
        await pushBlob(image, payload);
        await pushBlob(image, config);
        return await pushManifest(image, "sha256-test.sig", manifest, OCI_MANIFEST_TYPE);
      };

      await t.step("through a token front: written, with pull,push scope", async () => {
        await withFront(registry.host, "ok", async (front) => {
          const digest = await pushAll(`${front.host}/owner/kmods`);
          assert.equal(digest, await sha256Digest(manifest));
          assert.ok(front.scopes.length >= 1);
          assert.ok(
            front.scopes.every((s) => s === "repository:owner/kmods:pull,push"),
            front.scopes.join(),
          );
          const read = await readManifest(`${registry.host}/owner/kmods`, "sha256-test.sig");
          assert.equal(read.digest, digest);
          // A blob already there is not uploaded again.
          const before = front.scopes.length;
          await pushBlob(parseImageRef(`${front.host}/owner/kmods`, false), payload);
          assert.equal(front.scopes.length, before, "the cached token was reused");
        });
      });

      await t.step("a token without push: one line, nothing written", async () => {
        await withFront(registry.host, "pull-only", async (front) => {
          const error = await pushAll(`${front.host}/owner/readonly`).then(
            () => undefined,
            (e) => e,
          );
          assert.ok(error instanceof CheckError, String(error));
          assert.match(error.message, /^Cannot write to the registry \(GitHub's registry needs/);
          assert.equal(error.message.split("\n").length, 1);
          await assert.rejects(
            () => readManifest(`${registry.host}/owner/readonly`, "sha256-test.sig"),
            /HTTP 404/,
          );
        });
      });

      await t.step(
        "a write the registry denies (403 DENIED): one line, nothing written",
        async () => {
          await withFront(registry.host, "denied", async (front) => {
            const error = await pushAll(`${front.host}/owner/denied`).then(
              () => undefined,
              (e) => e,
            );
            assert.ok(error instanceof CheckError, String(error));
            assert.match(error.message, /^Cannot write to the registry \(GitHub's registry needs/);
            assert.match(error.message, /\(HTTP 403\)$/);
            assert.equal(error.message.split("\n").length, 1);
            await assert.rejects(
              () => readManifest(`${registry.host}/owner/denied`, "sha256-test.sig"),
              /HTTP 404/,
            );
          });
        },
      );

      await t.step(
        "an upload location on another host: refused, no request sent there",
        async () => {
          await withFront(registry.host, "foreign-location", async (front) => {
            await assert.rejects(
              () => pushBlob(parseImageRef(`${front.host}/owner/moved`, false), payload),
              /Refusing an upload location outside 127\.0\.0\.1:/,
            );
            assert.equal(front.foreign.requests.length, 0);
          });
        },
      );

      await t.step("a registry answering another digest: refused", async () => {
        await withFront(registry.host, "other-digest", async (front) => {
          await assert.rejects(
            () => pushAll(`${front.host}/owner/liar`),
            /The registry stored sha256:e{64}, not sha256:/,
          );
        });
      });
    } finally {
      await registry.stop();
    }
  },
);
