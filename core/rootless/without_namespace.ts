/**
 * A build attempted before entering the user namespace. A rebuild whose every step is cached
 * reads only the state database, the content store and the context; it changes no snapshot
 * and runs nothing, so it needs neither the user namespace nor the second process that
 * entering it takes (`ensureRootless` re-executes img). `img build` therefore first runs such
 * a build as the user, with the snapshotter and the executor behind
 * {@linkcode snapshotterWithoutNamespace} and {@linkcode executorWithoutNamespace}: the first
 * call that would touch a snapshot's files or run a step throws {@linkcode NamespaceNeeded},
 * and the build starts again inside the namespace, as it always did.
 *
 * Invariant: before the throw, the attempt wrote only what is content-addressed or
 * idempotent (blobs, pulled manifests, cache metadata), so starting again loses nothing and
 * duplicates nothing.
 *
 * @module
 */
import type { Executor } from "../executor.ts";
import type { Snapshotter } from "../snapshotter.ts";

/**
 * Thrown by a build attempted outside the user namespace when it reaches work that needs it
 * (a snapshot to prepare, mount, diff or remove; a step to run). Not a user-facing error:
 * `img build` catches it and re-executes inside the namespace.
 */
export class NamespaceNeeded extends Error {
  /** `what` names the operation that needs the namespace (for `--debug`). */
  constructor(what: string) {
    super(`${what} needs the user namespace`);
    this.name = "NamespaceNeeded";
  }
}

/** Whether `e`, or an error it was caused by, is a {@linkcode NamespaceNeeded}. */
export function isNamespaceNeeded(e: unknown): boolean {
  for (let c = e; c instanceof Error; c = c.cause) {
    if (c instanceof NamespaceNeeded) return true;
  }
  return false;
}

/**
 * `snapshotter` with only its metadata reads allowed (`stat`, `usage` of a committed snapshot,
 * `walk`): every other call throws {@linkcode NamespaceNeeded}.
 */
export function snapshotterWithoutNamespace(snapshotter: Snapshotter): Snapshotter {
  const refuse = (what: string) => () => Promise.reject(new NamespaceNeeded(`snapshot ${what}`));
  return {
    name: snapshotter.name,
    stat: (key) => snapshotter.stat(key),
    usage: async (key) => {
      if ((await snapshotter.stat(key))?.kind !== "committed") {
        throw new NamespaceNeeded("the usage of an uncommitted snapshot");
      }
      return await snapshotter.usage(key);
    },
    walk: () => snapshotter.walk(),
    prepare: refuse("prepare"),
    view: refuse("view"),
    mounts: refuse("mounts"),
    commit: refuse("commit"),
    remove: refuse("remove"),
    ...(snapshotter.diff ? { diff: refuse("diff") } : {}),
  };
}

/** An executor that runs nothing: every step throws {@linkcode NamespaceNeeded}. */
export function executorWithoutNamespace(): Executor {
  return { run: () => Promise.reject(new NamespaceNeeded("a RUN step")) };
}
