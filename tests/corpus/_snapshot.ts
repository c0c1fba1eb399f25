/**
 * Prints the file tree of a directory as JSON {@linkcode FileEntry} values (owners as this
 * process sees them). The corpus test runs it inside a user namespace with the same mapping
 * img uses (`unshare --map-auto --map-root-user`), so owners read as the image's ids and
 * files of any owner or mode can be read.
 *
 * ```sh
 * deno run -A tests/corpus/_snapshot.ts DIR
 * ```
 *
 * @module
 */
import { snapshotTree } from "../_util/tree.ts";
import type { FileEntry } from "./_corpus.ts";

/** The tree under `dir` as {@linkcode FileEntry} values, sorted by path. */
export function snapshotEntries(dir: string): FileEntry[] {
  const out: FileEntry[] = [];
  for (const [path, n] of snapshotTree(dir)) {
    if (n.type === "socket") throw new Error(`unexpected socket ${path}`);
    const e: FileEntry = {
      path,
      type: n.type,
      mode: "0" + n.mode.toString(8).padStart(3, "0"),
      uid: n.uid,
      gid: n.gid,
    };
    if (n.type === "symlink") e.mode = "0777";
    if (n.sha256) e.sha256 = n.sha256;
    if (n.linkTarget !== undefined) e.target = n.linkTarget;
    out.push(e);
  }
  return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

if (import.meta.main) {
  console.log(JSON.stringify(snapshotEntries(Deno.args[0])));
}
