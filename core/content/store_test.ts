import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ContentStore, WRITE_BATCH } from "./store.ts";

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

Deno.test("ingest gathers small chunks into batches and stores every byte in order", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const store = new ContentStore(root);
    // 16 KiB chunks (as zlib hands them out), odd sizes, one bigger than a batch, an empty one.
    const chunks = [
      ...Array.from({ length: 100 }, (_, i) => bytes(16 * 1024, i)),
      bytes(7, 1),
      bytes(WRITE_BATCH + 5, 2),
      new Uint8Array(),
      bytes(300_001, 3),
    ];
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    const progress: number[] = [];
    const info = await store.ingest(ReadableStream.from(chunks), {
      onProgress: (n) => progress.push(n),
    });
    const digest = `sha256:${createHash("sha256").update(all).digest("hex")}`;
    assert.equal(info.digest, digest);
    assert.equal(info.size, all.length);
    const stored = await store.read(info.digest);
    assert.ok(stored.length === all.length && stored.every((b, i) => b === all[i]));
    assert.equal(progress.at(-1), all.length);
    // A small blob stays small and whole.
    const small = await store.put("{}");
    assert.equal(new TextDecoder().decode(await store.read(small.digest)), "{}");
    assert.deepEqual([...Deno.readDirSync(`${root}/ingest`)], []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
