/**
 * Making a snapshotter's mounts visible as a directory for a while: a bind mount is used in
 * place; other mounts (overlay) are mounted on a temporary directory through libc and
 * unmounted afterwards. Mounting needs root of the user namespace.
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

/**
 * Runs `fn` with the directory that `mounts` describe. A single bind mount is used directly
 * (the snapshot's own directory); anything else is mounted on a temporary directory and
 * unmounted when `fn` settles.
 */
export async function withMountedDir<T>(
  mounts: readonly Mount[],
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  if (mounts.length === 1 && mounts[0].type === "bind") return await fn(mounts[0].source);
  if (mounts.length !== 1) {
    throw new ImgError(`Cannot mount ${mounts.length} mounts as one directory`);
  }
  const m = mounts[0];
  const target = await Deno.makeTempDir({ prefix: "img-mount-" });
  const { flags, data } = mountFlags(m.options);
  try {
    libc.mount(m.source, target, m.type, flags, data || null);
  } catch (e) {
    await Deno.remove(target).catch(() => {});
    throw new ImgError(`Cannot mount the ${m.type} snapshot: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    return await fn(target);
  } finally {
    try {
      libc.umount2(target, libc.MNT_DETACH);
    } finally {
      await Deno.remove(target).catch(() => {});
    }
  }
}
