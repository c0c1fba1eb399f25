import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ContentStore } from "./store.ts";
import { sha256 } from "../digest.ts";
import { DigestMismatchError, NotFoundError } from "../errors.ts";
import { concatBytes } from "../_bytes.ts";

function tempStore(): { store: ContentStore; [Symbol.dispose](): void } {
  const dir = Deno.makeTempDirSync({ prefix: "img-content-" });
  return {
    store: new ContentStore(dir),
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** A stream whose chunks are pushed by the test, one at a time. */
function pushed(): {
  stream: ReadableStream<Uint8Array>;
  push(chunk: Uint8Array): void;
  end(): void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, push: (c) => controller.enqueue(c), end: () => controller.close() };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const tick = () => new Promise((r) => setTimeout(r, 20));

const data = new Uint8Array(randomBytes(600_000));
const digest = sha256(data);

Deno.test("follow reads a stored blob whole, also through a BYOB reader", async () => {
  using t = tempStore();
  await t.store.put(data, digest);
  assert.deepEqual(await readAll(t.store.follow(digest, Promise.resolve())), data);
  const reader = t.store.follow(digest, Promise.resolve()).getReader({ mode: "byob" });
  const out = new Uint8Array(data.length);
  let have = 0;
  while (true) {
    const { value, done } = await reader.read(new Uint8Array(100_000));
    if (done) break;
    out.set(value, have);
    have += value.byteLength;
  }
  assert.equal(have, data.length);
  assert.deepEqual(out, data);
});

Deno.test("follow hands out what an ingest has written and ends when the blob is stored", async () => {
  using t = tempStore();
  const source = pushed();
  const ingest = t.store.ingest(source.stream, { expected: digest, size: data.length });
  const reader = t.store.follow(digest, ingest).getReader();
  source.push(data.subarray(0, 1000));
  const first = await reader.read();
  assert.deepEqual(first.value, data.subarray(0, 1000));
  // Nothing more is there yet: the reader waits for the ingest.
  let more = false;
  const next = reader.read().then((r) => {
    more = true;
    return r;
  });
  await tick();
  assert.equal(more, false);
  source.push(data.subarray(1000));
  const parts = [first.value!, (await next).value!];
  await tick();
  source.end();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  await ingest;
  const out = concatBytes(parts);
  assert.deepEqual(out, data);
  assert.ok(await t.store.has(digest));
});

Deno.test("follow waits for an ingest that starts later", async () => {
  using t = tempStore();
  let startIngest!: () => void;
  const started = new Promise<void>((r) => (startIngest = r));
  const until = started.then(() =>
    t.store.ingest(ReadableStream.from([data]), { expected: digest })
  );
  const following = readAll(t.store.follow(digest, until));
  await tick();
  startIngest();
  assert.deepEqual(await following, data);
});

Deno.test("follow errors with the ingest's error when the content does not match", async () => {
  using t = tempStore();
  const source = pushed();
  const wrong = data.slice();
  wrong[500_000] ^= 1;
  const ingest = t.store.ingest(source.stream, { expected: digest });
  ingest.catch(() => {});
  const reader = t.store.follow(digest, ingest).getReader();
  source.push(wrong.subarray(0, 1000));
  assert.equal((await reader.read()).value?.length, 1000);
  source.push(wrong.subarray(1000));
  source.end();
  await assert.rejects(
    (async () => {
      while (!(await reader.read()).done) { /* reading on */ }
    })(),
    DigestMismatchError,
  );
  assert.equal(await t.store.has(digest), false);
});

Deno.test("follow goes on to another ingest when a failed one handed out nothing", async () => {
  using t = tempStore();
  const failing = pushed();
  const first = t.store.ingest(failing.stream, { expected: digest });
  first.catch(() => {});
  const until = first.catch(() =>
    t.store.ingest(ReadableStream.from([data]), { expected: digest })
  );
  const following = readAll(t.store.follow(digest, until));
  await tick();
  failing.push(new Uint8Array([1, 2, 3]).subarray(0, 0)); // nothing written yet
  failing.end(); // an empty blob: not the digest
  assert.deepEqual(await following, data);
});

Deno.test("follow reports a download that ended without the blob", async () => {
  using t = tempStore();
  await assert.rejects(readAll(t.store.follow(digest, Promise.resolve())), NotFoundError);
  await assert.rejects(
    readAll(t.store.follow(digest, Promise.reject(new Error("registry unreachable")))),
    /registry unreachable/,
  );
});
