// The RPM layout of a kmods image: main RPMs at `/`, then debug/, devel/, other/ (dracut, test,
// python3-pyzfs: installed only on request), src/. The Containerfile's verify stage sorts with
// the same rules as rpmFolder().
import { CheckError } from "../core/errors.ts";
import type { TaskResult } from "../cli/render.ts";

/** The folders of the published layout, in display order. */
const FOLDERS = ["/", "debug", "devel", "other", "src"] as const;
export type Folder = typeof FOLDERS[number];

/** The folder an RPM file belongs in, by its file name. */
export function rpmFolder(fileName: string): Folder {
  if (fileName.endsWith(".src.rpm")) return "src";
  if (/-debug(?:info|source)-/.test(fileName)) return "debug";
  if (/-devel-/.test(fileName)) return "devel";
  if (/^(?:zfs-(?:dracut|test)|python3-pyzfs)-/.test(fileName)) return "other";
  return "/";
}

export interface RpmGroup {
  /** `/` for the top level, else the folder name without slashes */
  folder: string;
  /** file names, sorted */
  rpms: string[];
}

/**
 * Groups RPM paths from an image (`zfs-….rpm`, `./debug/….rpm`, `/src/….rpm`) by folder:
 * the layout's folders first, in order, then any other folder; non-RPM files are ignored.
 */
export function groupRpms(paths: string[]): RpmGroup[] {
  const groups = new Map<string, string[]>();
  for (const raw of paths) {
    const path = raw.replace(/^(?:\.\/|\/)+/, "");
    if (!path.endsWith(".rpm")) continue;
    const slash = path.lastIndexOf("/");
    const folder = slash < 0 ? "/" : path.slice(0, slash);
    const name = path.slice(slash + 1);
    const group = groups.get(folder);
    if (group) group.push(name);
    else groups.set(folder, [name]);
  }
  const rank = (folder: string) => {
    const index = (FOLDERS as readonly string[]).indexOf(folder);
    return index < 0 ? FOLDERS.length : index;
  };
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([folder, rpms]) => ({ folder, rpms: rpms.sort() }));
}

/**
 * A path from an image's tar stream made relative and safe to join under a folder: leading
 * `./` and `/` dropped; undefined when a part is `..`, `.` or empty, or has a control character.
 */
export function safeArchivePath(name: string): string | undefined {
  const path = name.replace(/^(?:\.\/|\/)+/, "");
  const parts = path.split("/");
  const bad = (part: string) =>
    part === "" || part === "." || part === ".." || /[\p{Cc}]/u.test(part);
  if (path === "" || parts.some(bad)) return undefined;
  return path;
}

/** Groups as text: `folder/` headings with indented file names. */
function formatGroups(groups: RpmGroup[]): string {
  return groups.map((g) =>
    [g.folder === "/" ? "/" : `${g.folder}/`, ...g.rpms.map((r) => `  ${r}`)].join("\n")
  )
    .join("\n");
}

/** The RPMs of an image, grouped by folder; an image without RPMs is a failed check. */
export function rpmsResult(image: string, groups: RpmGroup[]): TaskResult {
  if (groups.length === 0) throw new CheckError(`No RPMs in ${image}`);
  return { values: { "kmods-image": image, groups }, lines: formatGroups(groups).split("\n") };
}
