/**
 * A persistent cache of the content digests of local context files, in the state database, so
 * that an unchanged file is read once, not once per build (issue 12, "context hashing that
 * scales").
 *
 * An entry is the sha256 of one file of one context directory (the context's real path and the
 * file's path relative to it), valid while the file's (device, inode, size, mtime, ctime), with
 * nanosecond times, stay those recorded. ctime cannot be set by a user, so a file rewritten with
 * the same size and its mtime restored (`touch -d`) is still seen as changed.
 *
 * Racily clean files (git's term): a file modified again within the timestamp granularity after
 * it was hashed keeps the times it was hashed with. An entry is therefore trusted only when the
 * file's mtime and ctime are older than the moment the entry was recorded by more than a margin
 * ({@linkcode racyMarginNs}): {@linkcode FINE_MARGIN_NS} on file systems with sub-millisecond
 * timestamps (it covers the kernel's coarse clock, a tick behind the real one), and
 * {@linkcode COARSE_MARGIN_NS} where times are whole milliseconds or seconds (FAT has two-second
 * mtimes). A younger file is hashed again until it has aged.
 *
 * The database work is batched: the entries of a context are read in one query the first time a
 * process needs them, and new entries are written in one transaction by
 * {@linkcode ContextHashCache.flush}. The table is bounded (the oldest entries beyond
 * {@linkcode MAX_ENTRIES} go) and `img prune` empties it ({@linkcode clearContextHashes}).
 *
 * @module
 */
import type { FileStamp } from "../libc.ts";
import type { StateDB } from "../state/db.ts";

export type { FileStamp } from "../libc.ts";

/** The racy margin for times with sub-millisecond digits (a few kernel clock ticks). */
export const FINE_MARGIN_NS = 100_000_000n;
/** The racy margin for times in whole milliseconds or seconds (coarse file systems). */
export const COARSE_MARGIN_NS = 2_000_000_000n;

/**
 * How much older than its entry a file's mtime and ctime must be for the entry to be trusted:
 * {@linkcode COARSE_MARGIN_NS} when both times are whole milliseconds (a file system with
 * coarse timestamps; a fine one gives that once in 10^12), else {@linkcode FINE_MARGIN_NS}.
 */
export function racyMarginNs(stamp: Pick<FileStamp, "mtimeNs" | "ctimeNs">): bigint {
  const coarse = stamp.mtimeNs % 1_000_000n === 0n && stamp.ctimeNs % 1_000_000n === 0n;
  return coarse ? COARSE_MARGIN_NS : FINE_MARGIN_NS;
}

/** The most entries the table keeps; beyond it, the oldest recorded go. */
export const MAX_ENTRIES = 500_000;

/** One cached digest: the stamp it was read under, when, and the sha256 (hex). */
export interface HashEntry {
  /** The file's stamp when it was read. */
  stamp: Omit<FileStamp, "isFile">;
  /** The sha256 of its content, hex. */
  digest: string;
  /** When the stamp was taken (before reading), nanoseconds since the epoch. */
  recordedNs: bigint;
}

/** The current time (the real-time clock file times come from), nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** SQLite integers are signed 64-bit: device and inode numbers are compared as such. */
const i64 = (n: bigint) => BigInt.asIntN(64, n);

/**
 * Whether `entry` holds the digest of the file now stamped `stamp`: same device, inode, size,
 * mtime and ctime, and both times older than the entry by more than {@linkcode racyMarginNs}.
 */
export function isTrusted(entry: HashEntry, stamp: FileStamp): boolean {
  const e = entry.stamp;
  if (
    i64(e.dev) !== i64(stamp.dev) || i64(e.ino) !== i64(stamp.ino) || e.size !== stamp.size ||
    e.mtimeNs !== stamp.mtimeNs || e.ctimeNs !== stamp.ctimeNs
  ) return false;
  const limit = entry.recordedNs - racyMarginNs(stamp);
  return stamp.mtimeNs < limit && stamp.ctimeNs < limit;
}

interface Row {
  path: string;
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtime_ns: bigint;
  ctime_ns: bigint;
  digest: string;
  recorded_ns: bigint;
}

/**
 * The context hash cache of one process: entries read from the state database (when given) once
 * per context, new ones kept in memory until {@linkcode ContextHashCache.flush}. Without a
 * database it only lives as long as the process.
 */
export class ContextHashCache {
  readonly #db?: StateDB;
  readonly #maxEntries: number;
  readonly #contexts = new Map<string, Map<string, HashEntry>>();
  readonly #pending = new Map<string, Map<string, HashEntry>>();
  #memoryEntries = 0;

  /**
   * A cache backed by `db`, or by memory only; the table keeps at most `maxEntries` entries
   * (default {@linkcode MAX_ENTRIES}).
   */
  constructor(db?: StateDB, maxEntries: number = MAX_ENTRIES) {
    this.#db = db;
    this.#maxEntries = maxEntries;
  }

  #entries(context: string): Map<string, HashEntry> {
    let entries = this.#contexts.get(context);
    if (entries) return entries;
    entries = new Map();
    if (this.#db) {
      const st = this.#db.db.prepare(
        `SELECT path, dev, ino, size, mtime_ns, ctime_ns, digest, recorded_ns
           FROM context_hashes WHERE context = ?`,
      );
      st.setReadBigInts(true);
      for (const r of st.all(context) as unknown as Row[]) {
        entries.set(r.path, {
          stamp: {
            dev: r.dev,
            ino: r.ino,
            size: Number(r.size),
            mtimeNs: r.mtime_ns,
            ctimeNs: r.ctime_ns,
          },
          digest: r.digest,
          recordedNs: r.recorded_ns,
        });
      }
    }
    this.#contexts.set(context, entries);
    return entries;
  }

  /** The digest of `path` (relative to `context`) if it is cached and trusted for `stamp`. */
  get(context: string, path: string, stamp: FileStamp): string | undefined {
    const entry = this.#entries(context).get(path);
    return entry && isTrusted(entry, stamp) ? entry.digest : undefined;
  }

  /**
   * Records the digest of `path` read under `stamp`, taken at `recordedNs` (before the read).
   * An entry that could never be trusted (the file is too young) is not kept.
   */
  set(context: string, path: string, stamp: FileStamp, digest: string, recordedNs: bigint): void {
    const { dev, ino, size, mtimeNs, ctimeNs } = stamp;
    const entry: HashEntry = { stamp: { dev, ino, size, mtimeNs, ctimeNs }, digest, recordedNs };
    if (!isTrusted(entry, stamp)) return;
    if (!this.#db && ++this.#memoryEntries > this.#maxEntries) {
      // Memory only: bounded by starting again.
      this.#contexts.clear();
      this.#memoryEntries = 1;
    }
    this.#entries(context).set(path, entry);
    let pending = this.#pending.get(context);
    if (!pending) this.#pending.set(context, pending = new Map());
    pending.set(path, entry);
  }

  /** Writes the new entries to the database in one transaction, keeping the table bounded. */
  flush(): void {
    if (!this.#db || this.#pending.size === 0) return;
    const db = this.#db;
    db.transaction(() => {
      const insert = db.db.prepare(
        `INSERT OR REPLACE INTO context_hashes
           (context, path, dev, ino, size, mtime_ns, ctime_ns, digest, recorded_ns)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const [context, entries] of this.#pending) {
        for (const [path, { stamp: s, digest, recordedNs }] of entries) {
          insert.run(
            context,
            path,
            i64(s.dev),
            i64(s.ino),
            s.size,
            s.mtimeNs,
            s.ctimeNs,
            digest,
            recordedNs,
          );
        }
      }
      const count = db.get<{ n: number }>("SELECT count(*) AS n FROM context_hashes")!.n;
      if (count > this.#maxEntries) {
        db.run(
          `DELETE FROM context_hashes WHERE rowid IN
             (SELECT rowid FROM context_hashes ORDER BY recorded_ns LIMIT ?)`,
          count - this.#maxEntries,
        );
      }
    });
    this.#pending.clear();
  }
}

/**
 * Empties the context hash cache of `db` (`img prune`), or only the entries recorded before
 * `before`; returns how many entries went.
 */
export function clearContextHashes(db: StateDB, before?: Date): number {
  if (before === undefined) return db.run("DELETE FROM context_hashes");
  return db.run(
    "DELETE FROM context_hashes WHERE recorded_ns < ?",
    BigInt(before.getTime()) * 1_000_000n,
  );
}
