/**
 * Leases: a running build records every snapshot and blob it uses, so that a prune running
 * at the same time (in another process) leaves them alone. A prune marks what it is about to
 * remove as doomed first; a build that meets a doomed resource treats it as missing.
 *
 * Both sides work in SQLite transactions, so exactly one of them wins for each resource.
 *
 * A lease names its process by an id that means the same in every PID namespace (img runs
 * in one of its own, where its pid is always the same small number): its pid on the host.
 * While it runs, the process holds a lock on `<state>/procs/<id>`; a process whose file is
 * not locked is dead, whichever namespace either side runs in.
 *
 * @module
 */
import type { StateDB } from "../state/db.ts";
import { HOST_PID_ENV, inOwnPidNamespace } from "../rootless/bootstrap.ts";

/** A kind of leased resource. */
export type LeaseKind = "snapshot" | "blob" | "cachemount";

/** The lock files this process holds, by directory. */
const held = new Map<string, Deno.FsFile>();

/** `<state>/procs`, next to the database, or undefined for an in-memory one. */
function procsDir(db: StateDB): string | undefined {
  const file = db.db.location();
  return file ? `${file.slice(0, file.lastIndexOf("/"))}/procs` : undefined;
}

/**
 * The id that this process records in leases: its pid on the host (in img's own PID
 * namespace, the pid of the img process that started it, which lives exactly as long).
 * With `db`, it also takes the lock that tells other processes it is alive.
 */
export function processId(db?: StateDB): number {
  const id = (inOwnPidNamespace() && Number(Deno.env.get(HOST_PID_ENV))) || Deno.pid;
  const dir = db && procsDir(db);
  if (dir && !held.has(dir)) {
    Deno.mkdirSync(dir, { recursive: true });
    const file = Deno.openSync(`${dir}/${id}`, { read: true, write: true, create: true });
    file.tryLockSync(true);
    held.set(dir, file); // held until the process exits
  }
  return id;
}

/**
 * Reports whether the process with lease id `pid` is alive: by its lock file under the
 * state directory of `db`, else (an img from before the lock files) by `/proc`, where a
 * zombie counts as dead.
 */
export function processAlive(pid: number, db?: StateDB): boolean {
  if (pid === processId()) return true;
  const dir = db && procsDir(db);
  if (dir) {
    try {
      const file = Deno.openSync(`${dir}/${pid}`, { read: true });
      try {
        return !file.tryLockSync(true);
      } finally {
        file.close();
      }
    } catch {
      // no lock file
    }
  }
  // In img's own PID namespace, /proc shows only its own processes.
  if (inOwnPidNamespace()) return false;
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
    db.run(
      "INSERT INTO leases (id, pid, started_at) VALUES (?, ?, ?)",
      id,
      processId(db),
      Date.now(),
    );
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
      if (doomed && processAlive(doomed.pid, this.#db)) return false;
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

/** Removes the leases (and doomed marks, and lock files) of processes that are gone. */
export function dropDeadLeases(db: StateDB): void {
  db.transaction(() => {
    for (const l of db.all<{ id: string; pid: number }>("SELECT id, pid FROM leases")) {
      if (!processAlive(l.pid, db)) db.run("DELETE FROM leases WHERE id = ?", l.id);
    }
    for (
      const d of db.all<{ kind: string; ref: string; pid: number }>(
        "SELECT kind, ref, pid FROM doomed",
      )
    ) {
      if (!processAlive(d.pid, db)) {
        db.run("DELETE FROM doomed WHERE kind = ? AND ref = ?", d.kind, d.ref);
      }
    }
  });
  const dir = procsDir(db);
  const used = new Set(
    db.all<{ pid: number }>("SELECT pid FROM leases UNION SELECT pid FROM doomed")
      .map((r) => String(r.pid)),
  );
  try {
    for (const e of Deno.readDirSync(dir ?? "")) {
      if (used.has(e.name) || !/^\d+$/.test(e.name)) continue;
      if (!processAlive(Number(e.name), db)) Deno.removeSync(`${dir}/${e.name}`);
    }
  } catch {
    // no lock files yet
  }
}

/** Reports whether any live build holds a lease. */
export function anyLiveLease(db: StateDB): boolean {
  return db.all<{ pid: number }>("SELECT pid FROM leases").some((l) => processAlive(l.pid, db));
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
    if (holders.some((h) => processAlive(h.pid, db))) return false;
    db.run(
      "INSERT OR REPLACE INTO doomed (kind, ref, pid) VALUES (?, ?, ?)",
      kind,
      ref,
      processId(db),
    );
    return true;
  });
}

/** Clears the doomed mark of a removed resource. */
export function releaseDoomed(db: StateDB, kind: LeaseKind, ref: string): void {
  db.run("DELETE FROM doomed WHERE kind = ? AND ref = ? AND pid = ?", kind, ref, processId());
}
