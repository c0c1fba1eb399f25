import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { extract } from "tar-stream";
import { ArchiveTarWriter } from "./tar_writer.ts";

/** Reads a tar archive with tar-stream's extractor and returns its entries. */
async function readTar(
  bytes: Uint8Array,
): Promise<{ name: string; size: number; mtime: number; uid: number; body: Uint8Array }[]> {
  const ex = extract();
  const entries: { name: string; size: number; mtime: number; uid: number; body: Uint8Array }[] =
    [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Uint8Array[] = [];
      for await (const c of entry) chunks.push(c as Uint8Array);
      const body = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let off = 0;
      for (const c of chunks) {
        body.set(c, off);
        off += c.byteLength;
      }
      entries.push({
        name: entry.header.name,
        size: entry.header.size,
        mtime: entry.header.mtime.getTime(),
        uid: entry.header.uid,
        body,
      });
    }
  })();
  ex.end(bytes);
  await done;
  return entries;
}

function collect(): { stream: WritableStream<Uint8Array>; bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = [];
  return {
    stream: new WritableStream({ write: (c) => void chunks.push(c.slice()) }),
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.byteLength;
      }
      return out;
    },
  };
}

Deno.test("ArchiveTarWriter writes entries in order with fixed metadata and exact bodies", async () => {
  const sink = collect();
  const tar = new ArchiveTarWriter(sink.stream);
  await tar.file("a.json", '{"a":1}');
  await tar.directory("d/");
  const big = new Uint8Array(randomBytes(65536 + 7));
  await tar.stream("d/big", big.byteLength, [big.subarray(0, 1000), big.subarray(1000)]);
  await tar.close();
  const bytes = sink.bytes();
  assert.equal(bytes.byteLength % 512, 0);
  const entries = await readTar(bytes);
  assert.deepEqual(entries.map((e) => e.name), ["a.json", "d/", "d/big"]);
  assert.deepEqual(entries.map((e) => [e.mtime, e.uid]), [[0, 0], [0, 0], [0, 0]]);
  assert.equal(new TextDecoder().decode(entries[0].body), '{"a":1}');
  assert.deepEqual(entries[2].body, big);
});

Deno.test("ArchiveTarWriter pipes a large body with backpressure, not buffering it", async () => {
  const total = 64 * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024);
  let produced = 0;
  let consumed = 0;
  let maxInFlight = 0;
  async function* source() {
    while (produced < total) {
      produced += chunk.byteLength;
      maxInFlight = Math.max(maxInFlight, produced - consumed);
      yield chunk;
    }
  }
  const slow = new WritableStream<Uint8Array>({
    async write(c) {
      await new Promise((r) => setTimeout(r, 0));
      consumed += c.byteLength;
    },
  });
  const tar = new ArchiveTarWriter(slow);
  await tar.stream("blob", total, source());
  await tar.close();
  assert.equal(consumed, total + 512 + 1024);
  assert.ok(maxInFlight < 4 * 1024 * 1024, `${maxInFlight} bytes were in flight`);
});

Deno.test("ArchiveTarWriter fails an entry whose body is shorter than its size and aborts the output", async () => {
  let aborted: unknown;
  const out = new WritableStream<Uint8Array>({ abort: (r) => void (aborted = r) });
  const tar = new ArchiveTarWriter(out);
  await assert.rejects(
    () => tar.stream("short", 10, [new Uint8Array(4)]),
    /has 4 bytes but 10 were recorded/,
  );
  await tar.abort(new Error("stop"));
  assert.ok(aborted !== undefined, "the output stream was not aborted");
  await assert.rejects(() => tar.close());
});

Deno.test("ArchiveTarWriter reports a failing output stream to the entry being written", async () => {
  const out = new WritableStream<Uint8Array>({
    write() {
      throw new Error("disk full");
    },
  });
  const tar = new ArchiveTarWriter(out);
  const body = new Uint8Array(1024 * 1024);
  await assert.rejects(async () => {
    await tar.stream("x", body.byteLength * 8, Array(8).fill(body));
    await tar.close();
  }, /disk full/);
});
