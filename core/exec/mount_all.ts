/**
 * Mounting a step's root filesystem (a list of {@linkcode Mount}s) on a directory with
 * mount(2), as containerd's `mount.All` does.
 *
 * @module
 */
import * as libc from "../libc.ts";
import { mountAt } from "../mounts.ts";
import type { Mount } from "../snapshotter.ts";

const MS_MANDLOCK = 0x40;
const MS_DIRSYNC = 0x80;

/** Option name -> [clear?, flag], as containerd's `parseMountOptions`. */
const FLAGS: Record<string, [boolean, number]> = {
  async: [true, libc.MS_SYNCHRONOUS],
  atime: [true, libc.MS_NOATIME],
  bind: [false, libc.MS_BIND],
  defaults: [false, 0],
  dev: [true, libc.MS_NODEV],
  diratime: [true, libc.MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, libc.MS_NOEXEC],
  mand: [false, MS_MANDLOCK],
  noatime: [false, libc.MS_NOATIME],
  nodev: [false, libc.MS_NODEV],
  nodiratime: [false, libc.MS_NODIRATIME],
  noexec: [false, libc.MS_NOEXEC],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, libc.MS_RELATIME],
  nostrictatime: [true, libc.MS_STRICTATIME],
  nosuid: [false, libc.MS_NOSUID],
  rbind: [false, libc.MS_BIND | libc.MS_REC],
  relatime: [false, libc.MS_RELATIME],
  remount: [false, libc.MS_REMOUNT],
  ro: [false, libc.MS_RDONLY],
  rw: [true, libc.MS_RDONLY],
  strictatime: [false, libc.MS_STRICTATIME],
  suid: [true, libc.MS_NOSUID],
  sync: [false, libc.MS_SYNCHRONOUS],
};

/** Splits mount options into mount(2) flags and the filesystem's data string. */
export function parseMountOptions(options: string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const opt of options) {
    const f = FLAGS[opt];
    if (f === undefined) data.push(opt);
    else if (f[0]) flags &= ~f[1];
    else flags |= f[1];
  }
  return { flags, data: data.join(",") };
}

/** Mounts each of `mounts` on `target`, in order; undoes them all if one fails. */
export function mountAll(mounts: Mount[], target: string): void {
  let done = 0;
  try {
    for (const m of mounts) {
      const { flags, data } = parseMountOptions(m.options);
      const isBind = (flags & libc.MS_BIND) !== 0 || m.type === "bind";
      if (isBind) {
        libc.mount(m.source, target, null, flags | libc.MS_BIND, null);
        done++;
        if (flags & libc.MS_RDONLY) {
          libc.mount(null, target, null, libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY, null);
        }
      } else {
        if (new TextEncoder().encode(data).length < 4096) {
          libc.mount(m.source, target, m.type, flags, data || null);
        } else {
          // Options longer than mount(2)'s page (an overlay of many layers): core mounts them
          // through the new mount API.
          mountAt(m, target);
        }
        done++;
      }
    }
  } catch (e) {
    for (; done > 0; done--) unmountQuietly(target);
    throw e;
  }
}

/** Unmounts `target` (lazily, and every mount stacked there), ignoring errors. */
export function unmountAll(target: string): void {
  for (let i = 0; i < 16; i++) {
    if (!unmountQuietly(target)) return;
  }
}

function unmountQuietly(target: string): boolean {
  try {
    libc.umount2(target, libc.MNT_DETACH);
    return true;
  } catch {
    return false;
  }
}
