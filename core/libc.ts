/**
 * Typed wrappers around the few libc functions that img needs and Deno does not expose:
 * mounts, device nodes, extended attributes, `pivot_root`, namespaces and symlink times.
 *
 * The library is opened with `Deno.dlopen("libc.so.6")` on first use only, one function at a
 * time (binding a function costs about 0.3 ms), so commands that never call into it pay
 * nothing (and need no `--allow-ffi`). Failures throw errors shaped like Deno's own: an
 * instance of the matching `Deno.errors` class where one exists (else `Error`), with `code`
 * (`"EPERM"`), `errno` (the number) and `syscall` set, and a message such as
 * `Operation not permitted (os error 1): mount '/mnt'`.
 *
 * @module
 */
import { decodeName, encodeName } from "./fs/raw_name.ts";

// ---------------------------------------------------------------------------
// Flag constants (Linux, identical on x86_64 and aarch64)
// ---------------------------------------------------------------------------

/** mount(2): mount read-only. */
export const MS_RDONLY = 0x1;
/** mount(2): ignore set-user-ID and set-group-ID bits. */
export const MS_NOSUID = 0x2;
/** mount(2): do not interpret device special files. */
export const MS_NODEV = 0x4;
/** mount(2): do not allow programs to be executed. */
export const MS_NOEXEC = 0x8;
/** mount(2): writes are synced at once. */
export const MS_SYNCHRONOUS = 0x10;
/** mount(2): change the flags of an existing mount. */
export const MS_REMOUNT = 0x20;
/** mount(2): do not update access times. */
export const MS_NOATIME = 0x400;
/** mount(2): do not update directory access times. */
export const MS_NODIRATIME = 0x800;
/** mount(2): create a bind mount. */
export const MS_BIND = 0x1000;
/** mount(2): move a mount. */
export const MS_MOVE = 0x2000;
/** mount(2): apply recursively (with MS_BIND or a propagation flag). */
export const MS_REC = 0x4000;
/** mount(2): suppress some kernel warnings. */
export const MS_SILENT = 0x8000;
/** mount(2): make the mount unbindable. */
export const MS_UNBINDABLE = 0x20000;
/** mount(2): make the mount private (no propagation). */
export const MS_PRIVATE = 0x40000;
/** mount(2): make the mount a slave of its peer group. */
export const MS_SLAVE = 0x80000;
/** mount(2): make the mount shared. */
export const MS_SHARED = 0x100000;
/** mount(2): update access times relative to modification times. */
export const MS_RELATIME = 0x200000;
/** mount(2): always update access times. */
export const MS_STRICTATIME = 0x1000000;

/** umount2(2): force the unmount. */
export const MNT_FORCE = 0x1;
/** umount2(2): lazy unmount: detach now, clean up when no longer busy. */
export const MNT_DETACH = 0x2;
/** umount2(2): mark the mount as expired. */
export const MNT_EXPIRE = 0x4;
/** umount2(2): do not follow a symlink as the target. */
export const UMOUNT_NOFOLLOW = 0x8;

/** unshare(2)/setns(2): new mount namespace. */
export const CLONE_NEWNS = 0x00020000;
/** unshare(2)/setns(2): new cgroup namespace. */
export const CLONE_NEWCGROUP = 0x02000000;
/** unshare(2)/setns(2): new UTS (hostname) namespace. */
export const CLONE_NEWUTS = 0x04000000;
/** unshare(2)/setns(2): new IPC namespace. */
export const CLONE_NEWIPC = 0x08000000;
/** unshare(2)/setns(2): new user namespace. */
export const CLONE_NEWUSER = 0x10000000;
/** unshare(2)/setns(2): new PID namespace. */
export const CLONE_NEWPID = 0x20000000;
/** unshare(2)/setns(2): new network namespace. */
export const CLONE_NEWNET = 0x40000000;
/** unshare(2): new time namespace. */
export const CLONE_NEWTIME = 0x00000080;

/** File type bits of a mode (`st_mode & S_IFMT`). */
export const S_IFMT = 0o170000;
/** File type: FIFO. */
export const S_IFIFO = 0o010000;
/** File type: character device. */
export const S_IFCHR = 0o020000;
/** File type: directory. */
export const S_IFDIR = 0o040000;
/** File type: block device. */
export const S_IFBLK = 0o060000;
/** File type: regular file. */
export const S_IFREG = 0o100000;
/** File type: symbolic link. */
export const S_IFLNK = 0o120000;
/** File type: socket. */
export const S_IFSOCK = 0o140000;

/** lsetxattr(2): fail if the attribute exists. */
export const XATTR_CREATE = 0x1;
/** lsetxattr(2): fail if the attribute does not exist. */
export const XATTR_REPLACE = 0x2;

/** `*at` functions: relative paths are relative to the current directory. */
export const AT_FDCWD: number = -100;
/** `*at` functions: do not follow a final symlink. */
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** utimensat(2): leave this timestamp unchanged. */
export const UTIME_OMIT = (1 << 30) - 2;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** An error thrown by a libc wrapper: carries the errno name, number and the call. */
export interface ErrnoError extends Error {
  /** The errno name, e.g. `"EPERM"`. */
  code: string;
  /** The errno number. */
  errno: number;
  /** The function that failed, e.g. `"mount"`. */
  syscall: string;
  /** The path the call was about, when there is one. */
  path?: string;
}

/** Linux errno numbers to names (asm-generic values, shared by x86_64 and aarch64). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  61: "ENODATA",
  75: "EOVERFLOW",
  95: "EOPNOTSUPP",
  110: "ETIMEDOUT",
  122: "EDQUOT",
};

/** Errno names that map onto a `Deno.errors` class, as Deno's own file APIs do. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  ENOENT: Deno.errors.NotFound,
  EPERM: Deno.errors.PermissionDenied,
  EACCES: Deno.errors.PermissionDenied,
  EEXIST: Deno.errors.AlreadyExists,
  EBUSY: Deno.errors.Busy,
  EINTR: Deno.errors.Interrupted,
  EAGAIN: Deno.errors.WouldBlock,
  ETIMEDOUT: Deno.errors.TimedOut,
  EBADF: Deno.errors.BadResource,
  ELOOP: Deno.errors.FilesystemLoop,
  EISDIR: Deno.errors.IsADirectory,
  ENOTDIR: Deno.errors.NotADirectory,
  EOPNOTSUPP: Deno.errors.NotSupported,
  ENOSYS: Deno.errors.NotSupported,
  EPIPE: Deno.errors.BrokenPipe,
};

/** The name of an errno number (`1` -> `"EPERM"`), or `"E<number>"` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/**
 * Whether `err` is an error from a libc wrapper (or a Deno API) with one of the errno names.
 *
 * @example
 * ```ts ignore
 * try { umount2("/mnt", 0); } catch (e) { if (!isErrno(e, "EINVAL", "ENOENT")) throw e; }
 * ```
 */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as Partial<ErrnoError>).code ?? "");
}

function fail(syscall: string, path?: string): never {
  const errno = lastErrno();
  const code = errnoName(errno);
  const what = path === undefined ? syscall : `${syscall} '${path}'`;
  const Class = ERROR_CLASSES[code] ?? Error;
  const err = new Class(`${strerror(errno)} (os error ${errno}): ${what}`) as ErrnoError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  throw err;
}

// ---------------------------------------------------------------------------
// The library, opened lazily
// ---------------------------------------------------------------------------

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
  },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32", optional: true },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  lsetxattr: {
    parameters: ["buffer", "buffer", "buffer", "usize", "i32"],
    result: "i32",
  },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  getuid: { parameters: [], result: "u32" },
  geteuid: { parameters: [], result: "u32" },
  getgid: { parameters: [], result: "u32" },
  getegid: { parameters: [], result: "u32" },
  // syscall(2) is variadic; integer and pointer arguments pass as fixed ones on the
  // 64-bit Linux ABIs img supports. Each use gets its own signature.
  syscall_pivot_root: { name: "syscall", parameters: ["i64", "buffer", "buffer"], result: "i64" },
  syscall_mknodat: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "u64", "u64"],
    result: "i64",
  },
  // The new mount API (Linux 5.2+): fsopen, fsconfig, fsmount, move_mount.
  syscall_fsopen: { name: "syscall", parameters: ["i64", "buffer", "u64"], result: "i64" },
  syscall_fsconfig: {
    name: "syscall",
    parameters: ["i64", "i64", "u64", "buffer", "buffer", "i64"],
    result: "i64",
  },
  syscall_fsmount: { name: "syscall", parameters: ["i64", "i64", "u64", "u64"], result: "i64" },
  syscall_move_mount: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "i64", "buffer", "u64"],
    result: "i64",
  },
  close: { parameters: ["i32"], result: "i32" },
  // Path operations for names that are not UTF-8 (Deno's file APIs take UTF-8 strings).
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  unlink: { parameters: ["buffer"], result: "i32" },
  rmdir: { parameters: ["buffer"], result: "i32" },
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

type SymbolName = keyof typeof SYMBOLS;

/** The handles opened so far (kept so that their symbols stay valid). */
const libraries: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [];
let symbols: Libc | undefined;

/**
 * The libc symbols. Each is bound on its first call, with a `Deno.dlopen` of that symbol
 * alone: binding all of them at once costs ~12 ms (one call trampoline each), and a warm
 * build calls only `statx`.
 */
function libc(): Libc {
  if (symbols) return symbols;
  const lazy = {} as Record<SymbolName, unknown>;
  for (const name of Object.keys(SYMBOLS) as SymbolName[]) {
    Object.defineProperty(lazy, name, {
      configurable: true,
      enumerable: true,
      get() {
        const lib = Deno.dlopen("libc.so.6", { [name]: SYMBOLS[name] });
        libraries.push(lib);
        const fn = lib.symbols[name];
        Object.defineProperty(lazy, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  symbols = lazy as Libc;
  return symbols;
}

/** Syscall numbers that libc does not wrap (or not in every glibc), per architecture. */
const SYSCALLS: Record<string, Record<SyscallName, number>> = {
  // The mount API numbers (428-432) are the same on every architecture.
  x86_64: {
    pivot_root: 155,
    mknodat: 259,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
  },
  aarch64: {
    pivot_root: 41,
    mknodat: 33,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
  },
};

type SyscallName = "pivot_root" | "mknodat" | "move_mount" | "fsopen" | "fsconfig" | "fsmount";

function syscallNumber(name: SyscallName): number {
  const table = SYSCALLS[Deno.build.arch];
  if (!table) throw new Error(`${name} is not supported on ${Deno.build.arch}`);
  return table[name];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A NUL-terminated copy of `s` for a `const char *` argument; a path's escaped bytes (see
 * `core/fs/raw_name.ts`) are given back as they were.
 */
function cstr(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encodeName(s);
  const buf = new Uint8Array(bytes.length + 1);
  buf.set(bytes);
  return buf;
}

function cstrOrNull(s: string | null | undefined): Uint8Array<ArrayBuffer> | null {
  return s === null || s === undefined ? null : cstr(s);
}

let errnoView: Deno.UnsafePointerView | null | undefined;

/**
 * The calling thread's errno, read through `__errno_location()`. The address is cached:
 * FFI calls run on the JS thread, and each worker has its own copy of this module.
 */
function lastErrno(): number {
  if (errnoView === undefined) {
    const ptr = libc().__errno_location();
    errnoView = ptr === null ? null : new Deno.UnsafePointerView(ptr);
  }
  return errnoView === null ? 0 : errnoView.getInt32();
}

/** The message libc gives for an errno number (`strerror(3)`). */
export function strerror(errno: number): string {
  const ptr = libc().strerror(errno);
  return ptr === null ? `Unknown error ${errno}` : Deno.UnsafePointerView.getCString(ptr);
}

// ---------------------------------------------------------------------------
// Wrappers
// ---------------------------------------------------------------------------

/**
 * mount(2). `source`, `fstype` and `data` may be null (as for bind mounts and propagation
 * changes).
 *
 * @example
 * ```ts ignore
 * mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m");
 * mount(null, "/", null, MS_REC | MS_PRIVATE, null);
 * ```
 */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  const rc = libc().mount(
    cstrOrNull(source),
    cstr(target),
    cstrOrNull(fstype),
    BigInt(flags),
    cstrOrNull(data),
  );
  if (rc !== 0) fail("mount", target);
}

/** umount2(2): unmount `target`; `flags` may include MNT_DETACH, MNT_FORCE, UMOUNT_NOFOLLOW. */
export function umount2(target: string, flags = 0): void {
  if (libc().umount2(cstr(target), flags) !== 0) fail("umount2", target);
}

/**
 * The device number of a major and minor, computed as glibc's `makedev()` does.
 *
 * @example
 * ```ts
 * makedev(1, 3); // /dev/null: 259n
 * ```
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) |
    ((mi & 0xffffff00n) << 12n);
}

/** The major number of a device number, as glibc's `major()`. */
export function major(dev: bigint | number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
}

/** The minor number of a device number, as glibc's `minor()`. */
export function minor(dev: bigint | number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
}

/**
 * mknod(2): create a file system node. `mode` holds the type (S_IFCHR, S_IFBLK, S_IFIFO,
 * S_IFREG, S_IFSOCK) and the permission bits (subject to the umask).
 *
 * @example
 * ```ts ignore
 * mknod("whiteout", S_IFCHR | 0o000, makedev(0, 0)); // an overlayfs whiteout
 * ```
 */
export function mknod(path: string, mode: number, dev: bigint | number = 0n): void {
  const lib = libc();
  let rc: number;
  if (lib.mknod) {
    rc = lib.mknod(cstr(path), mode, BigInt(dev));
  } else {
    // glibc before 2.33 only exports __xmknod: make the system call directly.
    rc = Number(
      lib.syscall_mknodat(
        BigInt(syscallNumber("mknodat")),
        BigInt(AT_FDCWD),
        cstr(path),
        BigInt(mode),
        BigInt(dev),
      ),
    );
  }
  if (rc !== 0) fail("mknod", path);
}

/** mkfifo(3): create a named pipe with the permission bits `mode` (subject to the umask). */
export function mkfifo(path: string, mode = 0o600): void {
  if (libc().mkfifo(cstr(path), mode) !== 0) fail("mkfifo", path);
}

/** lchown(2): change the owner of a file without following a final symlink. */
export function lchown(path: string, uid: number, gid: number): void {
  if (libc().lchown(cstr(path), uid >>> 0, gid >>> 0) !== 0) fail("lchown", path);
}

/**
 * lsetxattr(2): set an extended attribute on a file or a symlink itself.
 * `flags` may be XATTR_CREATE or XATTR_REPLACE.
 */
export function lsetxattr(
  path: string,
  name: string,
  value: Uint8Array | string,
  flags = 0,
): void {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  // A zero-length value still needs a valid pointer.
  const buf = new Uint8Array(Math.max(bytes.length, 1));
  buf.set(bytes);
  const rc = libc().lsetxattr(cstr(path), cstr(name), buf, BigInt(bytes.length), flags);
  if (rc !== 0) fail("lsetxattr", path);
}

/**
 * lgetxattr(2): the value of an extended attribute of a file or symlink, or null when the
 * file has no such attribute (ENODATA).
 */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const lib = libc();
  const p = cstr(path);
  const n = cstr(name);
  for (;;) {
    const size = Number(lib.lgetxattr(p, n, null, 0n));
    if (size < 0) {
      if (lastErrno() === 61) return null; // ENODATA
      fail("lgetxattr", path);
    }
    const buf = new Uint8Array(Math.max(size, 1));
    const got = Number(lib.lgetxattr(p, n, buf, BigInt(size)));
    if (got >= 0) return buf.slice(0, got);
    const errno = lastErrno();
    if (errno === 61) return null;
    if (errno !== 34) fail("lgetxattr", path); // ERANGE: it grew in between, ask again
  }
}

/** llistxattr(2): the names of the extended attributes of a file or symlink. */
export function llistxattr(path: string): string[] {
  const lib = libc();
  const p = cstr(path);
  for (;;) {
    const size = Number(lib.llistxattr(p, null, 0n));
    if (size < 0) fail("llistxattr", path);
    if (size === 0) return [];
    const buf = new Uint8Array(size);
    const got = Number(lib.llistxattr(p, buf, BigInt(size)));
    if (got >= 0) {
      return decoder.decode(buf.subarray(0, got)).split("\0").filter((s) => s !== "");
    }
    if (lastErrno() !== 34) fail("llistxattr", path); // ERANGE: the list grew, ask again
  }
}

/** lremovexattr(2): remove an extended attribute of a file or symlink. */
export function lremovexattr(path: string, name: string): void {
  if (libc().lremovexattr(cstr(path), cstr(name)) !== 0) fail("lremovexattr", path);
}

function timespec(view: DataView, offset: number, t: Date | number | null): void {
  if (t === null) {
    view.setBigInt64(offset, 0n, true);
    view.setBigInt64(offset + 8, BigInt(UTIME_OMIT), true);
    return;
  }
  const ms = t instanceof Date ? t.getTime() : t * 1000;
  const sec = Math.floor(ms / 1000);
  const nsec = Math.round((ms - sec * 1000) * 1e6);
  view.setBigInt64(offset, BigInt(sec), true);
  view.setBigInt64(offset + 8, BigInt(Math.min(nsec, 999_999_999)), true);
}

/**
 * Set the access and modification times of a file without following a final symlink
 * (utimensat(2) with AT_SYMLINK_NOFOLLOW). Times are Dates or seconds since the epoch
 * (fractions allowed); null leaves that time unchanged.
 */
export function lutimes(
  path: string,
  atime: Date | number | null,
  mtime: Date | number | null,
): void {
  const times = new Uint8Array(32);
  const view = new DataView(times.buffer);
  // struct timespec { time_t tv_sec; long tv_nsec; } on 64-bit Linux, host (little) endian.
  timespec(view, 0, atime);
  timespec(view, 16, mtime);
  if (libc().utimensat(AT_FDCWD, cstr(path), times, AT_SYMLINK_NOFOLLOW) !== 0) {
    fail("utimensat", path);
  }
}

/**
 * pivot_root(2): make `newRoot` the root of the mount namespace and move the old root to
 * `putOld` (a directory under `newRoot`). Made through syscall(2): glibc has no wrapper.
 */
export function pivotRoot(newRoot: string, putOld: string): void {
  const rc = libc().syscall_pivot_root(
    BigInt(syscallNumber("pivot_root")),
    cstr(newRoot),
    cstr(putOld),
  );
  if (Number(rc) !== 0) fail("pivot_root", newRoot);
}

/** fsopen(2): do not leak the context's file descriptor into child processes. */
export const FSOPEN_CLOEXEC = 0x1;
/** fsconfig(2): set a flag option (`key`, no value). */
export const FSCONFIG_SET_FLAG = 0;
/** fsconfig(2): set an option with a string value (at most 255 bytes). */
export const FSCONFIG_SET_STRING = 1;
/** fsconfig(2): create the superblock from the options set. */
export const FSCONFIG_CMD_CREATE = 6;
/** fsmount(2): do not leak the mount's file descriptor into child processes. */
export const FSMOUNT_CLOEXEC = 0x1;
/** fsmount(2) attribute: read-only. */
export const MOUNT_ATTR_RDONLY = 0x1;
/** fsmount(2) attribute: ignore set-user-ID and set-group-ID bits. */
export const MOUNT_ATTR_NOSUID = 0x2;
/** fsmount(2) attribute: do not interpret device files. */
export const MOUNT_ATTR_NODEV = 0x4;
/** fsmount(2) attribute: do not allow programs to be executed. */
export const MOUNT_ATTR_NOEXEC = 0x8;
/** move_mount(2): the source is the file descriptor itself (empty path). */
export const MOVE_MOUNT_F_EMPTY_PATH = 0x4;

/** fsopen(2): a filesystem context for `fsname` (e.g. `overlay`); returns its descriptor. */
export function fsopen(fsname: string, flags = FSOPEN_CLOEXEC): number {
  const fd = Number(
    libc().syscall_fsopen(BigInt(syscallNumber("fsopen")), cstr(fsname), BigInt(flags)),
  );
  if (fd < 0) fail("fsopen", fsname);
  return fd;
}

/**
 * fsconfig(2) on a filesystem context: `FSCONFIG_SET_FLAG` (no value),
 * `FSCONFIG_SET_STRING` (a value of at most 255 bytes) or `FSCONFIG_CMD_CREATE`.
 */
export function fsconfig(
  fd: number,
  cmd: number,
  key: string | null,
  value: string | null = null,
): void {
  const rc = Number(
    libc().syscall_fsconfig(
      BigInt(syscallNumber("fsconfig")),
      BigInt(fd),
      BigInt(cmd),
      cstrOrNull(key),
      cstrOrNull(value),
      0n,
    ),
  );
  if (rc < 0) fail("fsconfig", key === null ? undefined : value === null ? key : `${key}=${value}`);
}

/** fsmount(2): a detached mount of a created filesystem context; returns its descriptor. */
export function fsmount(fd: number, flags = FSMOUNT_CLOEXEC, attrFlags = 0): number {
  const mfd = Number(
    libc().syscall_fsmount(
      BigInt(syscallNumber("fsmount")),
      BigInt(fd),
      BigInt(flags),
      BigInt(attrFlags),
    ),
  );
  if (mfd < 0) fail("fsmount");
  return mfd;
}

/** move_mount(2) of the detached mount `fd` onto the path `target`. */
export function moveMount(fd: number, target: string): void {
  const rc = Number(
    libc().syscall_move_mount(
      BigInt(syscallNumber("move_mount")),
      BigInt(fd),
      cstr(""),
      BigInt(AT_FDCWD),
      cstr(target),
      BigInt(MOVE_MOUNT_F_EMPTY_PATH),
    ),
  );
  if (rc < 0) fail("move_mount", target);
}

/** close(2) of a raw file descriptor (from {@linkcode fsopen} or {@linkcode fsmount}). */
export function close(fd: number): void {
  if (libc().close(fd) !== 0) fail("close");
}

/**
 * unshare(2) with CLONE_* flags. Note that a Deno process is multi-threaded, so
 * CLONE_NEWUSER (and CLONE_NEWNS, which needs exclusive filesystem attributes) fail with
 * EINVAL: img re-executes itself under `unshare(1)` instead (see `core/rootless`).
 */
export function unshare(flags: number): void {
  if (libc().unshare(flags) !== 0) fail("unshare");
}

/** setns(2): join the namespace open as `fd` (`nstype` 0 or a CLONE_NEW* flag). */
export function setns(fd: number, nstype = 0): void {
  if (libc().setns(fd, nstype) !== 0) fail("setns");
}

/** getuid(2): the real user id. */
export function getuid(): number {
  return libc().getuid();
}

/** geteuid(2): the effective user id. */
export function geteuid(): number {
  return libc().geteuid();
}

/** getgid(2): the real group id. */
export function getgid(): number {
  return libc().getgid();
}

/** getegid(2): the effective group id. */
export function getegid(): number {
  return libc().getegid();
}

/** Whether libc has been opened in this process (it is opened on first use). */
export function isLoaded(): boolean {
  return libraries.length > 0;
}

// ---------------------------------------------------------------------------
// Paths as bytes: for names that are not UTF-8, which Deno's file APIs cannot reach
// ---------------------------------------------------------------------------

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
// Where arm64 differs from x86_64 (asm-generic/fcntl.h against arm64's own).
const ARM64 = Deno.build.arch === "aarch64";
const O_NOFOLLOW = ARM64 ? 0o100000 : 0o400000;
const O_DIRECTORY = ARM64 ? 0o40000 : 0o200000;
const O_CLOEXEC = 0o2000000;
const STATX_BASIC_STATS = 0x7ff;

/** mkdir(2). */
export function mkdir(path: string, mode: number): void {
  if (libc().mkdir(cstr(path), mode) !== 0) fail("mkdir", path);
}

/** open(2) with `O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW`: a new file; returns its fd. */
export function createFile(path: string, mode: number): number {
  const fd = libc().open(cstr(path), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) fail("open", path);
  return fd;
}

/** open(2) with `O_RDONLY | O_NOFOLLOW`: returns the fd. */
export function openRead(path: string): number {
  const fd = libc().open(cstr(path), O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  return fd;
}

/** symlink(2): `path` becomes a symlink to `target`. */
export function symlink(target: string, path: string): void {
  if (libc().symlink(cstr(target), cstr(path)) !== 0) fail("symlink", path);
}

/** link(2): `path` becomes a hard link to `existing`. */
export function link(existing: string, path: string): void {
  if (libc().link(cstr(existing), cstr(path)) !== 0) fail("link", path);
}

/** readlink(2), the target decoded as names are (escaped bytes kept). */
export function readlink(path: string): string {
  const buf = new Uint8Array(4097);
  const n = Number(libc().readlink(cstr(path), buf, BigInt(buf.length)));
  if (n < 0) fail("readlink", path);
  return decodeName(buf.subarray(0, n));
}

/** unlink(2). */
export function unlink(path: string): void {
  if (libc().unlink(cstr(path)) !== 0) fail("unlink", path);
}

/** rmdir(2). */
export function rmdir(path: string): void {
  if (libc().rmdir(cstr(path)) !== 0) fail("rmdir", path);
}

/** rename(2): `from` replaces `to`. */
export function rename(from: string, to: string): void {
  if (libc().rename(cstr(from), cstr(to)) !== 0) fail("rename", from);
}

/** chmod(2) (follows a final symlink, as `Deno.chmodSync` does). */
export function chmod(path: string, mode: number): void {
  if (libc().chmod(cstr(path), mode) !== 0) fail("chmod", path);
}

function statxTime(view: DataView, offset: number): Date {
  return new Date(
    Number(view.getBigInt64(offset, true)) * 1000 + view.getUint32(offset + 8, true) / 1e6,
  );
}

/** statx(2) of `path` (not following a final symlink), as the raw `struct statx`. */
function statxView(path: string): DataView {
  const buf = new Uint8Array(256);
  if (libc().statx(AT_FDCWD, cstr(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf) !== 0) {
    fail("statx", path);
  }
  return new DataView(buf.buffer);
}

function statxNs(view: DataView, offset: number): bigint {
  return view.getBigInt64(offset, true) * 1_000_000_000n + BigInt(view.getUint32(offset + 8, true));
}

/**
 * statx(2) of `path` (NUL-terminated bytes, not following a final symlink) into `out` (at
 * least 256 bytes: the raw `struct statx`), for walks that stat many files without allocating
 * per call. Returns whether the call succeeded (it does not throw).
 */
export function statxInto(
  path: Uint8Array<ArrayBuffer>,
  out: Uint8Array<ArrayBuffer>,
  dirfd = AT_FDCWD,
): boolean {
  return libc().statx(dirfd, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out) === 0;
}

/**
 * open(2) of the directory `path` (`O_DIRECTORY | O_NOFOLLOW`), for {@linkcode statxInto}
 * relative to it: the kernel then looks up one name per call, not the whole path. Close it
 * with {@linkcode close}.
 */
export function openDirectory(path: string): number {
  const fd = libc().open(cstr(path), O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  return fd;
}

/** What identifies one version of a file without reading it: `lstat` with nanosecond times. */
export interface FileStamp {
  /** The device (`makedev(major, minor)`). */
  dev: bigint;
  /** The inode number. */
  ino: bigint;
  /** The size in bytes. */
  size: number;
  /** The modification time, nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** The status change time, nanoseconds since the epoch. */
  ctimeNs: bigint;
  /** Whether it is a regular file. */
  isFile: boolean;
}

/** lstat through statx(2), with the nanoseconds that `Deno.FileInfo` rounds away. */
export function lstatStamp(path: string): FileStamp {
  return stampOf(statxView(path));
}

/** lstat through one statx(2): the `Deno.FileInfo` and the {@linkcode FileStamp}. */
export function lstatWithStamp(path: string): [Deno.FileInfo, FileStamp] {
  const v = statxView(path);
  return [infoOf(v), stampOf(v)];
}

function stampOf(v: DataView): FileStamp {
  return {
    dev: makedev(v.getUint32(136, true), v.getUint32(140, true)),
    ino: v.getBigUint64(32, true),
    size: Number(v.getBigUint64(40, true)),
    mtimeNs: statxNs(v, 112),
    ctimeNs: statxNs(v, 96),
    isFile: (v.getUint16(28, true) & S_IFMT) === S_IFREG,
  };
}

/** lstat through statx(2), as a `Deno.FileInfo`. */
export function lstat(path: string): Deno.FileInfo {
  return infoOf(statxView(path));
}

function infoOf(v: DataView): Deno.FileInfo {
  const mode = v.getUint16(28, true);
  const type = mode & S_IFMT;
  return {
    isFile: type === S_IFREG,
    isDirectory: type === S_IFDIR,
    isSymlink: type === S_IFLNK,
    isBlockDevice: type === S_IFBLK,
    isCharDevice: type === S_IFCHR,
    isFifo: type === S_IFIFO,
    isSocket: type === S_IFSOCK,
    size: Number(v.getBigUint64(40, true)),
    mtime: statxTime(v, 112),
    atime: statxTime(v, 64),
    birthtime: statxTime(v, 80),
    ctime: statxTime(v, 96),
    dev: Number(makedev(v.getUint32(136, true), v.getUint32(140, true))),
    ino: Number(v.getBigUint64(32, true)),
    mode,
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    rdev: Number(makedev(v.getUint32(128, true), v.getUint32(132, true))),
    blksize: v.getUint32(4, true),
    blocks: Number(v.getBigUint64(48, true)),
  };
}

/**
 * The entries of a directory with their names as bytes (decoded as names are, escaped bytes
 * kept), through opendir(3)/readdir(3); `.` and `..` left out.
 */
export function readdir(path: string): Deno.DirEntry[] {
  const lib = libc();
  const dir = lib.opendir(cstr(path));
  if (dir === null) fail("opendir", path);
  const out: Deno.DirEntry[] = [];
  try {
    while (true) {
      const ent = lib.readdir(dir);
      if (ent === null) break;
      const view = new Deno.UnsafePointerView(ent);
      // struct dirent (64-bit glibc): d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
      const reclen = view.getUint16(16);
      const dtype = view.getUint8(18);
      const raw = new Uint8Array(reclen - 19);
      view.copyInto(raw, 19);
      const nul = raw.indexOf(0);
      const nameBytes = raw.subarray(0, nul < 0 ? raw.length : nul);
      const name = decodeName(nameBytes);
      if (name === "." || name === "..") continue;
      if (dtype === 0) {
        // DT_UNKNOWN: the file system does not say; ask it.
        const info = lstat(`${path}/${name}`);
        out.push({
          name,
          isFile: info.isFile,
          isDirectory: info.isDirectory,
          isSymlink: info.isSymlink,
        });
        continue;
      }
      out.push({ name, isFile: dtype === 8, isDirectory: dtype === 4, isSymlink: dtype === 10 });
    }
  } finally {
    lib.closedir(dir);
  }
  return out;
}
