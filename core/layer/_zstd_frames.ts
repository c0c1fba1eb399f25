/**
 * Follows the frame structure of a zstd stream without decompressing it (RFC 8878), for two
 * gaps of Deno's `node:zlib` zstd decoder (Deno 2.9): it ends silently on truncated input,
 * where Node reports "unexpected end of file", and it rejects skippable frames, which
 * zstd:chunked layers carry. The filter drops skippable frames and tells whether the input
 * ended after a complete frame.
 *
 * @module
 */

const ZSTD_MAGIC = 0xfd2fb528;

function u32(b: number[]): number {
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

/** Drops skippable frames from a zstd stream fed chunk by chunk, and tracks completeness. */
export class ZstdFrameFilter {
  /** Bytes to pass (or drop) before the next structure. */
  #skip = 0;
  /** Whether the bytes being skipped belong to a regular frame (passed on). */
  #pass = true;
  /** Header bytes collected so far for the current structure. */
  #buf: number[] = [];
  #state: "magic" | "skippable-size" | "fhd" | "block" = "magic";
  #checksum = false;
  #frames = 0;
  /** Set when the data is not zstd at all: from then on bytes pass through unexamined, and
   * the decoder reports the error. */
  #invalid = false;

  /** Feeds the next chunk of compressed input; returns the parts to hand to the decoder. */
  filter(chunk: Uint8Array): Uint8Array[] {
    if (this.#invalid) return [chunk];
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#invalid) {
        out.push(chunk.subarray(i));
        break;
      }
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        if (this.#pass) out.push(chunk.subarray(i, i + n));
        this.#skip -= n;
        i += n;
        continue;
      }
      this.#buf.push(chunk[i++]);
      const passed = this.#step();
      if (passed) out.push(passed);
    }
    return out;
  }

  /** Consumes the collected header bytes; returns the bytes to pass on, if any. */
  #step(): Uint8Array | undefined {
    const b = this.#buf;
    switch (this.#state) {
      case "magic": {
        if (b.length < 4) return;
        this.#buf = [];
        const magic = u32(b);
        if (magic === ZSTD_MAGIC) {
          this.#state = "fhd";
          return Uint8Array.from(b);
        }
        if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
          this.#state = "skippable-size";
          return;
        }
        this.#invalid = true;
        return Uint8Array.from(b);
      }
      case "skippable-size": {
        if (b.length < 4) return;
        this.#buf = [];
        this.#skip = u32(b);
        this.#pass = false;
        this.#state = "magic";
        return;
      }
      case "fhd": {
        const fhd = b[0];
        this.#buf = [];
        const single = (fhd >> 5) & 1;
        this.#checksum = ((fhd >> 2) & 1) === 1;
        const dictSize = [0, 1, 2, 4][fhd & 3];
        const fcsSize = [single ? 1 : 0, 2, 4, 8][fhd >> 6];
        this.#skip = (single ? 0 : 1) + dictSize + fcsSize;
        this.#pass = true;
        this.#state = "block";
        return Uint8Array.of(fhd);
      }
      case "block": {
        if (b.length < 3) return;
        this.#buf = [];
        const v = b[0] | (b[1] << 8) | (b[2] << 16);
        const type = (v >> 1) & 3;
        this.#skip = type === 1 ? 1 : v >>> 3;
        this.#pass = true;
        if (v & 1) { // last block
          this.#skip += this.#checksum ? 4 : 0;
          this.#frames++;
          this.#state = "magic";
        }
        return Uint8Array.from(b);
      }
    }
  }

  /** Whether the input so far ends right after a complete frame (or is not zstd at all). */
  get complete(): boolean {
    return this.#invalid ||
      (this.#state === "magic" && this.#skip === 0 && this.#buf.length === 0 && this.#frames > 0);
  }
}
