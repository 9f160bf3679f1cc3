// A real CNCF Distribution registry (Debian package docker-registry) on a random loopback
// port, with its storage in a temporary folder, plus podman helpers to fill it.
import { $ } from "zx";

export interface LocalRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts docker-registry and waits until it answers /v2/. */
export async function startRegistry(): Promise<LocalRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "registry-" });
  const port = freePort();
  const host = `127.0.0.1:${port}`;
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log: {level: error, accesslog: {disabled: true}}",
      `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
      `http: {addr: "${host}"}`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      const response = await fetch(`http://${host}/v2/`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (i === 99) throw new Error(`docker-registry did not start on ${host}`);
  }
  return {
    host,
    async stop() {
      child.kill("SIGTERM");
      await child.stderr.cancel();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Builds a `FROM scratch` image with podman (`--isolation chroot`, no container is run)
 * from a Containerfile text and files, and pushes it to `ref` (plain http).
 */
export async function buildAndPush(
  ref: string,
  containerfile: string,
  files: Record<string, string> = {},
  options: { arch?: string } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "image-" });
  try {
    await Deno.writeTextFile(`${dir}/Containerfile`, containerfile);
    for (const [path, content] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, content);
    }
    const local = `localhost/test-${crypto.randomUUID()}`;
    const arch = options.arch ? ["--arch", options.arch] : [];
    await $({
      quiet: true,
    })`podman build --isolation chroot --layers=false ${arch} -t ${local} -f ${dir}/Containerfile ${dir}`;
    await pushImage(local, ref);
    await $({ quiet: true, nothrow: true })`podman rmi ${local}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `podman push` to a local registry, tried up to three times: podman 4.3 against
 * docker-registry now and then fails a manifest upload with "digest invalid" / "blob unknown"
 * when pushes run in parallel; a second push of the same image goes through.
 */
export async function pushImage(local: string, ref: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const result = await $({
      quiet: true,
      nothrow: true,
    })`podman push --tls-verify=false ${local} ${ref}`;
    if (result.exitCode === 0) return;
    if (attempt === 3 || !/digest invalid|blob unknown/.test(result.stderr)) {
      throw new Error(`podman push ${ref} failed: ${result.stderr.trim()}`);
    }
  }
}
