// What `build` and `test-build` need to get as far as podman, all local: a real registry
// (docker-registry) holding a FROM scratch target image labelled like an FCOS one, the FCOS
// builds server as it answers for a build it does not have (403 XML), matrix.yaml pointing at
// them, and a podman storage of its own.
import { ACCESS_DENIED_XML } from "./release_index.ts";
import { isolatedStorage } from "./isolated_storage.ts";
import { buildAndPush, type LocalRegistry, startRegistry } from "./registry.ts";

export const KERNEL = "6.15.4-200.fc42.x86_64";

export interface BuildEnvironment {
  registry: LocalRegistry;
  /** a folder for the test (the tasks' cwd: build-logs/ goes here) */
  dir: string;
  /** the target image (tag in the local registry) */
  target: string;
  /** the environment of every task and podman call: matrix, FCOS server, storage */
  env: Record<string, string>;
  /** the arguments that make build discover the local target and take zfs-2.4.2 */
  common: string[];
  /** the buildah working containers in the storage */
  workingContainers(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts the registry, the FCOS stand-in and the storage; `stop()` removes all of it.
 * `editMatrix` changes the test's matrix.yaml further (after it points at the local registry).
 */
export async function startBuildEnvironment(
  options: { editMatrix?: (text: string) => string } = {},
): Promise<BuildEnvironment> {
  const root = new URL("../../", import.meta.url);
  const registry = await startRegistry();
  const storage = await isolatedStorage();
  const fcos = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(ACCESS_DENIED_XML, { status: 403 }),
  );
  const dir = await Deno.makeTempDir({ prefix: "kmods-run-" });
  const target = `${registry.host}/fcos:stable`;
  await buildAndPush(
    target,
    [
      "FROM scratch",
      `LABEL ostree.linux=${KERNEL} org.opencontainers.image.version=42.20250623.3.0 com.coreos.stream=stable`,
      "COPY os-release /usr/lib/os-release",
    ].join("\n"),
    { "os-release": 'NAME="Fedora Linux"\nVERSION_ID=42\n' },
  );
  const matrix = (await Deno.readTextFile(new URL("matrix.yaml", root)))
    .replace(/^( {2}image: ).*fedora-zfs-kmods\n/m, `$1${registry.host}/kmods\n`)
    .replaceAll("quay.io/fedora/fedora-coreos:stable", target);
  await Deno.writeTextFile(`${dir}/matrix.yaml`, options.editMatrix?.(matrix) ?? matrix);
  const env = {
    MATRIX_FILE: `${dir}/matrix.yaml`,
    FCOS_BUILDS_URL: `http://127.0.0.1:${fcos.addr.port}`,
    BUILDAH_LAYERS: "false",
    HTTP_BACKOFF_MS: "1",
    ...storage.env,
  };
  return {
    registry,
    dir,
    target,
    env,
    common: ["--zfs", "zfs-2.4.2", "--image", target, "--isolation", "chroot"],
    async workingContainers() {
      const output = await new Deno.Command("podman", {
        args: ["ps", "--all", "--external", "--quiet"],
        env,
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
    },
    async stop() {
      await registry.stop();
      await fcos.shutdown();
      await Deno.remove(dir, { recursive: true });
      await storage.cleanup();
    },
  };
}
