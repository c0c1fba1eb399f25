/**
 * Byte-array helpers shared across core.
 *
 * @module
 */

/** The bytes of `chunks`, one after the other, in a new array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** The first `n` bytes of `chunks` laid end to end (all of them when they hold fewer). */
export function prefixBytes(chunks: readonly Uint8Array[], n: number): Uint8Array {
  let have = 0;
  for (const c of chunks) have += c.byteLength;
  const head = new Uint8Array(Math.min(have, n));
  let off = 0;
  for (const c of chunks) {
    if (off >= head.length) break;
    const part = c.subarray(0, head.length - off);
    head.set(part, off);
    off += part.length;
  }
  return head;
}

/** Whether `bytes` starts with the bytes `magic`. */
export function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}
