/**
 * Helpers for snapshot directories: disk usage as `du` counts it, and removal of trees that
 * hold read-only directories (an overlay work directory, a `chmod 500` from a RUN step).
 *
 * @module
 */
import * as exact from "../fs/exact.ts";
import type { SnapshotUsage } from "../snapshotter.ts";

/**
 * Allocated bytes (`st_blocks * 512`) and inodes of a tree, each inode counted once. The walk
 * is synchronous: one async `lstat` costs a thread-pool round trip (~50 us), so a base image of
 * 4,000 files took 200 ms async and takes 20 ms this way.
 */
// deno-lint-ignore require-await
export async function treeUsage(dir: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = (path: string) => {
    const st = exact.lstat(path);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += (st.blocks ?? Math.ceil(st.size / 512)) * 512;
    }
    if (st.isDirectory) {
      for (const entry of exact.readDir(path)) visit(`${path}/${entry.name}`);
    }
  };
  visit(dir);
  return { size, inodes: seen.size };
}

/** Removes a tree, making read-only directories writable when that is what stops it. */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    removeTreeSync(path);
  }
}

/** {@linkcode removeTree}, synchronously. */
export function removeTreeSync(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  const unlock = (dir: string) => {
    try {
      Deno.chmodSync(dir, 0o700);
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) unlock(`${dir}/${e.name}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  unlock(path);
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
