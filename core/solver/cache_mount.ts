/**
 * Cache mounts (`RUN --mount=type=cache`): a directory kept between builds, keyed by its id
 * (and by its `from=` seed), shared as BuildKit shares them. Every user holds a flock(2) on
 * the directory's lock file while its step runs, so the sharing modes hold across concurrent
 * builds and processes using one state directory:
 *
 * - `shared`: a shared lock; any number of steps use the directory at once.
 * - `locked`: an exclusive lock; a step waits until every other user is done.
 * - `private`: an exclusive lock taken without waiting; when another step holds the
 *   directory, the first free (or a new) private directory of the same id is used instead.
 *
 * @module
 */
import { copyTree } from "../fs/copy_tree.ts";

/** How a cache mount is created and shared. */
export interface CacheMountOptions {
  /** The directory name under the cache mounts directory. */
  name: string;
  /** `shared` (default), `locked` or `private`. */
  sharing?: "shared" | "locked" | "private";
  /** A directory whose contents seed a new cache (`from=`, `source=`). */
  seed?: string;
  /** The mode of a new cache's root (default 0755). */
  mode?: number;
  /** The owner of a new cache's root (default 0:0). */
  uid?: number;
  /** The group of a new cache's root. */
  gid?: number;
  /** Copy owners when seeding. */
  sameOwner?: boolean;
}

/** A cache directory in use until {@linkcode CacheMountHandle.release}. */
export interface CacheMountHandle {
  /** The directory. */
  dir: string;
  /** Its name under the cache mounts directory (what a lease records). */
  name: string;
  /** Releases the lock. */
  release(): void;
}

/** Opens the cache mount `o.name` under `root`, waiting for its lock as `o.sharing` says. */
export async function acquireCacheMount(
  root: string,
  o: CacheMountOptions,
): Promise<CacheMountHandle> {
  await Deno.mkdir(root, { recursive: true });
  const sharing = o.sharing ?? "shared";
  for (let n = 0;; n++) {
    const name = n === 0 ? o.name : `${o.name}-private-${n}`;
    const lock = await Deno.open(`${root}/${name}.lock`, { create: true, write: true });
    let held: boolean;
    if (sharing === "private") {
      held = await lock.tryLock(true);
    } else {
      await lock.lock(sharing === "locked");
      held = true;
    }
    if (!held) {
      lock.close();
      continue;
    }
    const dir = `${root}/${name}`;
    try {
      await create(dir, o);
    } catch (e) {
      lock.close();
      throw e;
    }
    return {
      dir,
      name,
      release: () => {
        try {
          lock.unlockSync();
        } finally {
          lock.close();
        }
      },
    };
  }
}

async function create(dir: string, o: CacheMountOptions): Promise<void> {
  try {
    await Deno.lstat(dir);
    return;
  } catch {
    // made below
  }
  const tmp = `${dir}.new-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (o.seed) {
      await copyTree(o.seed, tmp, { sameOwner: o.sameOwner });
    } else {
      await Deno.mkdir(tmp);
    }
    await Deno.chmod(tmp, o.mode ?? 0o755);
    if (o.uid !== undefined || o.gid !== undefined || !o.seed) {
      try {
        await Deno.chown(tmp, o.uid ?? 0, o.gid ?? 0);
      } catch {
        // not root of a user namespace: the cache stays the builder's
      }
    }
    // Another build may have made it meanwhile: theirs stays.
    await Deno.rename(tmp, dir).catch(() => {});
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
