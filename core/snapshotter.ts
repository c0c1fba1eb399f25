/**
 * The snapshotter seam, modelled on containerd's: snapshots are directory trees with a
 * parent, prepared (writable), committed (immutable) or viewed (read-only).
 *
 * @module
 */
import type { Digest } from "./digest.ts";

/** A mount that makes a snapshot visible at some target. */
export interface Mount {
  /** The filesystem type (`bind`, `overlay`, `fuse.fuse-overlayfs`). */
  type: string;
  /** The source (a directory for bind mounts). */
  source: string;
  /** Mount options (`rbind`, `ro`, `lowerdir=...`). */
  options: string[];
}

/** The kind of a snapshot. */
export type SnapshotKind = "active" | "view" | "committed";

/** What a snapshotter knows about a snapshot. */
export interface SnapshotInfo {
  /** The snapshot's key. */
  key: string;
  /** The parent's key, if any. */
  parent?: string;
  /** Active, view or committed. */
  kind: SnapshotKind;
  /** When the snapshot was created. */
  created: Date;
  /** Free-form labels. */
  labels?: Record<string, string>;
}

/** Disk usage of a snapshot (only its own layer, not its parents). */
export interface SnapshotUsage {
  /** Bytes used. */
  size: number;
  /** Inodes used. */
  inodes: number;
}

/**
 * A snapshotter: containerd-style snapshot lifecycle.
 *
 * @example A copying snapshotter
 * A snapshotter that keeps every snapshot as a full copy of its parent (img's `native`
 * snapshotter does this with reflinks and crash-safe metadata). `prepare` gives the mounts
 * of a writable snapshot, `commit` freezes it under a name that children are prepared from.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   copyTree,
 *   type Mount,
 *   NotFoundError,
 *   removeTree,
 *   type SnapshotInfo,
 *   type Snapshotter,
 *   type SnapshotUsage,
 *   treeUsage,
 * } from "@img/core";
 *
 * class CopySnapshotter implements Snapshotter {
 *   readonly name = "copy";
 *   readonly #root: string;
 *   readonly #info = new Map<string, SnapshotInfo>();
 *
 *   constructor(root: string) {
 *     this.#root = root;
 *   }
 *
 *   #dir(key: string): string {
 *     return `${this.#root}/${encodeURIComponent(key)}`;
 *   }
 *
 *   async prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
 *     if (parent) await copyTree(this.#dir(parent), this.#dir(key));
 *     else await Deno.mkdir(this.#dir(key));
 *     this.#info.set(key, { key, parent, kind: "active", created: new Date(), labels });
 *     return this.mounts(key);
 *   }
 *
 *   async view(key: string, parent?: string): Promise<Mount[]> {
 *     await this.prepare(key, parent);
 *     this.#info.get(key)!.kind = "view";
 *     return [{ type: "bind", source: this.#dir(key), options: ["rbind", "ro"] }];
 *   }
 *
 *   mounts(key: string): Promise<Mount[]> {
 *     if (!this.#info.has(key)) throw new NotFoundError(`No snapshot ${key}`);
 *     return Promise.resolve([{ type: "bind", source: this.#dir(key), options: ["rbind", "rw"] }]);
 *   }
 *
 *   async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
 *     const info = this.#info.get(key);
 *     if (!info) throw new NotFoundError(`No snapshot ${key}`);
 *     await Deno.rename(this.#dir(key), this.#dir(name));
 *     this.#info.delete(key);
 *     this.#info.set(name, { ...info, key: name, kind: "committed", labels: labels ?? info.labels });
 *   }
 *
 *   async remove(key: string): Promise<void> {
 *     await removeTree(this.#dir(key));
 *     this.#info.delete(key);
 *   }
 *
 *   stat(key: string): Promise<SnapshotInfo | undefined> {
 *     return Promise.resolve(this.#info.get(key));
 *   }
 *
 *   usage(key: string): Promise<SnapshotUsage> {
 *     return treeUsage(this.#dir(key));
 *   }
 *
 *   async *walk(): AsyncIterable<SnapshotInfo> {
 *     yield* this.#info.values();
 *   }
 * }
 *
 * const snapshotter = new CopySnapshotter(await Deno.makeTempDir());
 * const [base] = await snapshotter.prepare("build-1");
 * await Deno.writeTextFile(`${base.source}/hello.txt`, "hello\n");
 * await snapshotter.commit("base", "build-1");
 * const [child] = await snapshotter.prepare("build-2", "base");
 * assert.equal(await Deno.readTextFile(`${child.source}/hello.txt`), "hello\n");
 * assert.equal((await snapshotter.stat("base"))?.kind, "committed");
 * ```
 */
export interface Snapshotter {
  /** The backend name (`native`, `overlayfs`, `fuse-overlayfs`). */
  readonly name: string;
  /** Creates a writable snapshot on top of `parent` and returns how to mount it. */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** Creates a read-only view of `parent`. */
  view(key: string, parent?: string): Promise<Mount[]>;
  /** Returns the mounts of an active snapshot or view. */
  mounts(key: string): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the committed snapshot `name`. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  /** Removes a snapshot that has no children. */
  remove(key: string): Promise<void>;
  /** Returns a snapshot's info, or `undefined` if it does not exist. */
  stat(key: string): Promise<SnapshotInfo | undefined>;
  /** Returns a snapshot's own disk usage. */
  usage(key: string): Promise<SnapshotUsage>;
  /** Lists every snapshot. */
  walk(): AsyncIterable<SnapshotInfo>;
  /**
   * Optional: writes the layer of the committed snapshot `key` (its changes from its parent)
   * as an uncompressed layer tar into `out`, closes `out` (aborts it on failure), and returns
   * the tar's digest and size. Snapshotters that know what changed (an overlay's upper
   * directory) implement it; for the others, the layer is the diff of views of the snapshot
   * and its parent.
   */
  diff?(
    key: string,
    out: WritableStream<Uint8Array>,
    options?: SnapshotDiffOptions,
  ): Promise<{ diffID: Digest; size: number }>;
}

/** Options of {@linkcode Snapshotter.diff}, as the generic differ takes them. */
export interface SnapshotDiffOptions {
  /** Clamp mtimes to this time (seconds since the epoch); whiteouts get it as their mtime. */
  sourceDateEpoch?: number;
  /** Extended attributes to leave out (besides overlay bookkeeping). */
  skipXattr?: (name: string) => boolean;
}
