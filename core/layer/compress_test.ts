import assert from "node:assert/strict";
import { createGzip, gunzipSync } from "node:zlib";
import { compressStream, compressWritable } from "./compress.ts";
import { consumesOnWrite } from "./_consumed_writes.ts";
import { GZIP_BLOCK } from "./_gzip_blocks.ts";
import { isCompressible } from "./_compressibility.ts";
import { concatBytes } from "../_bytes.ts";

const MiB = 1024 * 1024;

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Deterministic pseudo-random bytes (xorshift32): incompressible, and the same every run. */
function noise(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like bytes (words drawn by a PRNG): compressible, with no short period. */
function text(n: number): Uint8Array {
  const words = ["layer", "image", "build", "tar", "gzip", "deno", "snapshot", "digest", "\n"];
  const picks = noise(n);
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; o < n; i++) {
    const w = new TextEncoder().encode(words[picks[i] % words.length] + " ");
    out.set(w.subarray(0, n - o), o);
    o += w.length;
  }
  return out;
}

/** `data` cut into chunks by `sizes` (cycled). */
function chunked(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** What img wrote before blocks were judged: the chunks through one `createGzip` stream. */
async function plainGzip(chunks: Uint8Array[], level?: number): Promise<Uint8Array> {
  const z = createGzip(level === undefined ? {} : { level });
  const out: Uint8Array[] = [];
  z.on("data", (c: Uint8Array) => out.push(c));
  const ended = new Promise((resolve) => z.on("end", resolve));
  // One write at a time, as img always fed it: a chunk still queued when `end()` comes would
  // be deflated with Z_FINISH, which zlib-ng's level 1 encodes differently.
  for (const c of chunks) await new Promise((resolve) => z.write(c, resolve));
  z.end();
  await ended;
  return concatBytes(out);
}

/** Asserts equal bytes with a short message (`deepEqual` formats a diff of megabytes). */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const at = actual.findIndex((b, i) => b !== expected[i]);
  assert.ok(
    actual.length === expected.length && at < 0,
    `${what}: ${actual.length} bytes, ${expected.length} expected, first difference at ${at}`,
  );
}

const CHUNKINGS = [[65536], [1000, 300_000, 7, 2 * MiB], [GZIP_BLOCK]];

Deno.test("isCompressible tells random data from text, base64 and zeros", () => {
  assert.equal(isCompressible(noise(MiB)), false);
  assert.equal(isCompressible(text(MiB)), true);
  assert.equal(isCompressible(new Uint8Array(MiB)), true);
  // Base64 has no repeats, only a skewed alphabet: deflate still saves a quarter of it.
  const b64 = new TextEncoder().encode(btoa(String.fromCharCode(...noise(48 * 1024))));
  assert.equal(isCompressible(b64), true);
  assert.equal(isCompressible(new Uint8Array()), true);
  assert.equal(isCompressible(noise(100)), false);
});

Deno.test("gzip of compressible data is byte-identical to one plain gzip stream", async () => {
  const data = text(3 * MiB + 12345);
  // Deno's zlib (zlib-ng) makes different deflate streams of differently split input, so the
  // chunks must reach it as they came: small ones, big ones, ones across block boundaries.
  const chunkings = [...CHUNKINGS, [776, 65536, 65536, 1_048_576, 100_600, 784, 3 * MiB]];
  for (const level of [undefined, 1, 6, 9]) {
    for (const sizes of chunkings) {
      const chunks = chunked(data, sizes);
      const expected = await plainGzip(chunks, level);
      const gz = await collect(compressStream(ReadableStream.from(chunks), "gzip", level));
      assertSameBytes(gz, expected, `level ${level}, chunks of ${sizes}`);
    }
  }
});

Deno.test("gzip stores random data: no bigger than the input plus a little, deterministic", async () => {
  const data = noise(5 * MiB + 777);
  let first: Uint8Array | undefined;
  for (const sizes of CHUNKINGS) {
    const gz = await collect(compressStream(ReadableStream.from(chunked(data, sizes)), "gzip"));
    assert.ok(gz.length <= data.length + data.length / 1000 + 64, `${gz.length} bytes`);
    assertSameBytes(new Uint8Array(gunzipSync(gz)), data, "gunzipped");
    if (first) assertSameBytes(gz, first, `chunks of ${sizes}`);
    first = gz;
  }
  // Plain gzip at level 6 spends its time and saves nothing.
  assert.ok(first!.length <= (await plainGzip([data])).length);
});

Deno.test("gzip switches between stored and compressed blocks, deterministically", async () => {
  const data = new Uint8Array(6 * MiB);
  data.set(text(2 * MiB));
  data.set(noise(2 * MiB + 500), 2 * MiB - 500); // straddles block boundaries
  data.set(text(MiB + 250_000), 4 * MiB);
  for (const sizes of [...CHUNKINGS, [776, 65536, 1_048_576, 100_600, 3 * MiB]]) {
    for (const level of [undefined, 9]) {
      const make = () =>
        collect(compressStream(ReadableStream.from(chunked(data, sizes)), "gzip", level));
      const gz = await make();
      assertSameBytes(new Uint8Array(gunzipSync(gz)), data, "gunzipped");
      // The text compresses, the noise is stored.
      assert.ok(gz.length < 2 * MiB + 500 + MiB, `${gz.length} bytes`);
      assertSameBytes(await make(), gz, `again, chunks of ${sizes}`);
    }
  }
});

Deno.test("cancelling gzip while it switches levels ends cleanly and cancels the source", async () => {
  // Alternating text and noise: every block changes the level. Cancelling after every number
  // of reads hits level changes in flight.
  const blocks = [text(GZIP_BLOCK), noise(GZIP_BLOCK)];
  for (let reads = 0; reads < 40; reads++) {
    let cancelled: unknown;
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(blocks[sent++ % 2]);
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const reader = compressStream(source, "gzip").getReader();
    for (let i = 0; i < reads; i++) await reader.read();
    await reader.cancel("enough");
    assert.equal(cancelled, "enough");
  }
  // Give a late flush callback the chance to run (it must not throw "zlib binding closed").
  await new Promise((resolve) => setTimeout(resolve, 50));
});

Deno.test("gzip with level 0 stores everything without judging", async () => {
  const data = text(2 * MiB);
  const gz = await collect(compressStream(ReadableStream.from(chunked(data, [65536])), "gzip", 0));
  assertSameBytes(new Uint8Array(gunzipSync(gz)), data, "gunzipped");
  assert.ok(gz.length >= data.length);
});

Deno.test("compressWritable consumes each chunk before its write resolves", async () => {
  const data = new Uint8Array(4 * MiB + 99);
  data.set(text(2 * MiB));
  data.set(noise(2 * MiB + 99), 2 * MiB);
  for (const compression of ["gzip", "zstd", "uncompressed"] as const) {
    const { writable, readable } = compressWritable(compression);
    assert.ok(consumesOnWrite(writable));
    const out = collect(readable);
    const writer = writable.getWriter();
    // One buffer, overwritten as soon as each write resolves.
    const buf = new Uint8Array(300_000);
    for (let off = 0; off < data.length; off += buf.length) {
      const part = data.subarray(off, off + buf.length);
      buf.set(part);
      await writer.write(buf.subarray(0, part.length));
      buf.fill(0xee);
    }
    await writer.close();
    const got = await out;
    const expected = await collect(
      compressStream(ReadableStream.from(chunked(data, [buf.length])), compression),
    );
    assertSameBytes(got, expected, compression);
  }
});

Deno.test("compressWritable: abort errors the output with the reason", async () => {
  const { writable, readable } = compressWritable("gzip");
  const out = collect(readable);
  const writer = writable.getWriter();
  await writer.write(noise(GZIP_BLOCK + 10));
  await writer.abort(new Error("tar broke"));
  await assert.rejects(out, /tar broke/);
});
