/**
 * Mount stubs: the runtime creates the files and directories its mounts need
 * (`/etc/resolv.conf`, `/etc/hosts`, `/proc`, a bind target...) in the root filesystem.
 * Like BuildKit's `MountStubsCleaner`, img notes which were missing before the step and
 * removes them afterwards, when they are still empty, restoring their parent's times, so
 * that they do not end up in the step's layer.
 *
 * @module
 */
import { rootPath as resolveInRoot } from "../root_path.ts";

/** A path the runtime may create, and the times of its parent directory. */
export interface Stub {
  /** The host path of the first missing component. */
  path: string;
  /** The host path of its parent directory. */
  parent: string;
  /** The parent's access time before the step. */
  atime: Date | null;
  /** The parent's modification time before the step. */
  mtime: Date | null;
}

/** Returns the stubs that mounting on `destinations` inside `root` would create. */
export function findStubs(root: string, destinations: string[]): Stub[] {
  const stubs = new Map<string, Stub>();
  for (const dest of destinations) {
    const parts = dest.split("/").filter((p) => p !== "" && p !== ".");
    for (let i = 1; i <= parts.length; i++) {
      const path = resolveInRoot(root, "/" + parts.slice(0, i).join("/"));
      if (!path.startsWith(root)) break;
      let exists = true;
      try {
        Deno.lstatSync(path);
      } catch {
        exists = false;
      }
      if (exists) continue;
      if (!stubs.has(path)) {
        const parent = path.slice(0, path.lastIndexOf("/")) || "/";
        let atime: Date | null = null;
        let mtime: Date | null = null;
        try {
          const st = Deno.statSync(parent);
          atime = st.atime;
          mtime = st.mtime;
        } catch {
          // the parent is itself missing: another stub covers it
        }
        stubs.set(path, { path, parent, atime, mtime });
      }
      break;
    }
  }
  return [...stubs.values()];
}

/** Removes the stubs that are still empty, deepest first, and restores their parents' times. */
export function removeStubs(stubs: Stub[]): void {
  for (const stub of [...stubs].sort((a, b) => b.path.length - a.path.length)) {
    if (!removeIfEmpty(stub.path)) continue;
    if (stub.atime && stub.mtime) {
      try {
        Deno.utimeSync(stub.parent, stub.atime, stub.mtime);
      } catch {
        // best effort
      }
    }
  }
}

/** Removes `path` if it is an empty file, or a directory holding only empty stubs. */
function removeIfEmpty(path: string): boolean {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch {
    return false;
  }
  try {
    if (st.isDirectory) {
      for (const entry of Deno.readDirSync(path)) {
        if (!removeIfEmpty(`${path}/${entry.name}`)) return false;
      }
    } else if (!st.isFile || st.size !== 0) {
      return false;
    }
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}
