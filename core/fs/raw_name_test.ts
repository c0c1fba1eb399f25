import assert from "node:assert/strict";
import { decodeName, displayName, encodeName, hasRawBytes } from "./raw_name.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("decodeName keeps UTF-8 and escapes each byte that is not UTF-8", () => {
  assert.equal(decodeName(new TextEncoder().encode("plain/é/💀")), "plain/é/💀");
  assert.equal(hasRawBytes("plain/é/💀"), false);
  const bad = bytes(0x62, 0x61, 0x64, 0x2d, 0xff, 0xfe, 0x2d, 0x6e); // bad-\xff\xfe-n
  const name = decodeName(bad);
  assert.equal(name, "bad-\uDCFF\uDCFE-n");
  assert.equal(hasRawBytes(name), true);
  assert.equal(displayName(name), "bad-\\xff\\xfe-n");
  assert.deepEqual(encodeName(name), bad);
});

Deno.test("encodeName(decodeName(b)) is b for invalid sequences of every kind", () => {
  const cases = [
    bytes(0xc3), // truncated 2-byte sequence
    bytes(0xc0, 0xaf), // overlong
    bytes(0xe0, 0x80, 0xaf), // overlong 3-byte
    bytes(0xed, 0xa0, 0x80), // an encoded UTF-16 surrogate
    bytes(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
    bytes(0x61, 0xe2, 0x82, 0x61), // truncated inside
    bytes(0xf0, 0x9f, 0x92, 0x80, 0x80), // a valid emoji (U+1F480, low surrogate DC80) + 0x80
  ];
  for (const b of cases) assert.deepEqual(encodeName(decodeName(b)), b, `${b}`);
  // Every byte value, alone and after ASCII.
  for (let i = 0; i < 256; i++) {
    assert.deepEqual(encodeName(decodeName(bytes(0x78, i))), bytes(0x78, i));
  }
});
