// Where a path the user typed is relative to. `deno task` runs every task from the project
// folder, so a relative path must be resolved against $INIT_CWD (where the user started
// `deno task`), else it silently lands in the project. Kept free of heavy imports: lib/matrix/matrix.ts
// needs it for MATRIX_FILE.
import { isAbsolute, resolve } from "node:path";
import { InputError } from "./errors.ts";

/**
 * A path given by the user, resolved against the directory `deno task` was started in
 * ($INIT_CWD), else the working folder (a task run with `deno run` directly).
 */
export function userPath(path: string): string {
  const initCwd = Deno.env.get("INIT_CWD");
  const base = initCwd && isAbsolute(initCwd) ? initCwd : Deno.cwd();
  return resolve(base, path);
}

/**
 * The text of a small file the user named (`what` says which: `--key`, `the plan`): a regular
 * file, checked before it is opened (a FIFO or a device would block the open or never end), of at
 * most `maxBytes`, in UTF-8. Anything else is a one-line InputError naming it.
 */
export async function readUserFile(path: string, what: string, maxBytes: number): Promise<string> {
  const fail = (why: string) => new InputError(`Cannot read ${what} ${path}: ${why}`);
  let file: Deno.FsFile;
  try {
    const resolved = userPath(path);
    if (!(await Deno.stat(resolved)).isFile) throw fail("not a regular file");
    file = await Deno.open(resolved, { read: true });
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (error instanceof Deno.errors.NotFound) throw fail("no such file");
    throw fail(error instanceof Error ? error.message.split("\n")[0]! : String(error));
  }
  try {
    // at most one byte beyond the cap, in case the file grows after the stat
    const buffer = new Uint8Array(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = await file.read(buffer.subarray(length));
      if (read === null) break;
      length += read;
    }
    if (length > maxBytes) throw fail(`larger than ${maxBytes} bytes`);
    return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (error instanceof TypeError) throw fail("not UTF-8 text");
    throw fail(error instanceof Error ? error.message.split("\n")[0]! : String(error));
  } finally {
    file.close();
  }
}
