/**
 * Copies a directory tree with everything a container image cares about: regular files
 * through `Deno.copyFile` (copy_file_range, so reflinks on filesystems that have them),
 * hard links kept as hard links within the copy, symlinks, fifos and device nodes, modes
 * incl. setuid/setgid/sticky, owners (when running as root, e.g. in the user namespace),
 * xattrs, and access and modification times (to the millisecond, which is what Deno
 * reports), directories' last.
 *
 * @module
 */
import * as libc from "../libc.ts";
import * as exact from "./exact.ts";
import { hasRawBytes } from "./raw_name.ts";

/** Options of {@linkcode copyTree}. */
export interface CopyTreeOptions {
  /** Copy owners with lchown(2). Default: when running as uid 0. Failures are ignored
   * (an id that is not mapped in the user namespace, or not permitted). */
  sameOwner?: boolean;
  /** Called with one line for each node that could not be copied (device nodes when not
   * permitted, sockets). */
  onWarning?: (message: string) => void;
  /** Files copied at once; default 8. */
  concurrency?: number;
}

const S_IFMT = 0o170000;
const SMALL_FILE = 64 * 1024;

/** Copies the tree `src` into the directory `dst` (which is created if it does not exist). */
export async function copyTree(
  src: string,
  dst: string,
  options: CopyTreeOptions = {},
): Promise<void> {
  const copier = new Copier({
    sameOwner: options.sameOwner ?? Deno.uid() === 0,
    onWarning: options.onWarning ?? (() => {}),
    concurrency: options.concurrency ?? 8,
  });
  const info = await Deno.lstat(src);
  try {
    await Deno.mkdir(dst, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  await copier.dir(src, dst);
  copier.meta(src, dst, info);
}

class Copier {
  /** The copy of each multiply linked inode (`dev:ino`), once it is made. */
  readonly #links = new Map<string, Promise<string>>();

  constructor(readonly options: Required<CopyTreeOptions>) {}

  /** Copies the contents of `src` into the existing directory `dst`. */
  async dir(src: string, dst: string): Promise<void> {
    const names = await exact.readDirNames(src);
    names.sort();
    const files: Array<() => Promise<void>> = [];
    for (const name of names) {
      const s = `${src}/${name}`;
      const d = `${dst}/${name}`;
      const info = exact.lstat(s);
      if (info.isDirectory) {
        exact.mkdir(d, 0o700);
        await this.dir(s, d);
        this.meta(s, d, info);
      } else {
        files.push(() => this.#node(s, d, info));
      }
    }
    // Regular files (the slow part) a few at a time; the rest is cheap.
    let next = 0;
    const worker = async () => {
      while (next < files.length) await files[next++]();
    };
    await Promise.all(
      Array.from({ length: Math.min(this.options.concurrency, files.length) }, worker),
    );
  }

  async #node(src: string, dst: string, info: Deno.FileInfo): Promise<void> {
    if ((info.nlink ?? 1) > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) {
        exact.link(await first, dst);
        return;
      }
      let resolve!: (path: string) => void;
      let reject!: (e: unknown) => void;
      const made = new Promise<string>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      made.catch(() => {});
      this.#links.set(key, made);
      try {
        if (await this.#create(src, dst, info)) this.meta(src, dst, info);
        resolve(dst);
      } catch (e) {
        reject(e);
        throw e;
      }
      return;
    }
    if (await this.#create(src, dst, info)) this.meta(src, dst, info);
  }

  /** Creates the node; false if it was skipped. */
  async #create(src: string, dst: string, info: Deno.FileInfo): Promise<boolean> {
    if (info.isFile) {
      // Small files synchronously: an async operation costs more than copying them.
      if (hasRawBytes(src) || hasRawBytes(dst)) await exact.copyFile(src, dst);
      else if (info.size < SMALL_FILE) Deno.copyFileSync(src, dst);
      else await Deno.copyFile(src, dst);
      return true;
    }
    if (info.isSymlink) {
      exact.symlink(await exact.readLinkAsync(src), dst);
      return true;
    }
    const mode = info.mode ?? 0;
    if (info.isFifo) {
      libc.mkfifo(dst, 0o600);
      return true;
    }
    if (info.isCharDevice || info.isBlockDevice) {
      try {
        libc.mknod(dst, (mode & S_IFMT) | 0o600, BigInt(info.rdev ?? 0));
        return true;
      } catch (e) {
        this.options.onWarning(
          `Skipped device ${src} (${libc.major(info.rdev ?? 0)}:${libc.minor(info.rdev ?? 0)}): ${
            (e as Error).message
          }`,
        );
        return false;
      }
    }
    this.options.onWarning(`Skipped socket ${src}: sockets are not copied`);
    return false;
  }

  /** Owner, mode, xattrs and times of `dst` from `src`, in that order (chown clears setuid). */
  meta(src: string, dst: string, info: Deno.FileInfo): void {
    if (this.options.sameOwner) {
      try {
        libc.lchown(dst, info.uid ?? 0, info.gid ?? 0);
      } catch (e) {
        // Not mapped in this user namespace, or not permitted: owners stay the caller's.
        if (!libc.isErrno(e, "EPERM", "EINVAL")) throw e;
      }
    }
    if (!info.isSymlink) exact.chmod(dst, (info.mode ?? 0) & 0o7777);
    copyXattrs(src, dst);
    const atime = info.atime ?? info.mtime ?? new Date(0);
    const mtime = info.mtime ?? new Date(0);
    if (info.isSymlink) libc.lutimes(dst, atime, mtime);
    else exact.utime(dst, atime, mtime);
  }
}

function copyXattrs(src: string, dst: string): void {
  let names: string[];
  try {
    names = libc.llistxattr(src);
  } catch (e) {
    if (libc.isErrno(e, "EOPNOTSUPP", "ENOSYS")) return;
    throw e;
  }
  for (const name of names) {
    try {
      const value = libc.lgetxattr(src, name);
      if (value !== null) libc.lsetxattr(dst, name, value);
    } catch (e) {
      // trusted.* and security.* may be off limits unprivileged: they are not ours to copy.
      if (!libc.isErrno(e, "EPERM", "EACCES", "EOPNOTSUPP", "ENOTSUP")) throw e;
    }
  }
}
