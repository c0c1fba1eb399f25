import assert from "node:assert/strict";
import { lstatStamp } from "../libc.ts";
import { StateDB } from "../state/db.ts";
import {
  clearContextHashes,
  COARSE_MARGIN_NS,
  ContextHashCache,
  type FileStamp,
  FINE_MARGIN_NS,
  isTrusted,
  nowNs,
  racyMarginNs,
} from "./hash_cache.ts";

const SECOND = 1_000_000_000n;

async function fixture(): Promise<{ dir: string; db: StateDB } & Disposable> {
  const dir = await Deno.makeTempDir({ prefix: "img-hash-cache-" });
  const db = new StateDB(`${dir}/img.db`);
  Deno.writeTextFileSync(`${dir}/a.txt`, "hello");
  return {
    dir,
    db,
    [Symbol.dispose]() {
      db.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** When the entry of `stamp` is recorded long enough after the file's last change. */
const aged = (stamp: FileStamp) =>
  (stamp.mtimeNs > stamp.ctimeNs ? stamp.mtimeNs : stamp.ctimeNs) + COARSE_MARGIN_NS + SECOND;

const count = (db: StateDB) => db.get<{ n: number }>("SELECT count(*) AS n FROM context_hashes")!.n;

Deno.test("hash cache: an entry written by one process is a hit for the next", async () => {
  using f = await fixture();
  const stamp = lstatStamp(`${f.dir}/a.txt`);
  const first = new ContextHashCache(f.db);
  assert.equal(first.get(f.dir, "a.txt", stamp), undefined, "empty at first");
  first.set(f.dir, "a.txt", stamp, "d1", aged(stamp));
  assert.equal(first.get(f.dir, "a.txt", stamp), "d1");
  assert.equal(count(f.db), 0, "nothing written before the flush");
  first.flush();
  assert.equal(count(f.db), 1);

  const db2 = new StateDB(`${f.dir}/img.db`);
  try {
    const second = new ContextHashCache(db2);
    assert.equal(second.get(f.dir, "a.txt", lstatStamp(`${f.dir}/a.txt`)), "d1");
    assert.equal(second.get(f.dir, "b.txt", stamp), undefined, "keyed by path");
    assert.equal(second.get(`${f.dir}/other`, "a.txt", stamp), undefined, "keyed by context");
  } finally {
    db2.close();
  }
});

Deno.test("hash cache: a change of size, mtime, ctime, inode or device is a miss", () => {
  const stamp: FileStamp = {
    dev: 2049n,
    ino: 2n ** 63n + 5n, // above SQLite's signed range: compared as stored
    size: 10,
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: 1_700_000_000_123_456_790n,
    isFile: true,
  };
  const entry = { stamp, digest: "d", recordedNs: aged(stamp) };
  assert.ok(isTrusted(entry, stamp));
  assert.ok(isTrusted(entry, { ...stamp, ino: BigInt.asIntN(64, stamp.ino) }));
  assert.ok(!isTrusted(entry, { ...stamp, size: 11 }), "size");
  assert.ok(!isTrusted(entry, { ...stamp, mtimeNs: stamp.mtimeNs + 1n }), "mtime, 1 ns");
  assert.ok(!isTrusted(entry, { ...stamp, ctimeNs: stamp.ctimeNs + 1n }), "ctime, 1 ns");
  assert.ok(!isTrusted(entry, { ...stamp, ino: stamp.ino + 1n }), "inode");
  assert.ok(!isTrusted(entry, { ...stamp, dev: 2050n }), "device");
});

Deno.test("hash cache: racily clean entries (times not older than the record) are not trusted", async () => {
  using f = await fixture();
  const stamp = lstatStamp(`${f.dir}/a.txt`);
  const cache = new ContextHashCache(f.db);
  // Recorded just after the write: the file may change again with the same times.
  cache.set(f.dir, "a.txt", stamp, "racy", stamp.ctimeNs + 1n);
  assert.equal(cache.get(f.dir, "a.txt", stamp), undefined);
  cache.flush();
  assert.equal(count(f.db), 0, "an entry that can never be trusted is not written");
  // Within the margin is still racy; beyond it is trusted.
  const margin = racyMarginNs(stamp);
  assert.ok(!isTrusted({ stamp, digest: "d", recordedNs: stamp.mtimeNs + margin }, stamp));
  assert.ok(!isTrusted({ stamp, digest: "d", recordedNs: stamp.ctimeNs + margin }, stamp));
  assert.ok(isTrusted({ stamp, digest: "d", recordedNs: aged(stamp) }, stamp));
  // An entry whose times are later than its record (a clock set back) is not trusted either.
  const late = { ...stamp, mtimeNs: nowNs() + 10n * SECOND };
  assert.ok(!isTrusted({ stamp: late, digest: "d", recordedNs: nowNs() }, late));
});

Deno.test("hash cache: whole-second or whole-millisecond times get the coarse margin", () => {
  const fine = { mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 1_700_000_000_123_456_790n };
  assert.equal(racyMarginNs(fine), FINE_MARGIN_NS);
  assert.equal(racyMarginNs({ ...fine, mtimeNs: 1_700_000_000_000_000_000n }), FINE_MARGIN_NS);
  const seconds = { mtimeNs: 1_700_000_000_000_000_000n, ctimeNs: 1_700_000_002_000_000_000n };
  assert.equal(racyMarginNs(seconds), COARSE_MARGIN_NS);
  const stamp: FileStamp = { ...seconds, dev: 1n, ino: 1n, size: 1, isFile: true };
  // FAT: a write 1.5 s after the hash keeps the two-second mtime it was hashed with.
  assert.ok(!isTrusted({ stamp, digest: "d", recordedNs: seconds.ctimeNs + SECOND }, stamp));
  assert.ok(isTrusted({ stamp, digest: "d", recordedNs: seconds.ctimeNs + 3n * SECOND }, stamp));
});

Deno.test("hash cache: a rewrite with the same size and mtime restored is seen through ctime", async () => {
  using f = await fixture();
  const path = `${f.dir}/a.txt`;
  const mtime = new Date(Date.now() - 3_600_000);
  Deno.utimeSync(path, mtime, mtime);
  const before = lstatStamp(path);
  const cache = new ContextHashCache(f.db);
  cache.set(f.dir, "a.txt", before, "hello", aged(before));
  assert.equal(cache.get(f.dir, "a.txt", lstatStamp(path)), "hello");
  // ctime has a coarse clock: make sure the rewrite lands on a later tick.
  await new Promise((r) => setTimeout(r, 20));
  Deno.writeTextFileSync(path, "HELLO");
  Deno.utimeSync(path, mtime, mtime);
  const after = lstatStamp(path);
  assert.equal(after.size, before.size);
  assert.equal(after.mtimeNs, before.mtimeNs, "mtime restored");
  assert.ok(after.ctimeNs > before.ctimeNs);
  assert.equal(cache.get(f.dir, "a.txt", after), undefined);
});

Deno.test("hash cache: the table is bounded, and prune empties it", async () => {
  using f = await fixture();
  const stamp = lstatStamp(`${f.dir}/a.txt`);
  const cache = new ContextHashCache(f.db, 3);
  for (let i = 0; i < 5; i++) cache.set(f.dir, `f${i}`, stamp, `d${i}`, aged(stamp) + BigInt(i));
  cache.flush();
  const paths = f.db.all<{ path: string }>("SELECT path FROM context_hashes ORDER BY path");
  assert.deepEqual(paths.map((r) => r.path), ["f2", "f3", "f4"], "the oldest recorded go");
  assert.equal(clearContextHashes(f.db, new Date(0)), 0, "none recorded before 1970");
  assert.equal(clearContextHashes(f.db), 3);
  assert.equal(count(f.db), 0);
});

Deno.test("hash cache: without a database it lives in memory, bounded", async () => {
  using f = await fixture();
  const stamp = lstatStamp(`${f.dir}/a.txt`);
  const cache = new ContextHashCache(undefined, 2);
  cache.set(f.dir, "a", stamp, "da", aged(stamp));
  cache.set(f.dir, "b", stamp, "db", aged(stamp));
  cache.flush();
  assert.equal(count(f.db), 0, "nothing goes to a database");
  assert.equal(cache.get(f.dir, "a", stamp), "da");
  cache.set(f.dir, "c", stamp, "dc", aged(stamp));
  assert.equal(cache.get(f.dir, "a", stamp), undefined, "over the bound, it starts again");
  assert.equal(cache.get(f.dir, "c", stamp), "dc");
});
