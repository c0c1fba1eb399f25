/**
 * File names are bytes; JavaScript strings are UTF-16. Names are carried as strings with
 * Python's `surrogateescape`: valid UTF-8 decodes as usual, and each byte that is not part of
 * valid UTF-8 becomes the lone surrogate U+DC80..U+DCFF (`0x80 + n` -> `U+DC00 + n`), which no
 * valid UTF-8 decodes to. {@linkcode encodeName} turns such a string back into the original
 * bytes. A name with no such surrogate is an ordinary string, handled by Deno's own APIs;
 * one with them goes through libc (`core/fs/exact.ts`).
 *
 * @module
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
/** A lone surrogate that stands for a byte. */
const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const ascii = new TextDecoder("latin1");

/** Whether `name` holds bytes that are not UTF-8 (escaped as lone surrogates). */
export function hasRawBytes(name: string): boolean {
  return ESCAPED.test(name);
}

/** Decodes name bytes: UTF-8, with every byte that is not valid UTF-8 escaped. */
export function decodeName(bytes: Uint8Array): string {
  if (bytes.every((b) => b < 0x80)) return ascii.decode(bytes);
  try {
    return utf8.decode(bytes);
  } catch {
    return decodeMixed(bytes);
  }
}

/** The length of the valid UTF-8 sequence at `i`, or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1];
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1];
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

function decodeMixed(bytes: Uint8Array): string {
  let out = "";
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += utf8.decode(bytes.subarray(start, i)) + String.fromCharCode(0xdc00 + bytes[i]);
    i++;
    start = i;
  }
  return out + utf8.decode(bytes.subarray(start));
}

/** Encodes a name back into its bytes (UTF-8, escaped bytes restored). */
export function encodeName(name: string): Uint8Array<ArrayBuffer> {
  if (!ESCAPED.test(name)) return encoder.encode(name);
  const parts: number[] = [];
  let start = 0;
  const flush = (end: number) => {
    for (const b of encoder.encode(name.slice(start, end))) parts.push(b);
  };
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // A lone low surrogate (not preceded by a high one) in the escape range.
    if (c >= 0xdc80 && c <= 0xdcff && !(i > 0 && isHigh(name.charCodeAt(i - 1)))) {
      flush(i);
      parts.push(c - 0xdc00);
      start = i + 1;
    }
  }
  flush(name.length);
  return new Uint8Array(parts);
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** A name for messages: escaped bytes shown as `\xNN`. */
export function displayName(name: string): string {
  return hasRawBytes(name)
    ? name.replace(
      /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g,
      (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`,
    )
    : name;
}
