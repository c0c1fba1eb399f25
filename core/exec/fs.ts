/**
 * Small file-system helpers both executors use on their state and bundle directories.
 *
 * @module
 */

/** Reports whether `path` exists (without following a final symlink). */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes `path` (not recursively); true when it is gone, false when it could not be removed. */
export function removeQuietly(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}
