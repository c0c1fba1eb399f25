import assert from "node:assert/strict";
import { StateDB } from "../state/db.ts";
import { dropDeadLeases, Lease, processAlive, processId } from "./leases.ts";

async function withDB(fn: (db: StateDB, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-leases-" });
  const db = new StateDB(`${dir}/img.db`);
  try {
    await fn(db, dir);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `flock --no-fork <file> sleep 30` and waits until it holds the lock. */
async function holdLock(file: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("flock", {
    args: ["--no-fork", file, "sleep", "30"],
    stdout: "null",
  })
    .spawn();
  for (let i = 0; i < 200; i++) {
    try {
      const f = Deno.openSync(file, { read: true });
      try {
        if (!f.tryLockSync(true)) return child;
        f.unlockSync();
      } finally {
        f.close();
      }
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("flock never took the lock");
}

Deno.test("a lease holder is alive while it holds its lock file, whatever /proc says", async () => {
  await withDB(async (db, dir) => {
    await Deno.mkdir(`${dir}/procs`);
    // An id that no host process has, held by a live process: alive.
    const child = await holdLock(`${dir}/procs/99999999`);
    assert.equal(processAlive(99999999, db), true);
    child.kill("SIGKILL");
    await child.status;
    assert.equal(processAlive(99999999, db), false);
    // pid 1 runs, but its lock file is not held: the img that had that id is gone.
    await Deno.writeTextFile(`${dir}/procs/1`, "");
    assert.equal(processAlive(1, db), false);
  });
});

Deno.test("a lease records this process's id and locks its file; dead leases are dropped", async () => {
  await withDB(async (db, dir) => {
    using lease = Lease.acquire(db);
    assert.ok(lease.id);
    const id = processId();
    assert.equal(processAlive(id, db), true);
    const f = Deno.openSync(`${dir}/procs/${id}`, { read: true });
    assert.equal(f.tryLockSync(true), false, "this process holds its lock");
    f.close();
    // A lease of a process that died (its lock file is not held).
    db.run("INSERT INTO leases (id, pid, started_at) VALUES (?, ?, ?)", "dead", 99999998, 0);
    await Deno.writeTextFile(`${dir}/procs/99999998`, "");
    dropDeadLeases(db);
    assert.deepEqual(db.all<{ id: string }>("SELECT id FROM leases").map((l) => l.id), [lease.id]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/procs`)].map((e) => e.name), [String(id)]);
  });
});
