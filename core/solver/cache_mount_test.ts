import assert from "node:assert/strict";
import { acquireCacheMount } from "./cache_mount.ts";

Deno.test("acquireCacheMount: locked waits, private moves aside, shared shares", async () => {
  const root = await Deno.makeTempDir({ prefix: "img-cache-mount-" });
  try {
    const seed = `${root}/seed`;
    await Deno.mkdir(seed);
    await Deno.writeTextFile(`${seed}/f`, "seeded");
    const a = await acquireCacheMount(`${root}/c`, { name: "x", sharing: "locked", seed });
    assert.equal(await Deno.readTextFile(`${a.dir}/f`), "seeded");
    // private while another holds it: a fresh directory of its own.
    const p = await acquireCacheMount(`${root}/c`, { name: "x", sharing: "private", mode: 0o700 });
    assert.equal(p.name, "x-private-1");
    assert.equal(Deno.statSync(p.dir).mode! & 0o777, 0o700);
    assert.deepEqual([...Deno.readDirSync(p.dir)], []);
    // locked: waits until the holder releases.
    let got = false;
    const waiting = acquireCacheMount(`${root}/c`, { name: "x", sharing: "locked" }).then((h) => {
      got = true;
      return h;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got, false, "locked waits while another holds the cache");
    a.release();
    const b = await waiting;
    assert.equal(b.dir, a.dir);
    b.release();
    // shared: two at once.
    const s1 = await acquireCacheMount(`${root}/c`, { name: "x" });
    const s2 = await acquireCacheMount(`${root}/c`, { name: "x" });
    assert.equal(s1.dir, s2.dir);
    s1.release();
    s2.release();
    p.release();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
