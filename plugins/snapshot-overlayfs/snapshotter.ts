/**
 * The overlayfs snapshotter: kernel overlayfs mounted inside img's user namespace with the
 * `userxattr` option, as rootless containerd and BuildKit do. A committed snapshot is an
 * upper directory; an active snapshot is an overlay of a fresh upper directory on its
 * ancestors' (a bind mount of it when it has no parent); a view is a read-only overlay of
 * its ancestors (a bind mount for a single layer). Whiteouts are 0:0 character devices and
 * opaque directories carry `user.overlay.opaque`, which is what an unprivileged user
 * namespace may create; a snapshot's layer is written from its upper directory alone.
 *
 * The snapshotter returns `overlay` mounts with a `lowerdir=` of every ancestor, however
 * long: `mountAt` of `@img/core` mounts those that do not fit in mount(2)'s one page through
 * the new mount API and `lowerdir+` (Linux 6.8+), so a chain of hundreds of layers works
 * (overlayfs stacks at most 500).
 *
 * @module
 */
import { type Mount, removeTree } from "@img/core";
import {
  escapeOverlayPath,
  type OverlayDirs,
  type OverlayLayoutOptions,
  OverlayLayoutSnapshotter,
} from "@img/core/snapshot";
import { libc, mountAt } from "@img/core/sys";

/** Options of {@linkcode OverlayfsSnapshotter}. */
export type OverlayfsSnapshotterOptions = OverlayLayoutOptions;

/** Kernel overlayfs snapshots rooted at a directory. */
export class OverlayfsSnapshotter extends OverlayLayoutSnapshotter {
  /** Always `overlayfs`. */
  readonly name = "overlayfs";

  /** The overlay mount: nothing is mounted until a consumer mounts it. */
  // deno-lint-ignore require-await
  protected async overlayMounts(dirs: OverlayDirs): Promise<Mount[]> {
    const options = [
      "userxattr",
      `lowerdir=${dirs.lowers.map(escapeOverlayPath).join(":")}`,
    ];
    if (dirs.upper && dirs.work) {
      options.push(`upperdir=${dirs.upper}`, `workdir=${dirs.work}`);
    } else {
      options.unshift("ro");
    }
    return [{ type: "overlay", source: "overlay", options }];
  }

  /** Nothing to undo: consumers unmount what they mounted. */
  protected async release(): Promise<void> {}
}

/**
 * Checks that kernel overlayfs can be mounted here with `userxattr` on the filesystem of
 * `root`: mounts an overlay of two lower directories in a scratch directory, deletes a
 * lower file through it (a whiteout) and replaces a lower directory (an opaque one), then
 * unmounts it. Resolves to `undefined` when all of that works, else to the reason.
 */
export async function probeOverlayfs(
  root: string,
): Promise<string | undefined> {
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: root, prefix: "probe-" });
  const merged = `${dir}/merged`;
  let mounted = false;
  try {
    for (const d of ["l1", "l2", "upper", "work", "merged"]) {
      await Deno.mkdir(`${dir}/${d}`);
    }
    await Deno.writeTextFile(`${dir}/l1/file`, "x");
    await Deno.mkdir(`${dir}/l2/dir`);
    await Deno.writeTextFile(`${dir}/l2/dir/inner`, "y");
    try {
      mountAt({
        type: "overlay",
        source: "overlay",
        options: [
          "userxattr",
          `lowerdir=${escapeOverlayPath(`${dir}/l2`)}:${escapeOverlayPath(`${dir}/l1`)}`,
          `upperdir=${dir}/upper`,
          `workdir=${dir}/work`,
        ],
      }, merged);
      mounted = true;
    } catch (e) {
      return `mounting overlayfs with userxattr failed: ${(e as Error).message}`;
    }
    await Deno.remove(`${merged}/file`);
    await Deno.remove(`${merged}/dir`, { recursive: true });
    await Deno.mkdir(`${merged}/dir`);
    const wh = await Deno.lstat(`${dir}/upper/file`);
    if (!wh.isCharDevice || (wh.rdev ?? 0) !== 0) {
      return "overlayfs did not make a whiteout as a 0:0 character device";
    }
    if (libc.lgetxattr(`${dir}/upper/dir`, "user.overlay.opaque") === null) {
      return "overlayfs did not mark a replaced directory opaque with user.overlay.opaque";
    }
    return undefined;
  } catch (e) {
    return `overlayfs does not work on ${root}: ${(e as Error).message}`;
  } finally {
    if (mounted) {
      try {
        libc.umount2(merged, libc.MNT_DETACH);
      } catch { /* gone with the namespace */ }
    }
    await removeTree(dir).catch(() => {});
  }
}
