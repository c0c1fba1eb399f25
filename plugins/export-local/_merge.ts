/**
 * Moving a finished tree into a directory that already exists, as BuildKit's local exporter
 * writes into one: entries of the new tree replace those of the same name (a file by a
 * rename over it, so each file is replaced atomically), directories present on both sides
 * are merged and take the new tree's mode and times, and other entries are left alone.
 * Symlinks in the target are never followed: a symlink in the way is replaced.
 *
 * @module
 */
import { exact, libc } from "@img/core/sys";

/** Options of {@linkcode mergeInto}. */
export interface MergeOptions {
  /** Give merged directories the new tree's owners too. */
  sameOwner: boolean;
}

/** `lstat`, or `undefined` when `path` does not exist. */
async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await exact.lstatAsync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Moves every entry of `src` into `dst` (both directories on one filesystem); `src` ends empty.
 * Names are kept byte for byte, also those that are not UTF-8.
 */
export async function mergeInto(src: string, dst: string, options: MergeOptions): Promise<void> {
  const names = await exact.readDirNames(src);
  names.sort();
  for (const name of names) {
    const s = `${src}/${name}`;
    const d = `${dst}/${name}`;
    const sInfo = await exact.lstatAsync(s);
    const dInfo = await lstatOrUndefined(d);
    if (dInfo?.isDirectory && sInfo.isDirectory) {
      await mergeInto(s, d, options);
      if (options.sameOwner) {
        try {
          exact.lchown(d, sInfo.uid ?? 0, sInfo.gid ?? 0);
        } catch (e) {
          if (!libc.isErrno(e, "EPERM", "EINVAL")) throw e;
        }
      }
      exact.chmod(d, (sInfo.mode ?? 0o755) & 0o7777);
      exact.utime(d, sInfo.atime ?? new Date(), sInfo.mtime ?? new Date());
      continue;
    }
    // A directory in the way is removed first; anything else is replaced by the rename.
    if (dInfo?.isDirectory) exact.removeAll(d);
    exact.rename(s, d);
  }
}
