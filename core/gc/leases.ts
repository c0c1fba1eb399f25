/**
 * Leases: a running build records every snapshot and blob it uses, so that a prune running
 * at the same time (in another process) leaves them alone. A prune marks what it is about to
 * remove as doomed first; a build that meets a doomed resource treats it as missing.
 *
 * Both sides work in SQLite transactions, so exactly one of them wins for each resource.
 *
 * @module
 */
import type { StateDB } from "../state/db.ts";

/** A kind of leased resource. */
export type LeaseKind = "snapshot" | "blob" | "cachemount";

/** Reports whether the process `pid` is alive (a zombie counts as dead). */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A build's lease. */
export class Lease {
  readonly #db: StateDB;
  /** The lease's id. */
  readonly id: string;

  private constructor(db: StateDB, id: string) {
    this.#db = db;
    this.id = id;
  }

  /** Takes a new lease for this process. */
  static acquire(db: StateDB): Lease {
    const id = crypto.randomUUID();
    db.run("INSERT INTO leases (id, pid, started_at) VALUES (?, ?, ?)", id, Deno.pid, Date.now());
    return new Lease(db, id);
  }

  /**
   * Records that the build uses `ref`. Returns false if a prune is removing it right now: the
   * caller must then treat it as missing.
   */
  add(kind: LeaseKind, ref: string): boolean {
    return this.#db.transaction(() => {
      const doomed = this.#db.get<{ pid: number }>(
        "SELECT pid FROM doomed WHERE kind = ? AND ref = ?",
        kind,
        ref,
      );
      if (doomed && processAlive(doomed.pid)) return false;
      if (doomed) this.#db.run("DELETE FROM doomed WHERE kind = ? AND ref = ?", kind, ref);
      this.#db.run(
        "INSERT OR IGNORE INTO lease_refs (lease, kind, ref) VALUES (?, ?, ?)",
        this.id,
        kind,
        ref,
      );
      return true;
    });
  }

  /** Ends the lease. */
  release(): void {
    this.#db.run("DELETE FROM leases WHERE id = ?", this.id);
  }

  /** Ends the lease. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/** Removes the leases (and doomed marks) of processes that are gone. */
export function dropDeadLeases(db: StateDB): void {
  db.transaction(() => {
    for (const l of db.all<{ id: string; pid: number }>("SELECT id, pid FROM leases")) {
      if (!processAlive(l.pid)) db.run("DELETE FROM leases WHERE id = ?", l.id);
    }
    for (
      const d of db.all<{ kind: string; ref: string; pid: number }>(
        "SELECT kind, ref, pid FROM doomed",
      )
    ) {
      if (!processAlive(d.pid)) {
        db.run("DELETE FROM doomed WHERE kind = ? AND ref = ?", d.kind, d.ref);
      }
    }
  });
}

/** Reports whether any live build holds a lease. */
export function anyLiveLease(db: StateDB): boolean {
  return db.all<{ pid: number }>("SELECT pid FROM leases").some((l) => processAlive(l.pid));
}

/**
 * Marks `ref` as being removed, unless a live lease holds it. Returns true if the caller may
 * remove it; call {@linkcode releaseDoomed} when it is gone.
 */
export function doom(db: StateDB, kind: LeaseKind, ref: string): boolean {
  return db.transaction(() => {
    const holders = db.all<{ pid: number }>(
      "SELECT leases.pid FROM lease_refs JOIN leases ON leases.id = lease_refs.lease WHERE kind = ? AND ref = ?",
      kind,
      ref,
    );
    if (holders.some((h) => processAlive(h.pid))) return false;
    db.run("INSERT OR REPLACE INTO doomed (kind, ref, pid) VALUES (?, ?, ?)", kind, ref, Deno.pid);
    return true;
  });
}

/** Clears the doomed mark of a removed resource. */
export function releaseDoomed(db: StateDB, kind: LeaseKind, ref: string): void {
  db.run("DELETE FROM doomed WHERE kind = ? AND ref = ? AND pid = ?", kind, ref, Deno.pid);
}
