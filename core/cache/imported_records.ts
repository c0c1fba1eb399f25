/**
 * The imported cache records a state dir keeps: each `--cache-from` record a build used (its
 * step's key, its layers, the source they come from), so `img du` lists them, `img prune`
 * removes them, and later builds in the same state reuse them, fetching their layers from the
 * source only when a step needs the files. A removed record is simply a cache miss.
 *
 * @module
 */
import { formatReference, parseReference } from "../reference.ts";
import type { CacheLayer, ImportedCacheRecord } from "../solver.ts";
import type { StateDB } from "../state/db.ts";
import type { CacheImportSpec } from "./spec.ts";

/** An imported cache record as the state dir keeps it. */
export interface StoredImportedRecord extends ImportedCacheRecord {
  /** Where its layers come from. */
  source: CacheImportSpec;
  /** When a build first used it. */
  createdAt: Date;
  /** When a build last used it. */
  lastUsedAt: Date;
}

interface Row {
  key: string;
  description: string;
  source: string;
  layers: string;
  created_at: number;
  last_used: number;
}

/** `spec` as the state stores it (JSON, the reference as text). */
function encodeSource(spec: CacheImportSpec): string {
  return JSON.stringify(
    spec.type === "registry" ? { type: "registry", ref: formatReference(spec.ref) } : spec,
  );
}

function decodeSource(text: string): CacheImportSpec {
  const raw = JSON.parse(text);
  return raw.type === "registry"
    ? { type: "registry", ref: parseReference(raw.ref) }
    : { type: "local", src: raw.src, tag: raw.tag };
}

function fromRow(row: Row): StoredImportedRecord {
  return {
    key: row.key,
    description: row.description,
    layers: JSON.parse(row.layers) as CacheLayer[],
    source: decodeSource(row.source),
    createdAt: new Date(row.created_at),
    lastUsedAt: new Date(row.last_used),
  };
}

/** How a cache source is named in messages and `img du` (`REG/REPO:TAG`, `DIR (tag T)`). */
export function describeCacheSource(spec: CacheImportSpec): string {
  return spec.type === "registry" ? formatReference(spec.ref) : `${spec.src} (tag ${spec.tag})`;
}

/** Records that a build used `record` from `source` now (a record already kept is touched). */
export function rememberImportedRecord(
  db: StateDB,
  record: ImportedCacheRecord,
  source: CacheImportSpec,
): void {
  const now = Date.now();
  db.run(
    `INSERT INTO imported_cache (key, description, source, layers, created_at, last_used)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET description = excluded.description,
       source = excluded.source, layers = excluded.layers, last_used = excluded.last_used`,
    record.key,
    record.description,
    encodeSource(source),
    JSON.stringify(record.layers.map((l) => ({ descriptor: l.descriptor, diffID: l.diffID }))),
    now,
    now,
  );
}

/** The kept record for `key`, touched as used now; `undefined` when there is none. */
export function useImportedRecord(db: StateDB, key: string): StoredImportedRecord | undefined {
  const row = db.get<Row>("SELECT * FROM imported_cache WHERE key = ?", key);
  if (!row) return undefined;
  db.run("UPDATE imported_cache SET last_used = ? WHERE key = ?", Date.now(), key);
  return fromRow(row);
}

/** Every kept record. */
export function listImportedRecords(db: StateDB): StoredImportedRecord[] {
  return db.all<Row>("SELECT * FROM imported_cache ORDER BY key").map(fromRow);
}

/** Forgets the record `key`; returns whether there was one. */
export function forgetImportedRecord(db: StateDB, key: string): boolean {
  return db.run("DELETE FROM imported_cache WHERE key = ?", key) > 0;
}
