import assert from "node:assert/strict";
import { concatBytes, prefixBytes, startsWith } from "./_bytes.ts";

const b = (...xs: number[]) => new Uint8Array(xs);

Deno.test("concatBytes lays chunks end to end in a new array", () => {
  const parts = [b(1, 2), b(), b(3), new Uint8Array([9, 4, 5]).subarray(1)];
  assert.deepEqual(concatBytes(parts), b(1, 2, 3, 4, 5));
  assert.deepEqual(concatBytes([]), b());
});

Deno.test("prefixBytes takes the first n bytes across chunk boundaries", () => {
  const parts = [b(1), b(2, 3), b(4, 5, 6)];
  assert.deepEqual(prefixBytes(parts, 4), b(1, 2, 3, 4));
  assert.deepEqual(prefixBytes(parts, 1), b(1));
  assert.deepEqual(prefixBytes(parts, 10), b(1, 2, 3, 4, 5, 6), "all of them when fewer");
});

Deno.test("startsWith compares a magic number", () => {
  assert.equal(startsWith(b(0x1f, 0x8b, 8), [0x1f, 0x8b]), true);
  assert.equal(startsWith(b(0x1f), [0x1f, 0x8b]), false);
  assert.equal(startsWith(b(0x28, 0xb5), [0x1f, 0x8b]), false);
});
