/**
 * WAL mode for a SQLite database that several img processes open at once. SQLite runs no busy
 * handler for `PRAGMA journal_mode = WAL`: the conversion needs the database to itself, and a
 * process that opens a new state directory while another one is creating it gets "database is
 * locked" at once, whatever its busy timeout. WAL is a property of the file, so
 * {@linkcode enableWal} asks the mode first (after the first open, nothing to do, no lock
 * taken) and otherwise retries the conversion until it, or another process, has made it.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { ImgError } from "../errors.ts";

/** The journal mode of `db`, after setting it to WAL when `toWal`. */
function journalMode(db: DatabaseSync, toWal = false): string {
  const sql = toWal ? "PRAGMA journal_mode = WAL" : "PRAGMA journal_mode";
  const row = db.prepare(sql).get() as { journal_mode?: string } | undefined;
  return (row?.journal_mode ?? "").toLowerCase();
}

/** Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
export function isBusy(e: unknown): boolean {
  const code = (e as { errcode?: number })?.errcode;
  return typeof code === "number" ? (code & 0xff) === 5 : /database is locked/.test(String(e));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Puts `db` in WAL mode, waiting up to `timeoutMs` for other processes that hold the database
 * meanwhile; throws an ImgError when they still do (and any error that is not SQLite's busy).
 */
export function enableWal(db: DatabaseSync, timeoutMs = 30_000): void {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1;; delay = Math.min(delay * 2, 50)) {
    try {
      if (journalMode(db) === "wal" || journalMode(db, true) === "wal") return;
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
    }
    if (Date.now() >= deadline) {
      throw new ImgError(
        "The database is locked: another img process kept it from being put in WAL mode; try again once that process is done",
      );
    }
    sleepSync(delay);
  }
}
