// A podman storage of its own (graph and run root in a temp folder) for a test whose builds use
// the layer cache: on podman 4.3 another test's `podman rmi` in the shared storage can remove a
// layer while a cached build looks it up ("checking if cached image exists from a previous
// build: getting top layer info: layer not known", exit 125).

export interface IsolatedStorage {
  /** For every podman (or task running podman) of the test: env, or podmanArgs in-process. */
  env: { CONTAINERS_STORAGE_CONF: string };
  /** The same storage as podman's global flags, to put before the subcommand. */
  podmanArgs: string[];
  /** Removes its containers and images, unmounts what is left, and deletes the folder. */
  cleanup(): Promise<void>;
}

/** The mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    // mountinfo escapes space, tab, newline and backslash as octal
    .map((path) => path.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function isolatedStorage(): Promise<IsolatedStorage> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "podman-storage-" }));
  const conf = `${dir}/storage.conf`;
  await Deno.writeTextFile(
    conf,
    `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`,
  );
  const env = { CONTAINERS_STORAGE_CONF: conf };
  const podman = (...args: string[]) =>
    new Deno.Command("podman", { args, env, stdout: "null", stderr: "null" }).output();
  return {
    env,
    podmanArgs: [
      "--storage-driver",
      "overlay",
      "--root",
      `${dir}/graph`,
      "--runroot",
      `${dir}/run`,
    ],
    async cleanup() {
      // Not `podman system reset`: it also deletes the shared tmp dir (/run/libpod) and networks.
      await podman("rm", "--all", "--force");
      await podman("rmi", "--all", "--force");
      for (const path of mountsUnder(dir)) {
        await new Deno.Command("umount", { args: [path], stdout: "null", stderr: "null" }).output();
      }
      const left = mountsUnder(dir);
      if (left.length) throw new Error(`still mounted after cleanup: ${left.join(", ")}`);
      await Deno.remove(dir, { recursive: true });
    },
  };
}
