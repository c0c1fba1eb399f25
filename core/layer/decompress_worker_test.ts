import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { createHash, randomBytes } from "node:crypto";
import { decompressInWorker, WORKER_MIN_SIZE } from "./decompress_worker.ts";
import { ImgError } from "../errors.ts";

function chunked(
  data: Uint8Array,
  size: number,
  onCancel?: () => void,
): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + size));
      off += size;
    },
    cancel: () => onCancel?.(),
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  // Copied at once: a chunk is valid only until the one after the next is read.
  for await (const chunk of stream) parts.push(chunk.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const sha = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

const words = Array.from({ length: 2000 }, () => randomBytes(6).toString("hex"));
const payload = new TextEncoder().encode(
  Array.from({ length: 300_000 }, (_, i) => words[(i * 7919) % words.length]).join(" "),
);

Deno.test("decompressInWorker is not used for uncompressed or unknown data", () => {
  assert.equal(decompressInWorker(chunked(payload, 100), "uncompressed"), undefined);
  assert.equal(decompressInWorker(chunked(payload, 100), undefined), undefined);
});

Deno.test("decompressInWorker leaves a small blob to the caller's thread, takes a big one", async () => {
  const compressed = new Uint8Array(gzipSync(payload));
  assert.equal(decompressInWorker(chunked(compressed, 4096), "gzip", compressed.length), undefined);
  const big = decompressInWorker(chunked(compressed, 4096), "gzip", WORKER_MIN_SIZE)!;
  assert.ok(big, "a blob of WORKER_MIN_SIZE goes to the worker");
  assert.equal(sha(await collect(big.stream)), sha(payload));
});

for (const [name, compress] of [["gzip", gzipSync], ["zstd", zstdCompressSync]] as const) {
  Deno.test(`decompressInWorker round-trips ${name} in odd chunk sizes, with the digest`, async () => {
    for (const size of [7, 777, 65536, 1 << 20]) {
      const compressed = new Uint8Array(compress(payload));
      const w = decompressInWorker(chunked(compressed, size), name)!;
      assert.ok(w, "the system library is there");
      const out = await collect(w.stream);
      assert.equal(out.length, payload.length);
      assert.equal(sha(out), sha(payload));
      assert.equal(await w.digest, sha(payload));
    }
  });

  Deno.test(`decompressInWorker reports truncated ${name} data as an ImgError`, async () => {
    const full = new Uint8Array(compress(randomBytes(300_000)));
    for (const cut of [5, 100, 5000, full.length - 1]) {
      const w = decompressInWorker(chunked(full.slice(0, cut), 4096), name)!;
      await assert.rejects(collect(w.stream), (e: unknown) => {
        assert.ok(e instanceof ImgError, `cut at ${cut}: ${e}`);
        assert.match(e.message, new RegExp(`Cannot decompress the ${name} layer data`));
        assert.match(e.message, /corrupt or truncated/);
        return true;
      });
      await assert.rejects(w.digest);
    }
  });

  Deno.test(`decompressInWorker expands a ${name} bomb in bounded memory`, async () => {
    const size = 256 * 1024 * 1024;
    const bomb = new Uint8Array(compress(new Uint8Array(size)));
    const w = decompressInWorker(chunked(bomb, 65536), name)!;
    const reader = w.stream.getReader();
    const before = Deno.memoryUsage().rss;
    let total = (await reader.read()).value!.length;
    // A worker that did not wait for its buffers would inflate hundreds of MB meanwhile.
    await new Promise((r) => setTimeout(r, 500));
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes while the reader paused`);
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
    }
    assert.equal(total, size);
    assert.equal(await w.digest, sha(new Uint8Array(size)));
  });
}

Deno.test("decompressInWorker reports corrupt gzip data as an ImgError", async () => {
  const corrupt = new Uint8Array(gzipSync(payload));
  corrupt.fill(0x55, 100, 400);
  const w = decompressInWorker(chunked(corrupt, 4096), "gzip")!;
  await assert.rejects(collect(w.stream), (e: unknown) => {
    assert.ok(e instanceof ImgError);
    assert.match(e.message, /Cannot decompress the gzip layer data \(.+\); the blob is corrupt/);
    return true;
  });
  await assert.rejects(w.digest);
});

Deno.test("decompressInWorker accepts concatenated gzip members and ignores trailing bytes", async () => {
  const a = payload.subarray(0, 1000), b = payload.subarray(1000, 5000);
  const input = new Uint8Array([...gzipSync(a), ...gzipSync(b), 0, 0, 0, 0]);
  const w = decompressInWorker(chunked(input, 333), "gzip")!;
  const out = await collect(w.stream);
  assert.equal(sha(out), sha(payload.subarray(0, 5000)));
  assert.equal(await w.digest, sha(payload.subarray(0, 5000)));
});

Deno.test("cancelling the worker's stream cancels the source and rejects the digest", async () => {
  let cancelled = false;
  // More than the worker is ever given ahead of what it has used up.
  const compressed = new Uint8Array(gzipSync(randomBytes(16 * 1024 * 1024)));
  const w = decompressInWorker(chunked(compressed, 65536, () => (cancelled = true)), "gzip")!;
  const reader = w.stream.getReader();
  await reader.read();
  await reader.cancel(new Error("stop"));
  assert.ok(cancelled);
  await assert.rejects(w.digest, /stop/);
});

Deno.test("an error of the source comes out of the worker's stream as it is", async () => {
  const failing = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(gzipSync(payload)).subarray(0, 2000));
    },
    pull() {
      throw new Error("connection reset");
    },
  });
  const w = decompressInWorker(failing, "gzip")!;
  await assert.rejects(collect(w.stream), /connection reset/);
  await assert.rejects(w.digest, /connection reset/);
});

Deno.test("decompressInWorker reads a byte stream (a file's) straight into its input batches", async () => {
  const compressed = new Uint8Array(gzipSync(payload));
  const path = Deno.makeTempFileSync({ prefix: "img-worker-input-" });
  try {
    Deno.writeFileSync(path, compressed);
    const w = decompressInWorker((await Deno.open(path)).readable, "gzip")!;
    assert.equal(sha(await collect(w.stream)), sha(payload));
    assert.equal(await w.digest, sha(payload));
    // A byte stream that errors comes out as its error.
    let sent = false;
    const failing = new ReadableStream({
      type: "bytes",
      pull(c) {
        if (sent) throw new Error("disk gone");
        sent = true;
        c.enqueue(compressed.slice(0, 5000));
      },
    });
    const f = decompressInWorker(failing, "gzip")!;
    await assert.rejects(collect(f.stream), /disk gone/);
  } finally {
    Deno.removeSync(path);
  }
});
