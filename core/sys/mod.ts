/**
 * Host plumbing for img's own packages (`@img/core/sys`): the libc calls Deno does not
 * expose (as the `libc` namespace), byte-exact file operations for names that are not UTF-8
 * (as the `exact` namespace), mounting a snapshotter's mounts, resolving an image's
 * users and groups, and confining paths to a root filesystem.
 *
 * Internal to img's own packages; it may change in any release.
 *
 * ```ts ignore
 * import { withMountedDir } from "@img/core/sys";
 *
 * await withMountedDir(mounts, async (dir) => console.log(dir));
 * ```
 *
 * @module
 */
export * as libc from "../libc.ts";
export * as exact from "../fs/exact.ts";
export * from "../mounts.ts";
export * from "../user.ts";
export * from "../root_path.ts";
export * from "../binfmt.ts";
