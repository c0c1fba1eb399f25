/**
 * The build cache records in the state database: cache key -> committed snapshot, and
 * snapshot -> the layer blob made from it.
 *
 * @module
 */
import type { LayerCompression } from "../media_types.ts";
import type { StateDB } from "../state/db.ts";

/** A layer blob recorded for a snapshot. */
export interface LayerRecord {
  /** The blob's digest. */
  digest: string;
  /** The uncompressed tar's digest. */
  diffID: string;
  /** The blob's media type. */
  mediaType: string;
  /** The blob's size. */
  size: number;
}

/** A cache record. */
export interface CacheRecord {
  /** The cache key. */
  key: string;
  /** The committed snapshot. */
  snapshot: string;
  /** What made it (`RUN make`). */
  description: string;
  /** When it was made. */
  createdAt: Date;
  /** When a build last used it. */
  lastUsed: Date;
}

/** The cache records of one snapshotter backend. */
export class BuildCache {
  #db: StateDB;
  #backend: string;

  /** Opens the records of `backend`. */
  constructor(db: StateDB, backend: string) {
    this.#db = db;
    this.#backend = backend;
  }

  /** The snapshot recorded for `key`, marking it used. */
  lookup(key: string, now: number = Date.now()): string | undefined {
    const row = this.#db.get<{ snapshot: string }>(
      "SELECT snapshot FROM cache WHERE backend = ? AND key = ?",
      this.#backend,
      key,
    );
    if (row) {
      this.#db.run(
        "UPDATE cache SET last_used = ? WHERE backend = ? AND key = ?",
        now,
        this.#backend,
        key,
      );
    }
    return row?.snapshot;
  }

  /**
   * Records `snapshot` for `key`. If another process recorded one first, theirs wins and is
   * returned, so the caller can drop its own.
   */
  record(key: string, snapshot: string, description: string, now: number = Date.now()): string {
    return this.#db.transaction(() => {
      this.#db.run(
        `INSERT OR IGNORE INTO cache (backend, key, snapshot, description, created_at, last_used)
         VALUES (?, ?, ?, ?, ?, ?)`,
        this.#backend,
        key,
        snapshot,
        description,
        now,
        now,
      );
      return this.#db.get<{ snapshot: string }>(
        "SELECT snapshot FROM cache WHERE backend = ? AND key = ?",
        this.#backend,
        key,
      )!.snapshot;
    });
  }

  /** When the result for `key` was first recorded, if it is. */
  createdAt(key: string): Date | undefined {
    const row = this.#db.get<{ created_at: number }>(
      "SELECT created_at FROM cache WHERE backend = ? AND key = ?",
      this.#backend,
      key,
    );
    return row ? new Date(row.created_at) : undefined;
  }

  /** Forgets `key` (its snapshot is gone). */
  forget(key: string): void {
    this.#db.run("DELETE FROM cache WHERE backend = ? AND key = ?", this.#backend, key);
  }

  /** Every cache record. */
  list(): CacheRecord[] {
    return this.#db.all<
      { key: string; snapshot: string; description: string; created_at: number; last_used: number }
    >(
      "SELECT key, snapshot, description, created_at, last_used FROM cache WHERE backend = ?",
      this.#backend,
    ).map((r) => ({
      key: r.key,
      snapshot: r.snapshot,
      description: r.description,
      createdAt: new Date(r.created_at),
      lastUsed: new Date(r.last_used),
    }));
  }

  /**
   * The layer blob recorded for `snapshot` as `variant` (see {@linkcode layerVariant}; a
   * pulled layer's blob is the variant {@linkcode PULLED_VARIANT}).
   */
  layer(snapshot: string, variant: string): LayerRecord | undefined {
    const row = this.#db.get<{ digest: string; diff_id: string; media_type: string; size: number }>(
      `SELECT digest, diff_id, media_type, size FROM layers
       WHERE backend = ? AND snapshot = ? AND variant = ?`,
      this.#backend,
      snapshot,
      variant,
    );
    return row && toRecord(row);
  }

  /** Every layer blob recorded for `snapshot`, by variant. */
  layerVariants(snapshot: string): Map<string, LayerRecord> {
    const rows = this.#db.all<
      { variant: string; digest: string; diff_id: string; media_type: string; size: number }
    >(
      `SELECT variant, digest, diff_id, media_type, size FROM layers
       WHERE backend = ? AND snapshot = ? ORDER BY variant`,
      this.#backend,
      snapshot,
    );
    return new Map(rows.map((r) => [r.variant, toRecord(r)]));
  }

  /** Records the layer blob made from `snapshot` as `variant`. */
  recordLayer(snapshot: string, variant: string, layer: LayerRecord): void {
    this.#db.run(
      `INSERT OR REPLACE INTO layers (backend, snapshot, variant, diff_id, digest, media_type, size)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      this.#backend,
      snapshot,
      variant,
      layer.diffID,
      layer.digest,
      layer.mediaType,
      layer.size,
    );
  }
}

/** The variant of a layer blob unpacked from a pulled image: the blob as the registry had it. */
export const PULLED_VARIANT = "pulled";

/**
 * The variant name of a layer blob made from a snapshot: its compression, its level when one
 * was asked for, and the `SOURCE_DATE_EPOCH` its mtimes were clamped to (`gzip`, `zstd:19`,
 * `gzip@1700000000`).
 */
export function layerVariant(
  options: { compression?: LayerCompression; level?: number; sourceDateEpoch?: number },
): string {
  const compression = options.compression ?? "gzip";
  const level = options.level !== undefined && compression !== "uncompressed"
    ? `:${options.level}`
    : "";
  const epoch = options.sourceDateEpoch !== undefined ? `@${options.sourceDateEpoch}` : "";
  return `${compression}${level}${epoch}`;
}

function toRecord(
  row: { digest: string; diff_id: string; media_type: string; size: number },
): LayerRecord {
  return { digest: row.digest, diffID: row.diff_id, mediaType: row.media_type, size: row.size };
}
