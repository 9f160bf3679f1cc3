// Integration tests need real tools (podman, docker-registry, rpmbuild, gh, openssl).
// On a laptop without them they skip with a one-line reason; with REQUIRE_INTEGRATION=1
// (set by .ci/run) a missing tool fails the test instead, so CI always runs them all.

function onPath(tool: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${tool}`).isFile) return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** The tools of `tools` that are not on PATH. */
export function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => !onPath(tool));
}

/** Deno.test for an integration test that needs `tools`. */
export function integrationTest(
  name: string,
  tools: string[],
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const missing = missingTools(tools);
  if (missing.length === 0) {
    Deno.test({ name, fn, sanitizeResources: false, sanitizeOps: false });
  } else if (Deno.env.get("REQUIRE_INTEGRATION") === "1") {
    Deno.test(name, () => {
      throw new Error(`Required tool missing: ${missing.join(", ")} (REQUIRE_INTEGRATION=1)`);
    });
  } else {
    Deno.test({ name: `${name} (skipped: ${missing.join(", ")} not installed)`, ignore: true, fn });
  }
}

/**
 * Copies a host binary and the shared libraries ldd lists into `root`, each at its own path (the
 * binary at `as`): enough for a FROM-scratch image to run it.
 */
export async function copyWithLibraries(binary: string, root: string, as = binary): Promise<void> {
  const ldd = await new Deno.Command("ldd", { args: [binary], stdout: "piped" }).output();
  const libraries = [...new TextDecoder().decode(ldd.stdout).matchAll(/(\/\S+) \(0x/g)]
    .map((m) => m[1]!);
  for (const [file, target] of [[binary, as], ...libraries.map((l) => [l, l])]) {
    await Deno.mkdir(`${root}${target!.slice(0, target!.lastIndexOf("/"))}`, { recursive: true });
    await Deno.copyFile(await Deno.realPath(file!), `${root}${target}`);
  }
}
