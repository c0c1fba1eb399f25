/**
 * The native snapshotter: every snapshot is a plain directory `<root>/snapshots/<id>/fs`,
 * and preparing a snapshot on a parent copies the parent's tree (see `_copy.ts`), as
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
import { DatabaseSync } from "node:sqlite";
import {
  ImgError,
  type Mount,
  NotFoundError,
  type SnapshotInfo,
  type SnapshotKind,
  type Snapshotter,
  type SnapshotUsage,
} from "@img/core";
import { copyTree } from "./_copy.ts";

/** Options of {@linkcode NativeSnapshotter}. */
export interface NativeSnapshotterOptions {
  /** Receives debug lines (skipped device nodes, orphans removed). */
  debug?: (message: string) => void;
  /** Copy owners when preparing; default: when running as uid 0 (e.g. in the user namespace). */
  sameOwner?: boolean;
}

/** Thrown when a snapshot key is already taken. */
export class SnapshotExistsError extends ImgError {
  /** Creates the error for `key`. */
  constructor(key: string) {
    super(`Snapshot "${key}" already exists; use another key or remove it first`);
    this.name = "SnapshotExistsError";
  }
}

interface Row {
  id: number;
  key: string;
  parent_id: number | null;
  parent_key: string | null;
  kind: SnapshotKind;
  created: number;
  labels: string;
  size: number | null;
  inodes: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES snapshots(id),
    kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
    created INTEGER NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    size INTEGER,
    inodes INTEGER
  );
  CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent_id);
`;

const SELECT = `SELECT s.id, s.key, s.parent_id, p.key AS parent_key, s.kind, s.created,
  s.labels, s.size, s.inodes FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`;

/** A copy-based snapshotter rooted at a directory. */
export class NativeSnapshotter implements Snapshotter {
  /** Always `native`. */
  readonly name = "native";
  /** The directory holding `metadata.db` and `snapshots/`. */
  readonly root: string;
  readonly #db: DatabaseSync;
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
    this.#db = new DatabaseSync(`${root}/metadata.db`, { timeout: 30_000 });
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA foreign_keys = ON");
    this.#tx(() => this.#db.exec(SCHEMA));
    this.#removeOrphans();
  }

  /** Closes the metadata database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
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
    return this.#mounts(this.#get(key));
  }

  /**
   * The directory holding the tree of snapshot `key`, of any kind (for a view, its parent's).
   * Nothing may write into a committed snapshot's directory.
   */
  dir(key: string): string {
    return this.#tree(this.#get(key));
  }

  /**
   * Commits the active snapshot `key` as `name`: from then on it is immutable and may be a
   * parent. Its labels are the active snapshot's, updated with `labels`. Its usage is
   * computed here, once. The commit itself is one transaction: a killed process leaves either
   * the active snapshot or the committed one.
   */
  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    const row = this.#get(key);
    if (row.kind !== "active") {
      throw new ImgError(
        `Snapshot "${key}" is ${row.kind}, not active: only an active snapshot can be committed`,
      );
    }
    const usage = await diskUsage(this.#fs(row.id));
    this.#tx(() => {
      const now = this.#row(key);
      if (!now || now.id !== row.id || now.kind !== "active") {
        throw new ImgError(`Snapshot "${key}" changed while it was committed; try again`);
      }
      if (name !== key && this.#row(name)) throw new SnapshotExistsError(name);
      const merged = { ...JSON.parse(row.labels), ...labels };
      this.#db.prepare(
        "UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, size = ?, inodes = ? WHERE id = ?",
      ).run(name, JSON.stringify(merged), usage.size, usage.inodes, row.id);
    });
  }

  /** Removes a snapshot of any kind; refuses one that has children (snapshots or views). */
  async remove(key: string): Promise<void> {
    const row = this.#tx(() => {
      const row = this.#row(key);
      if (!row) throw new NotFoundError(`Snapshot "${key}" does not exist`);
      const children = this.#db.prepare("SELECT key FROM snapshots WHERE parent_id = ? LIMIT 4")
        .all(row.id) as { key: string }[];
      if (children.length > 0) {
        const names = children.slice(0, 3).map((c) => `"${c.key}"`).join(", ");
        throw new ImgError(
          `Snapshot "${key}" has children (${names}${
            children.length > 3 ? ", ..." : ""
          }); remove them first`,
        );
      }
      this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(row.id);
      return row;
    });
    await removeTree(`${this.root}/snapshots/${row.id}`);
  }

  /** The snapshot's info, or `undefined` if there is no snapshot `key`. */
  // deno-lint-ignore require-await
  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const row = this.#row(key);
    return row ? info(row) : undefined;
  }

  /**
   * Disk usage of the snapshot: allocated blocks (`st_blocks * 512`) and inodes, each inode
   * counted once. A native snapshot is a full copy, so this is its **whole tree**, parents'
   * files included, not only what changed; a view shares its parent's tree and uses nothing.
   * A committed snapshot's usage is computed once, when it is committed.
   */
  async usage(key: string): Promise<SnapshotUsage> {
    const row = this.#get(key);
    if (row.kind === "view") return { size: 0, inodes: 0 };
    if (row.kind === "committed" && row.size !== null && row.inodes !== null) {
      return { size: row.size, inodes: row.inodes };
    }
    return await diskUsage(this.#fs(row.id));
  }

  /** Every snapshot, oldest first. */
  async *walk(): AsyncIterable<SnapshotInfo> {
    const rows = this.#db.prepare(`${SELECT} ORDER BY s.id`).all() as unknown as Row[];
    for (const row of rows) yield info(row);
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent: string | undefined,
    labels: Record<string, string> | undefined,
  ): Promise<Row> {
    if (key === "") throw new ImgError("A snapshot key must not be empty");
    const row = this.#tx(() => {
      if (this.#row(key)) throw new SnapshotExistsError(key);
      let parentId: number | null = null;
      if (parent !== undefined) {
        const p = this.#row(parent);
        if (!p) throw new NotFoundError(`Parent snapshot "${parent}" does not exist`);
        if (p.kind !== "committed") {
          throw new ImgError(
            `Parent snapshot "${parent}" is ${p.kind}: commit it before using it as a parent`,
          );
        }
        parentId = p.id;
      }
      this.#db.prepare(
        "INSERT INTO snapshots (key, parent_id, kind, created, labels) VALUES (?, ?, ?, ?, ?)",
      ).run(key, parentId, kind, Date.now(), JSON.stringify(labels ?? {}));
      return this.#row(key)!;
    });
    const dir = `${this.root}/snapshots/${row.id}`;
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      if (kind === "active" && row.parent_id !== null) {
        await copyTree(this.#fs(row.parent_id), this.#fs(row.id), {
          sameOwner: this.#sameOwner,
          onWarning: this.#debug,
        });
      } else {
        await Deno.mkdir(this.#fs(row.id));
        await Deno.chmod(this.#fs(row.id), 0o755);
      }
    } catch (e) {
      this.#tx(() => this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(row.id));
      await removeTree(dir).catch(() => {});
      throw e;
    }
    return row;
  }

  #mounts(row: Row): Mount[] {
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

  #tree(row: Row): string {
    return this.#fs(row.kind === "view" && row.parent_id !== null ? row.parent_id : row.id);
  }

  #fs(id: number): string {
    return `${this.root}/snapshots/${id}/fs`;
  }

  #row(key: string): Row | undefined {
    return this.#db.prepare(`${SELECT} WHERE s.key = ?`).get(key) as Row | undefined;
  }

  #get(key: string): Row {
    const row = this.#row(key);
    if (!row) throw new NotFoundError(`Snapshot "${key}" does not exist`);
    return row;
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Removes snapshot directories without a row: left by a process killed while removing.
   * Directories are listed before rows are read, and a row is always written before its
   * directory, so a snapshot being prepared by another process is never taken for an orphan.
   */
  #removeOrphans(): void {
    const dirs: number[] = [];
    for (const e of Deno.readDirSync(`${this.root}/snapshots`)) {
      if (/^\d+$/.test(e.name)) dirs.push(Number(e.name));
    }
    if (dirs.length === 0) return;
    const ids = new Set(
      (this.#db.prepare("SELECT id FROM snapshots").all() as { id: number }[]).map((r) => r.id),
    );
    for (const id of dirs) {
      if (ids.has(id)) continue;
      this.#debug(`native snapshotter: removing orphaned snapshot directory ${id}`);
      removeTreeSync(`${this.root}/snapshots/${id}`);
    }
  }
}

function info(row: Row): SnapshotInfo {
  const out: SnapshotInfo = { key: row.key, kind: row.kind, created: new Date(row.created) };
  if (row.parent_key !== null) out.parent = row.parent_key;
  const labels = JSON.parse(row.labels) as Record<string, string>;
  if (Object.keys(labels).length > 0) out.labels = labels;
  return out;
}

/** Allocated bytes and inodes of a tree, each inode counted once (as `du`). */
async function diskUsage(dir: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = async (path: string) => {
    const st = await Deno.lstat(path);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += (st.blocks ?? Math.ceil(st.size / 512)) * 512;
    }
    if (st.isDirectory) {
      for await (const e of Deno.readDir(path)) await visit(`${path}/${e.name}`);
    }
  };
  await visit(dir);
  return { size, inodes: seen.size };
}

/** Removes a tree, making read-only directories writable when that is what stops it. */
async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    removeTreeSync(path);
  }
}

function removeTreeSync(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  const unlock = (dir: string) => {
    try {
      Deno.chmodSync(dir, 0o700);
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) unlock(`${dir}/${e.name}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  unlock(path);
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
