import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { createHash, randomBytes } from "node:crypto";
import { decompressStream, detectCompression } from "./decompress.ts";
import { ImgError } from "../errors.ts";

function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + size));
      off += size;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

// Compressible but not trivial: random words.
const words = Array.from({ length: 2000 }, () => randomBytes(6).toString("hex"));
const payload = new TextEncoder().encode(
  Array.from({ length: 300_000 }, (_, i) => words[(i * 7919) % words.length]).join(" "),
);

Deno.test("detectCompression recognises gzip, zstd and plain data", () => {
  assert.equal(detectCompression(gzipSync(payload).subarray(0, 4)), "gzip");
  assert.equal(detectCompression(zstdCompressSync(payload).subarray(0, 4)), "zstd");
  assert.equal(detectCompression(new TextEncoder().encode("usr/")), "uncompressed");
  assert.equal(detectCompression(new Uint8Array([0x1f])), "uncompressed");
  assert.equal(detectCompression(new Uint8Array()), "uncompressed");
});

for (const [name, compress] of [["gzip", gzipSync], ["zstd", zstdCompressSync]] as const) {
  Deno.test(`decompressStream round-trips ${name}, detected and explicit, in odd chunk sizes`, async () => {
    const blob = new Uint8Array(compress(payload));
    for (const size of [1000, 65536, blob.length]) {
      const out = await collect(decompressStream(chunked(blob, size)));
      assert.equal(out.length, payload.length);
      assert.equal(hex(out), hex(payload));
    }
    const explicit = await collect(decompressStream(chunked(blob, 4096), name));
    assert.equal(hex(explicit), hex(payload));
  });
}

Deno.test("decompressStream detects the magic even when it is split across chunks", async () => {
  const small = new TextEncoder().encode("hello, layer");
  for (const blob of [gzipSync(small), zstdCompressSync(small)]) {
    const out = await collect(decompressStream(chunked(new Uint8Array(blob), 1)));
    assert.equal(new TextDecoder().decode(out), "hello, layer");
  }
});

Deno.test("decompressStream passes uncompressed data through unchanged", async () => {
  const out = await collect(decompressStream(chunked(payload, 10_000)));
  assert.equal(hex(out), hex(payload));
  const empty = await collect(decompressStream(chunked(new Uint8Array(), 1)));
  assert.equal(empty.length, 0);
});

Deno.test("decompressStream reports corrupt or truncated data as an ImgError", async () => {
  const blob = new Uint8Array(gzipSync(payload));
  const corrupt = blob.slice();
  corrupt.fill(0x55, 100, 400);
  await assert.rejects(collect(decompressStream(chunked(corrupt, 4096))), (e: unknown) => {
    assert.ok(e instanceof ImgError);
    assert.match(e.message, /Cannot decompress the gzip layer data/);
    return true;
  });
  for (const compress of [gzipSync, zstdCompressSync]) {
    const full = new Uint8Array(compress(randomBytes(300_000)));
    for (const cut of [5, 100, 5000, full.length - 1]) {
      await assert.rejects(
        collect(decompressStream(chunked(full.slice(0, cut), 4096))),
        (e: unknown) => {
          assert.ok(e instanceof ImgError, `cut at ${cut}: ${e}`);
          assert.match(e.message, /corrupt or truncated/);
          return true;
        },
      );
    }
  }
});

Deno.test("decompressStream accepts concatenated zstd frames and skippable frames", async () => {
  const a = new Uint8Array(zstdCompressSync(new TextEncoder().encode("first ")));
  const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const b = new Uint8Array(zstdCompressSync(payload));
  // zstd:chunked layers end with a skippable frame holding their table of contents.
  const all = new Uint8Array([...a, ...skippable, ...b, ...skippable]);
  const out = await collect(decompressStream(chunked(all, 333)));
  assert.equal(new TextDecoder().decode(out.subarray(0, 6)), "first ");
  assert.equal(hex(out.subarray(6)), hex(payload));
});

Deno.test("cancelling the decompressed stream cancels the source", async () => {
  let cancelled = false;
  // Incompressible data, so that the first output needs only a small part of the input.
  const blob = new Uint8Array(gzipSync(randomBytes(2_000_000)));
  let off = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(blob.slice(off, off + 1024));
      off += 1024;
      if (off >= blob.length) c.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const reader = decompressStream(source).getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0);
  assert.ok(off < blob.length, "the whole source was read before cancelling");
  await reader.cancel();
  assert.ok(cancelled);
});

Deno.test("decompressStream reads what the zstd and gzip tools write (with checksums)", async () => {
  const tools: [string, string[]][] = [["zstd", ["-q", "-c", "--check", "-3"]], ["gzip", [
    "-c",
    "-6",
  ]]];
  for (const [tool, args] of tools) {
    const proc = new Deno.Command(tool, { args, stdin: "piped", stdout: "piped" }).spawn();
    const writer = proc.stdin.getWriter();
    await writer.write(payload);
    await writer.close();
    const { stdout, success } = await proc.output();
    assert.ok(success, `${tool} failed`);
    const out = await collect(decompressStream(chunked(stdout, 8192)));
    assert.equal(hex(out), hex(payload), tool);
  }
});

for (const [name, compress] of [["gzip", gzipSync], ["zstd", zstdCompressSync]] as const) {
  Deno.test(`decompressStream with reuseChunks expands a ${name} bomb through two buffers`, async () => {
    const size = 64 * 1024 * 1024;
    const bomb = new Uint8Array(compress(new Uint8Array(size)));
    const buffers = new Set<ArrayBufferLike>();
    let total = 0;
    const stream = decompressStream(chunked(bomb, 65536), name, { reuseChunks: true });
    for await (const chunk of stream) {
      buffers.add(chunk.buffer);
      total += chunk.length;
      assert.ok(chunk.every((b) => b === 0));
    }
    assert.equal(total, size);
    assert.ok(buffers.size <= 2, `${buffers.size} output buffers`);
  });
}
