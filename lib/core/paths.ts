// Where a path the user typed is relative to. `deno task` runs every task from the project
// folder, so a relative path must be resolved against $INIT_CWD (where the user started
// `deno task`), else it silently lands in the project. Kept free of heavy imports: lib/matrix/matrix.ts
// needs it for MATRIX_FILE.
import { isAbsolute, resolve } from "node:path";

/**
 * A path given by the user, resolved against the directory `deno task` was started in
 * ($INIT_CWD), else the working folder (a task run with `deno run` directly).
 */
export function userPath(path: string): string {
  const initCwd = Deno.env.get("INIT_CWD");
  const base = initCwd && isAbsolute(initCwd) ? initCwd : Deno.cwd();
  return resolve(base, path);
}
