/**
 * Rebuild records: what an `img build` produced, keyed by everything that decides its result
 * outside the state directory (arguments, environment, working directory, img itself), so
 * that the same build again with nothing changed can show its result without solving: the
 * CLI's fast path (`cli/rebuild.ts`) checks the record's stamps of the context and the
 * Dockerfile and that the image names it used and made still point where they did.
 *
 * Imported on its own (`@img/core/rebuild_records`), so that the fast path loads nothing else
 * of the state (no content store, no `node:` module but `node:sqlite`).
 *
 * Whatever removes or repoints what a record relies on (a cache record, a layer, an imported
 * cache record, an image name) drops every record, by triggers in the schema
 * (`core/state/db.ts`), so a record never outlives the results it names.
 *
 * @module
 */
import { StateDB } from "./db.ts";

/** The most records kept; the least recently used go first. */
export const MAX_REBUILD_RECORDS = 1000;

/** A step as the build showed it, replayed as cached (a base's metadata as done). */
export interface RecordedVertex {
  /** The vertex id of the progress events. */
  vertex: string;
  /** Its name (`[2/5] COPY a.txt .`). */
  name: string;
}

/** What a build produced and what it relied on. */
export interface RebuildRecord {
  /** The stamp of the context directory (`@img/core/tree_stamp`). */
  context: { dir: string; digest: string; racy: string[]; exclude: string[] };
  /** Files read outside the context (the Dockerfile, its .dockerignore): path -> sha256. */
  files: Record<string, string | null>;
  /** Image names the build resolved locally -> the digest each pointed to. */
  bases: Record<string, string>;
  /** Image names the build tagged -> the digest each points to. */
  names: Record<string, string>;
  /** `containerimage.digest` of the image exporter (`Successfully built ...`). */
  digest: string;
  /** The image ID (`-q`, `--iidfile`). */
  imageId: string;
  /** The progress to show, in order. */
  vertices: RecordedVertex[];
  /** The cache records the build used: `backend\0key`. */
  cache: string[];
  /** The imported cache records the build used (their keys). */
  imported: string[];
}

/** The state database of `stateDir` if there is one (no record without it), else `undefined`. */
export function openExistingState(stateDir: string): StateDB | undefined {
  try {
    Deno.statSync(`${stateDir}/img.db`);
  } catch {
    return undefined;
  }
  return new StateDB(`${stateDir}/img.db`);
}

/** The record for `key`, or `undefined`. */
export function readRebuildRecord(db: StateDB, key: string): RebuildRecord | undefined {
  const row = db.get<{ record: string }>("SELECT record FROM rebuild_records WHERE key = ?", key);
  return row ? JSON.parse(row.record) as RebuildRecord : undefined;
}

/** Stores `record` for `key`, dropping the least recently used beyond the bound. */
export function writeRebuildRecord(
  db: StateDB,
  key: string,
  record: RebuildRecord,
  now: number = Date.now(),
): void {
  db.transaction(() => {
    db.run(
      `INSERT INTO rebuild_records (key, record, created_at, last_used) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET record = excluded.record, last_used = excluded.last_used`,
      key,
      JSON.stringify(record),
      now,
      now,
    );
    db.run(
      `DELETE FROM rebuild_records WHERE key IN (
         SELECT key FROM rebuild_records ORDER BY last_used DESC LIMIT -1 OFFSET ?)`,
      MAX_REBUILD_RECORDS,
    );
  });
}

/**
 * Whether the image names of `record` still point where they did (its bases and the names it
 * tagged), as the build's result relies on.
 */
export function rebuildRecordHolds(db: StateDB, record: RebuildRecord): boolean {
  for (const names of [record.bases, record.names]) {
    for (const [name, digest] of Object.entries(names)) {
      const row = db.get<{ digest: string }>("SELECT digest FROM images WHERE name = ?", name);
      if (row?.digest !== digest) return false;
    }
  }
  return true;
}

/** Marks `record` and the cache records it used as used now (as a cached build would). */
export function touchRebuildRecord(
  db: StateDB,
  key: string,
  record: RebuildRecord,
  now: number = Date.now(),
): void {
  db.transaction(() => {
    db.run("UPDATE rebuild_records SET last_used = ? WHERE key = ?", now, key);
    for (const entry of record.cache) {
      const [backend, cacheKey] = entry.split("\0");
      db.run(
        "UPDATE cache SET last_used = ? WHERE backend = ? AND key = ?",
        now,
        backend,
        cacheKey,
      );
    }
    for (const k of record.imported) {
      db.run("UPDATE imported_cache SET last_used = ? WHERE key = ?", now, k);
    }
  });
}

/** The cache records and imported records used since `since` (epoch ms), for a record. */
export function cacheUsedSince(
  db: StateDB,
  since: number,
): { cache: string[]; imported: string[] } {
  return {
    cache: db.all<{ backend: string; key: string }>(
      "SELECT backend, key FROM cache WHERE last_used >= ?",
      since,
    ).map((r) => `${r.backend}\0${r.key}`),
    imported: db.all<{ key: string }>(
      "SELECT key FROM imported_cache WHERE last_used >= ?",
      since,
    ).map((r) => r.key),
  };
}
