/**
 * The storage shared by the overlay snapshotters (kernel overlayfs, fuse-overlayfs): every
 * snapshot is an upper directory `<root>/snapshots/<id>/fs` (with its overlay work directory
 * `<root>/snapshots/<id>/work` while it is active) on top of its ancestors' upper
 * directories, and its layer is written straight from its upper directory
 * ({@linkcode writeOverlayDiff}). The metadata, and its crash-safety rules, are
 * {@linkcode SnapshotMetadata}'s.
 *
 * A subclass decides how a snapshot is made visible: {@linkcode OverlayLayoutSnapshotter.overlayMounts}
 * gets the directories of an active snapshot or a view that needs an overlay and returns its
 * mounts (an `overlay` mount for the kernel, or a bind mount of a directory where it mounted
 * fuse-overlayfs itself); {@linkcode OverlayLayoutSnapshotter.release} undoes what it did
 * before the snapshot is committed or removed.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import { writeOverlayDiff } from "../layer/overlay_diff.ts";
import type {
  Mount,
  SnapshotDiffOptions,
  SnapshotInfo,
  Snapshotter,
  SnapshotUsage,
} from "../snapshotter.ts";
import type { Digest } from "../digest.ts";
import { snapshotInfo, SnapshotMetadata, type SnapshotRecord } from "./metadata.ts";
import { removeTree, removeTreeSync, treeUsage } from "./tree.ts";

/** The directories of a snapshot that needs an overlay to be seen. */
export interface OverlayDirs {
  /** The snapshot's record. */
  snapshot: SnapshotRecord;
  /** The lower directories, topmost (the parent) first; at least one. */
  lowers: string[];
  /** The upper directory of an active snapshot; none for a view (read-only). */
  upper?: string;
  /** The work directory of an active snapshot. */
  work?: string;
  /** An empty directory of the snapshot's own, where a subclass may mount it. */
  mountpoint: string;
}

/** Options of {@linkcode OverlayLayoutSnapshotter}. */
export interface OverlayLayoutOptions {
  /** Receives debug lines. */
  debug?: (message: string) => void;
}

/** An overlay-style snapshotter: upper directories stacked on their ancestors'. */
export abstract class OverlayLayoutSnapshotter implements Snapshotter {
  /** The backend name. */
  abstract readonly name: string;
  /** The directory holding `metadata.db` and `snapshots/`. */
  readonly root: string;
  /** The metadata. */
  protected readonly meta: SnapshotMetadata;
  /** Receives debug lines. */
  protected readonly debug: (message: string) => void;

  /**
   * Opens (creating if needed) the snapshotter at `root` and removes the directories that a
   * killed process left without metadata.
   */
  constructor(root: string, options: OverlayLayoutOptions = {}) {
    this.root = root;
    this.debug = options.debug ?? (() => {});
    Deno.mkdirSync(`${root}/snapshots`, { recursive: true, mode: 0o700 });
    this.meta = new SnapshotMetadata(`${root}/metadata.db`);
    for (const id of this.meta.orphans(`${root}/snapshots`)) {
      this.debug(`snapshotter: removing orphaned snapshot directory ${root}/snapshots/${id}`);
      removeTreeSync(`${root}/snapshots/${id}`);
    }
  }

  /** Returns the mounts of a snapshot that needs an overlay (see {@linkcode OverlayDirs}). */
  protected abstract overlayMounts(dirs: OverlayDirs): Promise<Mount[]>;

  /** Undoes what {@linkcode overlayMounts} did, before a commit or a removal. */
  protected abstract release(snapshot: SnapshotRecord): Promise<void>;

  /** Closes the metadata database. */
  close(): void {
    this.meta.close();
  }

  /** Creates the active snapshot `key` on the committed snapshot `parent`; returns its mounts. */
  async prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    const rec = await this.#create("active", key, parent, labels);
    try {
      return await this.#mounts(rec);
    } catch (e) {
      await this.remove(key).catch(() => {});
      throw e;
    }
  }

  /** Creates the read-only view `key` of the committed snapshot `parent`; returns its mounts. */
  async view(key: string, parent?: string): Promise<Mount[]> {
    const rec = await this.#create("view", key, parent, undefined);
    try {
      return await this.#mounts(rec);
    } catch (e) {
      await this.remove(key).catch(() => {});
      throw e;
    }
  }

  /** The mounts of an active snapshot or a view. */
  async mounts(key: string): Promise<Mount[]> {
    return await this.#mounts(this.meta.get(key));
  }

  /**
   * Commits the active snapshot `key` as `name`. Its usage (its upper directory's) is
   * computed once; the commit itself is one transaction.
   */
  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    const rec = this.meta.get(key);
    if (rec.kind !== "active") {
      throw new ImgError(
        `Snapshot "${key}" is ${rec.kind}, not active: only an active snapshot can be committed`,
      );
    }
    await this.release(rec);
    const usage = await treeUsage(this.upperDir(rec.id));
    this.meta.commit(rec, name, labels, usage);
    // The work directory only serves mounts of an active snapshot.
    await removeTree(`${this.root}/snapshots/${rec.id}/work`).catch(() => {});
  }

  /** Removes a snapshot of any kind; refuses one that has children (snapshots or views). */
  async remove(key: string): Promise<void> {
    const rec = this.meta.get(key);
    await this.release(rec);
    const removed = this.meta.remove(key);
    await removeTree(`${this.root}/snapshots/${removed.id}`);
  }

  /** The snapshot's info, or `undefined` if there is no snapshot `key`. */
  // deno-lint-ignore require-await
  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const rec = this.meta.find(key);
    return rec ? snapshotInfo(rec) : undefined;
  }

  /**
   * Disk usage of the snapshot's own upper directory (what it changed), computed once when
   * it is committed; a view uses nothing.
   */
  async usage(key: string): Promise<SnapshotUsage> {
    const rec = this.meta.get(key);
    if (rec.kind === "view") return { size: 0, inodes: 0 };
    if (rec.kind === "committed" && rec.usage) return rec.usage;
    return await treeUsage(this.upperDir(rec.id));
  }

  /** Every snapshot, oldest first. */
  async *walk(): AsyncIterable<SnapshotInfo> {
    for (const rec of this.meta.all()) yield snapshotInfo(rec);
  }

  /**
   * Writes the layer of the committed snapshot `key` from its upper directory, overlay
   * whiteouts and opaque directories turned into OCI whiteouts.
   */
  async diff(
    key: string,
    out: WritableStream<Uint8Array>,
    options: SnapshotDiffOptions = {},
  ): Promise<{ diffID: Digest; size: number }> {
    const rec = this.meta.get(key);
    if (rec.kind !== "committed") {
      await out.abort().catch(() => {});
      throw new ImgError(`Snapshot "${key}" is ${rec.kind}: commit it before making its layer`);
    }
    return await writeOverlayDiff(this.upperDir(rec.id), out, options);
  }

  /** The upper directory of snapshot number `id`. */
  protected upperDir(id: number): string {
    return `${this.root}/snapshots/${id}/fs`;
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent: string | undefined,
    labels: Record<string, string> | undefined,
  ): Promise<SnapshotRecord> {
    const rec = this.meta.create(kind, key, parent, labels);
    const dir = `${this.root}/snapshots/${rec.id}`;
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      await Deno.mkdir(`${dir}/fs`);
      await Deno.chmod(`${dir}/fs`, 0o755);
      if (kind === "active" && rec.parentId !== null) await Deno.mkdir(`${dir}/work`);
    } catch (e) {
      this.meta.delete(rec.id);
      await removeTree(dir).catch(() => {});
      throw e;
    }
    return rec;
  }

  async #mounts(rec: SnapshotRecord): Promise<Mount[]> {
    if (rec.kind === "committed") {
      throw new ImgError(
        `Snapshot "${rec.key}" is committed and has no mounts; create a view of it to read it`,
      );
    }
    const dir = `${this.root}/snapshots/${rec.id}`;
    if (rec.parentId === null) {
      // Nothing below: the upper directory is the whole tree.
      return [{
        type: "bind",
        source: `${dir}/fs`,
        options: ["rbind", rec.kind === "active" ? "rw" : "ro"],
      }];
    }
    const lowers = [rec.parentId, ...this.meta.ancestors(rec.parentId)].map((id) =>
      this.upperDir(id)
    );
    if (rec.kind === "view" && lowers.length === 1) {
      return [{ type: "bind", source: lowers[0], options: ["rbind", "ro"] }];
    }
    const mountpoint = `${dir}/merged`;
    await Deno.mkdir(mountpoint, { recursive: true });
    return await this.overlayMounts(
      rec.kind === "active"
        ? { snapshot: rec, lowers, upper: `${dir}/fs`, work: `${dir}/work`, mountpoint }
        : { snapshot: rec, lowers, mountpoint },
    );
  }
}

/** Escapes a directory for an overlay `lowerdir` list (`\`, `:` and `,`). */
export function escapeOverlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}
