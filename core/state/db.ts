/**
 * The state database: SQLite through `node:sqlite`, in WAL mode with a busy timeout, so
 * several img processes can share one state directory. The schema is versioned and migrated
 * forward when opened.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { ImgError } from "../errors.ts";
import { enableWal } from "./wal.ts";

/** Schema migrations; migration `i` brings the schema from version `i` to `i + 1`. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE images (
     name TEXT PRIMARY KEY,
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size INTEGER NOT NULL,
     platform TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX images_digest ON images(digest);`,
  // Build cache: a vertex's cache key -> the committed snapshot holding its result, and the
  // layer blob made from each snapshot (per snapshotter backend).
  `CREATE TABLE cache (
     backend TEXT NOT NULL,
     key TEXT NOT NULL,
     snapshot TEXT NOT NULL,
     description TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used INTEGER NOT NULL,
     PRIMARY KEY (backend, key)
   );
   CREATE INDEX cache_snapshot ON cache(backend, snapshot);
   CREATE TABLE layers (
     backend TEXT NOT NULL,
     snapshot TEXT NOT NULL,
     diff_id TEXT NOT NULL,
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size INTEGER NOT NULL,
     PRIMARY KEY (backend, snapshot)
   );`,
  // Leases: what running builds use (snapshots, blobs), so a prune leaves it alone; and what a
  // prune is removing right now, so a build does not start using it.
  `CREATE TABLE leases (
     id TEXT PRIMARY KEY,
     pid INTEGER NOT NULL,
     started_at INTEGER NOT NULL
   );
   CREATE TABLE lease_refs (
     lease TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
     kind TEXT NOT NULL,
     ref TEXT NOT NULL,
     PRIMARY KEY (lease, kind, ref)
   );
   CREATE INDEX lease_refs_ref ON lease_refs(kind, ref);
   CREATE TABLE doomed (
     kind TEXT NOT NULL,
     ref TEXT NOT NULL,
     pid INTEGER NOT NULL,
     PRIMARY KEY (kind, ref)
   );`,
  // Layer records per variant, so the gzip and zstd blobs of one snapshot (and those made with
  // mtimes clamped to a SOURCE_DATE_EPOCH) coexist. A pulled layer's blob is the variant
  // `pulled`, reused as it is unless an export forces another compression. Records of built
  // snapshots from before are dropped: they did not say how they were made (their blobs stay
  // until a prune, and are made again when needed).
  `CREATE TABLE layer_variants (
     backend TEXT NOT NULL,
     snapshot TEXT NOT NULL,
     variant TEXT NOT NULL,
     diff_id TEXT NOT NULL,
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size INTEGER NOT NULL,
     PRIMARY KEY (backend, snapshot, variant)
   );
   INSERT INTO layer_variants (backend, snapshot, variant, diff_id, digest, media_type, size)
     SELECT backend, snapshot, 'pulled', diff_id, digest, media_type, size FROM layers
     WHERE snapshot LIKE 'layer-%';
   DROP TABLE layers;
   ALTER TABLE layer_variants RENAME TO layers;
   CREATE INDEX layers_digest ON layers(digest);`,
  // Cache records imported with `--cache-from` that a build used: the step's key, its layers
  // (fetched only when needed) and the source they come from, so `img du`/`img prune` see them
  // and later builds in this state reuse them.
  `CREATE TABLE imported_cache (
     key TEXT PRIMARY KEY,
     description TEXT NOT NULL,
     source TEXT NOT NULL,
     layers TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used INTEGER NOT NULL
   );`,
  // Content digests of local context files, so an unchanged file is not read again by a later
  // build (core/solver/hash_cache.ts): one row per file of each context directory, valid while
  // the file's (dev, inode, size, mtime, ctime) stay those recorded.
  `CREATE TABLE context_hashes (
     context TEXT NOT NULL,
     path TEXT NOT NULL,
     dev INTEGER NOT NULL,
     ino INTEGER NOT NULL,
     size INTEGER NOT NULL,
     mtime_ns INTEGER NOT NULL,
     ctime_ns INTEGER NOT NULL,
     digest TEXT NOT NULL,
     recorded_ns INTEGER NOT NULL,
     PRIMARY KEY (context, path)
   );
   CREATE INDEX context_hashes_recorded ON context_hashes(recorded_ns);`,
  // Remote blobs (see core/image/remote_blobs.ts): layer blobs an image record or a build
  // needs that the content store does not hold yet, and the repositories known to have them.
  `CREATE TABLE blob_sources (
     digest TEXT NOT NULL,
     domain TEXT NOT NULL,
     repository TEXT NOT NULL,
     recorded_at INTEGER NOT NULL,
     PRIMARY KEY (digest, domain, repository)
   );`,
  // Rebuild records (core/state/rebuild_records.ts): what an `img build` with these
  // arguments produced, for the fast path of a rebuild with nothing changed. Whatever removes
  // or repoints what a record relies on (cache records, layers, image names) drops them all.
  `CREATE TABLE rebuild_records (
     key TEXT PRIMARY KEY,
     record TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used INTEGER NOT NULL
   );
   CREATE INDEX rebuild_records_last_used ON rebuild_records(last_used);
   CREATE TRIGGER rebuild_records_cache AFTER DELETE ON cache
     BEGIN DELETE FROM rebuild_records; END;
   CREATE TRIGGER rebuild_records_layers AFTER DELETE ON layers
     BEGIN DELETE FROM rebuild_records; END;
   CREATE TRIGGER rebuild_records_imported AFTER DELETE ON imported_cache
     BEGIN DELETE FROM rebuild_records; END;
   CREATE TRIGGER rebuild_records_images_deleted AFTER DELETE ON images
     BEGIN DELETE FROM rebuild_records; END;
   CREATE TRIGGER rebuild_records_images_repointed AFTER UPDATE OF digest ON images
     WHEN OLD.digest <> NEW.digest
     BEGIN DELETE FROM rebuild_records; END;`,
];

/** The schema version this img writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** A row value. */
export type Row = Record<string, SQLInputValue>;

/** The SQLite state database. */
export class StateDB {
  /** The underlying connection. */
  readonly db: DatabaseSync;

  /** Opens (creating and migrating if needed) the database at `path`. */
  constructor(path: string) {
    this.db = new DatabaseSync(path, { timeout: 30_000 });
    enableWal(this.db);
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA foreign_keys = ON");
    this.#migrate(path);
  }

  #migrate(path: string): void {
    const current = this.#version();
    if (current === SCHEMA_VERSION) return;
    if (current > SCHEMA_VERSION) {
      throw new ImgError(
        `State database ${path} has schema version ${current}, newer than this img supports (${SCHEMA_VERSION}): upgrade img`,
      );
    }
    this.transaction(() => {
      // Another process may have migrated while we waited for the lock.
      for (let v = this.#version(); v < SCHEMA_VERSION; v++) {
        this.db.exec(MIGRATIONS[v]);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      }
    });
  }

  #version(): number {
    const row = this.db.prepare("PRAGMA user_version").get() as { user_version: number };
    return row.user_version;
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction (taking the write lock at once, waiting up to
   * the busy timeout for other processes), committing if it returns and rolling back if it throws.
   */
  transaction<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Runs a statement and returns the number of rows changed. */
  run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.db.prepare(sql).run(...params).changes);
  }

  /** Returns the first row of a query, or `undefined`. */
  get<T = Row>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.db.prepare(sql).get(...params) as T | undefined;
  }

  /** Returns every row of a query. */
  all<T = Row>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  /** Closes the connection. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
