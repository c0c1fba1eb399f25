/**
 * Making a snapshotter's mounts visible as a directory for a while: a bind mount is used in
 * place; other mounts (overlay) are mounted on a temporary directory through libc and
 * unmounted afterwards. Mounting needs root of the user namespace.
 *
 * mount(2) takes the options of a filesystem as one string of at most a page (4096 bytes),
 * which an overlay of a long chain of layers exceeds. {@linkcode mountAt} then uses the new
 * mount API instead (`fsopen`, `fsconfig`, `fsmount`, `move_mount`), giving the lower
 * directories one by one with the `lowerdir+` option (Linux 6.8+), each up to 255 bytes.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import * as libc from "./libc.ts";
import type { Mount } from "./snapshotter.ts";

const FLAG_OPTIONS: Record<string, number> = {
  ro: libc.MS_RDONLY,
  nosuid: libc.MS_NOSUID,
  nodev: libc.MS_NODEV,
  noexec: libc.MS_NOEXEC,
  bind: libc.MS_BIND,
  rbind: libc.MS_BIND | libc.MS_REC,
};

/** Splits mount options into mount(2) flags and the data string. */
export function mountFlags(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o in FLAG_OPTIONS) flags |= FLAG_OPTIONS[o];
    else if (o !== "rw") data.push(o);
  }
  return { flags, data: data.join(",") };
}

/** The largest option string mount(2) accepts (one page, its terminating NUL included). */
const MAX_MOUNT_DATA = 4095;

const ATTR_OPTIONS: Record<string, number> = {
  ro: libc.MOUNT_ATTR_RDONLY,
  nosuid: libc.MOUNT_ATTR_NOSUID,
  nodev: libc.MOUNT_ATTR_NODEV,
  noexec: libc.MOUNT_ATTR_NOEXEC,
};

/**
 * Mounts `m` on the directory `target`. Bind mounts are made with mount(2) (and remounted
 * read-only for `ro`); other filesystems with mount(2) when their options fit in a page,
 * else through the new mount API, with an overlay's `lowerdir=a:b:c` given as one
 * `lowerdir+` per directory.
 */
export function mountAt(m: Mount, target: string): void {
  const { flags, data } = mountFlags(m.options);
  if (m.type === "bind" || (flags & libc.MS_BIND) !== 0) {
    libc.mount(m.source, target, null, flags | libc.MS_BIND, null);
    if (flags & libc.MS_RDONLY) {
      libc.mount(null, target, null, libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY, null);
    }
    return;
  }
  if (new TextEncoder().encode(data).length <= MAX_MOUNT_DATA) {
    libc.mount(m.source, target, m.type, flags, data || null);
    return;
  }
  mountWithContext(m, target);
}

/** Splits an overlay `lowerdir` value at its unescaped colons. */
export function splitLowerdirs(value: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && i + 1 < value.length) {
      cur += value[++i];
    } else if (c === ":") {
      out.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out.filter((d) => d !== "");
}

/** Mounts `m` with fsopen/fsconfig/fsmount/move_mount: options of any total length. */
function mountWithContext(m: Mount, target: string): void {
  let attrs = 0;
  const fd = libc.fsopen(m.type);
  try {
    libc.fsconfig(fd, libc.FSCONFIG_SET_STRING, "source", m.source);
    for (const o of m.options) {
      if (o in ATTR_OPTIONS) {
        attrs |= ATTR_OPTIONS[o];
        continue;
      }
      if (o === "rw" || o in FLAG_OPTIONS) continue;
      const eq = o.indexOf("=");
      if (eq < 0) {
        libc.fsconfig(fd, libc.FSCONFIG_SET_FLAG, o);
        continue;
      }
      const key = o.slice(0, eq);
      const value = o.slice(eq + 1);
      if (m.type === "overlay" && key === "lowerdir") {
        for (const dir of splitLowerdirs(value)) {
          libc.fsconfig(fd, libc.FSCONFIG_SET_STRING, "lowerdir+", dir);
        }
      } else {
        libc.fsconfig(fd, libc.FSCONFIG_SET_STRING, key, value);
      }
    }
    libc.fsconfig(fd, libc.FSCONFIG_CMD_CREATE, null);
    const mfd = libc.fsmount(fd, libc.FSMOUNT_CLOEXEC, attrs);
    try {
      libc.moveMount(mfd, target);
    } finally {
      libc.close(mfd);
    }
  } finally {
    libc.close(fd);
  }
}

/** A directory where mounts are mounted until {@linkcode MountedDir.unmount}. */
export interface MountedDir {
  /** The directory. */
  dir: string;
  /** Unmounts it (if mounted here) and removes the temporary directory. */
  unmount(): Promise<void>;
}

/**
 * Makes `mounts` visible as one directory: a single bind mount is its source, used in place;
 * anything else is mounted on a new temporary directory.
 */
export async function mountTemporarily(mounts: readonly Mount[]): Promise<MountedDir> {
  if (mounts.length === 1 && mounts[0].type === "bind") {
    return { dir: mounts[0].source, unmount: async () => {} };
  }
  if (mounts.length !== 1) {
    throw new ImgError(`Cannot mount ${mounts.length} mounts as one directory`);
  }
  const m = mounts[0];
  const target = await Deno.makeTempDir({ prefix: "img-mount-" });
  try {
    mountAt(m, target);
  } catch (e) {
    await Deno.remove(target).catch(() => {});
    throw new ImgError(`Cannot mount the ${m.type} snapshot: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return {
    dir: target,
    async unmount() {
      try {
        libc.umount2(target, libc.MNT_DETACH);
      } finally {
        await Deno.remove(target).catch(() => {});
      }
    },
  };
}

/**
 * Runs `fn` with the directory that `mounts` describe. A single bind mount is used directly
 * (the snapshot's own directory); anything else is mounted on a temporary directory and
 * unmounted when `fn` settles.
 */
export async function withMountedDir<T>(
  mounts: readonly Mount[],
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const mounted = await mountTemporarily(mounts);
  try {
    return await fn(mounted.dir);
  } finally {
    await mounted.unmount();
  }
}
