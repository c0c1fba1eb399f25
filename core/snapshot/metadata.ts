/**
 * The metadata of a snapshotter: one SQLite database (`node:sqlite`, WAL, `BEGIN IMMEDIATE`
 * transactions with a busy timeout) holding a row per snapshot, so several img processes
 * can share one snapshotter root. Each snapshotter keeps its own database in its own root
 * (`snapshots/<backend>/metadata.db`), so backends never see each other's snapshots.
 *
 * The crash-safety rules every snapshotter built on it follows: a snapshot's row is written
 * before its directory and removed before it, so a killed process leaves at worst an active
 * snapshot (committing is one transaction, never half done) or a directory without a row,
 * which {@linkcode SnapshotMetadata.orphans} finds for the next process to remove.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { ImgError, NotFoundError } from "../errors.ts";
import { enableWal } from "../state/wal.ts";
import type { SnapshotInfo, SnapshotKind, SnapshotUsage } from "../snapshotter.ts";

/** Thrown when a snapshot key is already taken. */
export class SnapshotExistsError extends ImgError {
  /** Creates the error for `key`. */
  constructor(key: string) {
    super(`Snapshot "${key}" already exists; use another key or remove it first`);
    this.name = "SnapshotExistsError";
  }
}

/** One snapshot as the metadata records it. */
export interface SnapshotRecord {
  /** The snapshot's number: its directory's name, never reused. */
  id: number;
  /** The snapshot's key. */
  key: string;
  /** The parent's number, if any. */
  parentId: number | null;
  /** The parent's key, if any. */
  parentKey: string | null;
  /** Active, view or committed. */
  kind: SnapshotKind;
  /** Creation time, milliseconds since the epoch. */
  created: number;
  /** The labels. */
  labels: Record<string, string>;
  /** The usage recorded when it was committed. */
  usage?: SnapshotUsage;
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

function record(row: Row): SnapshotRecord {
  const out: SnapshotRecord = {
    id: row.id,
    key: row.key,
    parentId: row.parent_id,
    parentKey: row.parent_key,
    kind: row.kind,
    created: row.created,
    labels: JSON.parse(row.labels) as Record<string, string>,
  };
  if (row.size !== null && row.inodes !== null) out.usage = { size: row.size, inodes: row.inodes };
  return out;
}

/** The {@linkcode SnapshotInfo} of a record. */
export function snapshotInfo(rec: SnapshotRecord): SnapshotInfo {
  const out: SnapshotInfo = { key: rec.key, kind: rec.kind, created: new Date(rec.created) };
  if (rec.parentKey !== null) out.parent = rec.parentKey;
  if (Object.keys(rec.labels).length > 0) out.labels = { ...rec.labels };
  return out;
}

/** The snapshot table of one snapshotter root, shared safely between processes. */
export class SnapshotMetadata {
  readonly #db: DatabaseSync;

  /** Opens (creating if needed) the database at `path`. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path, { timeout: 30_000 });
    enableWal(this.#db);
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA foreign_keys = ON");
    this.transaction(() => this.#db.exec(SCHEMA));
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Runs `fn` in one `BEGIN IMMEDIATE` transaction, rolled back if it throws. */
  transaction<T>(fn: () => T): T {
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

  /** The snapshot `key`, or `undefined`. */
  find(key: string): SnapshotRecord | undefined {
    const row = this.#db.prepare(`${SELECT} WHERE s.key = ?`).get(key) as Row | undefined;
    return row ? record(row) : undefined;
  }

  /** The snapshot `key`; throws a NotFoundError if there is none. */
  get(key: string): SnapshotRecord {
    const rec = this.find(key);
    if (!rec) throw new NotFoundError(`Snapshot "${key}" does not exist`);
    return rec;
  }

  /** The snapshot numbered `id`, or `undefined`. */
  byId(id: number): SnapshotRecord | undefined {
    const row = this.#db.prepare(`${SELECT} WHERE s.id = ?`).get(id) as Row | undefined;
    return row ? record(row) : undefined;
  }

  /**
   * Records a new active snapshot or view `key` on the committed snapshot `parent`. Throws
   * a {@linkcode SnapshotExistsError} if `key` is taken, and an error if the parent does not
   * exist or is not committed.
   */
  create(
    kind: "active" | "view",
    key: string,
    parent: string | undefined,
    labels: Record<string, string> | undefined,
  ): SnapshotRecord {
    if (key === "") throw new ImgError("A snapshot key must not be empty");
    return this.transaction(() => {
      if (this.find(key)) throw new SnapshotExistsError(key);
      let parentId: number | null = null;
      if (parent !== undefined) {
        const p = this.find(parent);
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
      return this.find(key)!;
    });
  }

  /** Deletes the row of snapshot `id` (undoing a {@linkcode create} whose directory failed). */
  delete(id: number): void {
    this.transaction(() => this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(id));
  }

  /**
   * Commits the active snapshot `rec` as `name` in one transaction, merging `labels` into
   * its labels and recording `usage`. Fails if it changed since `rec` was read or `name` is
   * taken.
   */
  commit(
    rec: SnapshotRecord,
    name: string,
    labels: Record<string, string> | undefined,
    usage: SnapshotUsage,
  ): void {
    this.transaction(() => {
      const now = this.find(rec.key);
      if (!now || now.id !== rec.id || now.kind !== "active") {
        throw new ImgError(`Snapshot "${rec.key}" changed while it was committed; try again`);
      }
      if (name !== rec.key && this.find(name)) throw new SnapshotExistsError(name);
      const merged = { ...now.labels, ...labels };
      this.#db.prepare(
        "UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, size = ?, inodes = ? WHERE id = ?",
      ).run(name, JSON.stringify(merged), usage.size, usage.inodes, rec.id);
    });
  }

  /** Removes the row of snapshot `key` and returns it; refuses one that has children. */
  remove(key: string): SnapshotRecord {
    return this.transaction(() => {
      const rec = this.get(key);
      const children = this.#db.prepare("SELECT key FROM snapshots WHERE parent_id = ? LIMIT 4")
        .all(rec.id) as { key: string }[];
      if (children.length > 0) {
        const names = children.slice(0, 3).map((c) => `"${c.key}"`).join(", ");
        throw new ImgError(
          `Snapshot "${key}" has children (${names}${
            children.length > 3 ? ", ..." : ""
          }); remove them first`,
        );
      }
      this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(rec.id);
      return rec;
    });
  }

  /** Every snapshot, oldest first. */
  all(): SnapshotRecord[] {
    return (this.#db.prepare(`${SELECT} ORDER BY s.id`).all() as unknown as Row[]).map(record);
  }

  /** The numbers of the ancestors of snapshot `id`: its parent first, the base last. */
  ancestors(id: number): number[] {
    const rows = this.#db.prepare(
      `WITH RECURSIVE chain(id, parent_id, depth) AS (
         SELECT id, parent_id, 0 FROM snapshots WHERE id = ?
         UNION ALL
         SELECT s.id, s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent_id
       ) SELECT id FROM chain WHERE depth > 0 ORDER BY depth`,
    ).all(id) as { id: number }[];
    return rows.map((r) => r.id);
  }

  /**
   * The names in `dir` that are snapshot numbers without a row: left by a process killed
   * while removing. The directory is listed before the rows are read, and a row is always
   * written before its directory, so a snapshot being prepared by another process is never
   * taken for an orphan.
   */
  orphans(dir: string): number[] {
    const dirs: number[] = [];
    for (const e of Deno.readDirSync(dir)) {
      if (/^\d+$/.test(e.name)) dirs.push(Number(e.name));
    }
    if (dirs.length === 0) return [];
    const ids = new Set(
      (this.#db.prepare("SELECT id FROM snapshots").all() as { id: number }[]).map((r) => r.id),
    );
    return dirs.filter((id) => !ids.has(id));
  }
}
