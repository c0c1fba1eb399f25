/**
 * The native snapshotter: every snapshot is a plain directory `<root>/snapshots/<id>/fs`,
 * and preparing a snapshot on a parent copies the parent's tree (`copyTree` of `@img/core`), as
 * containerd's `native` snapshotter does. It works everywhere, needs no mount, and is the
 * slowest backend: overlayfs shares the parent instead of copying it.
 *
 * Metadata lives in `<root>/metadata.db` (SQLite through `node:sqlite`, WAL, `BEGIN
 * IMMEDIATE` transactions with a busy timeout), so several img processes can use one root at
 * once. A snapshot's row is written before its directory and removed before it, so a killed
 * process leaves at worst an active snapshot (never one that looks committed: committing is
 * one transaction) or a directory without a row, which the next open removes.
 *
 * @module
 */
import {
  copyTree,
  ImgError,
  type Mount,
  removeTree,
  type SnapshotInfo,
  type Snapshotter,
  type SnapshotUsage,
  treeUsage,
} from "@img/core";
import {
  removeTreeSync,
  SnapshotExistsError,
  snapshotInfo,
  SnapshotMetadata,
  type SnapshotRecord,
} from "@img/core/snapshot";

export { SnapshotExistsError };

/** Options of {@linkcode NativeSnapshotter}. */
export interface NativeSnapshotterOptions {
  /** Receives debug lines (skipped device nodes, orphans removed). */
  debug?: (message: string) => void;
  /** Copy owners when preparing; default: when running as uid 0 (e.g. in the user namespace). */
  sameOwner?: boolean;
}

/** A copy-based snapshotter rooted at a directory. */
export class NativeSnapshotter implements Snapshotter {
  /** Always `native`. */
  readonly name = "native";
  /** The directory holding `metadata.db` and `snapshots/`. */
  readonly root: string;
  readonly #meta: SnapshotMetadata;
  readonly #debug: (message: string) => void;
  readonly #sameOwner: boolean | undefined;

  /**
   * Opens (creating if needed) the snapshotter at `root` and removes the directories that a
   * killed process left without metadata.
   */
  constructor(root: string, options: NativeSnapshotterOptions = {}) {
    this.root = root;
    this.#debug = options.debug ?? (() => {});
    this.#sameOwner = options.sameOwner;
    Deno.mkdirSync(`${root}/snapshots`, { recursive: true, mode: 0o700 });
    this.#meta = new SnapshotMetadata(`${root}/metadata.db`);
    for (const id of this.#meta.orphans(`${root}/snapshots`)) {
      this.#debug(`native snapshotter: removing orphaned snapshot directory ${id}`);
      removeTreeSync(`${root}/snapshots/${id}`);
    }
  }

  /** Closes the metadata database. */
  close(): void {
    this.#meta.close();
  }

  /**
   * Creates the active snapshot `key` holding a copy of the committed snapshot `parent`
   * (an empty tree without one) and returns its bind mount.
   */
  async prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    const row = await this.#create("active", key, parent, labels);
    return this.#mounts(row);
  }

  /**
   * Creates the view `key` of the committed snapshot `parent` and returns a read-only bind
   * mount of it. A committed snapshot never changes, so a view shares its parent's tree
   * instead of copying it (the parent cannot be removed while the view exists).
   */
  async view(key: string, parent?: string): Promise<Mount[]> {
    const row = await this.#create("view", key, parent, undefined);
    return this.#mounts(row);
  }

  /** The bind mount of an active snapshot (read-write) or a view (read-only). */
  // deno-lint-ignore require-await
  async mounts(key: string): Promise<Mount[]> {
    return this.#mounts(this.#meta.get(key));
  }

  /**
   * The directory holding the tree of snapshot `key`, of any kind (for a view, its parent's).
   * Nothing may write into a committed snapshot's directory.
   */
  dir(key: string): string {
    return this.#tree(this.#meta.get(key));
  }

  /**
   * Commits the active snapshot `key` as `name`: from then on it is immutable and may be a
   * parent. Its labels are the active snapshot's, updated with `labels`. Its usage is
   * computed here, once. The commit itself is one transaction: a killed process leaves either
   * the active snapshot or the committed one.
   */
  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    const row = this.#meta.get(key);
    if (row.kind !== "active") {
      throw new ImgError(
        `Snapshot "${key}" is ${row.kind}, not active: only an active snapshot can be committed`,
      );
    }
    const usage = await treeUsage(this.#fs(row.id));
    this.#meta.commit(row, name, labels, usage);
  }

  /** Removes a snapshot of any kind; refuses one that has children (snapshots or views). */
  async remove(key: string): Promise<void> {
    const row = this.#meta.remove(key);
    await removeTree(`${this.root}/snapshots/${row.id}`);
  }

  /** The snapshot's info, or `undefined` if there is no snapshot `key`. */
  // deno-lint-ignore require-await
  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const row = this.#meta.find(key);
    return row ? snapshotInfo(row) : undefined;
  }

  /**
   * Disk usage of the snapshot: allocated blocks (`st_blocks * 512`) and inodes, each inode
   * counted once. A native snapshot is a full copy, so this is its **whole tree**, parents'
   * files included, not only what changed; a view shares its parent's tree and uses nothing.
   * A committed snapshot's usage is computed once, when it is committed.
   */
  async usage(key: string): Promise<SnapshotUsage> {
    const row = this.#meta.get(key);
    if (row.kind === "view") return { size: 0, inodes: 0 };
    if (row.kind === "committed" && row.usage) return row.usage;
    return await treeUsage(this.#fs(row.id));
  }

  /** Every snapshot, oldest first. */
  async *walk(): AsyncIterable<SnapshotInfo> {
    for (const row of this.#meta.all()) yield snapshotInfo(row);
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent: string | undefined,
    labels: Record<string, string> | undefined,
  ): Promise<SnapshotRecord> {
    const row = this.#meta.create(kind, key, parent, labels);
    const dir = `${this.root}/snapshots/${row.id}`;
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      if (kind === "active" && row.parentId !== null) {
        await copyTree(this.#fs(row.parentId), this.#fs(row.id), {
          sameOwner: this.#sameOwner,
          onWarning: this.#debug,
        });
      } else {
        await Deno.mkdir(this.#fs(row.id));
        await Deno.chmod(this.#fs(row.id), 0o755);
      }
    } catch (e) {
      this.#meta.delete(row.id);
      await removeTree(dir).catch(() => {});
      throw e;
    }
    return row;
  }

  #mounts(row: SnapshotRecord): Mount[] {
    if (row.kind === "committed") {
      throw new ImgError(
        `Snapshot "${row.key}" is committed and has no mounts; create a view of it to read it`,
      );
    }
    return [{
      type: "bind",
      source: this.#tree(row),
      options: ["rbind", row.kind === "active" ? "rw" : "ro"],
    }];
  }

  #tree(row: SnapshotRecord): string {
    return this.#fs(row.kind === "view" && row.parentId !== null ? row.parentId : row.id);
  }

  #fs(id: number): string {
    return `${this.root}/snapshots/${id}/fs`;
  }
}
