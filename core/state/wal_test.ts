import { equal, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { enableWal, isBusy } from "./wal.ts";

// A process in a write transaction on a database not yet in WAL mode (as one migrating it).
const HOLDER = `
import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.args[0]);
db.exec("CREATE TABLE t (x)");
db.exec("BEGIN IMMEDIATE");
db.exec("INSERT INTO t VALUES (1)");
console.log("held");
await new Promise((r) => setTimeout(r, 400));
db.exec("COMMIT");
db.close();
`;

Deno.test("enableWal puts a new database in WAL mode, and finds it there the next time", () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (let i = 0; i < 2; i++) {
      const db = new DatabaseSync(`${dir}/a.db`, { timeout: 1_000 });
      enableWal(db);
      equal(
        (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
        "wal",
      );
      db.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("enableWal waits for a process that holds the database, where the pragma alone fails at once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state.db`;
    const holder = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", HOLDER, path],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("held")) seen += (await reader.read()).value ?? "";
    const db = new DatabaseSync(path, { timeout: 30_000 });
    // What SQLite does: no busy handler for the conversion, whatever the timeout.
    const start = Date.now();
    throws(() => db.exec("PRAGMA journal_mode = WAL"), (e) => isBusy(e));
    ok(Date.now() - start < 200, "the pragma failed at once");
    enableWal(db);
    ok(Date.now() - start >= 150, "it waited for the holder");
    equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "wal",
    );
    equal((db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n, 1);
    db.close();
    await reader.cancel();
    equal((await holder.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isBusy knows SQLite's busy codes and nothing else", () => {
  ok(isBusy(Object.assign(new Error("database is locked"), { errcode: 5 })));
  ok(isBusy(Object.assign(new Error("x"), { errcode: 517 })));
  ok(!isBusy(Object.assign(new Error("no such table"), { errcode: 1 })));
});
