/**
 * gzip and zstd decompression through the system's zlib and libzstd (`Deno.dlopen`), into
 * buffers that are allocated once per stream. `node:zlib` allocates a new buffer for every
 * output chunk; at gigabytes per second (a gzip bomb expands ~1000:1) the garbage collector
 * falls behind by 100 MB and more. Here input and output reuse the same memory, so applying a
 * layer of any size and any compression ratio needs a few hundred KiB.
 *
 * @module
 */
import type { LayerCompression } from "../media_types.ts";

const ZLIB = {
  zlibVersion: { parameters: [], result: "pointer" },
  inflateInit2_: { parameters: ["buffer", "i32", "pointer", "i32"], result: "i32" },
  inflate: { parameters: ["buffer", "i32"], result: "i32" },
  inflateReset: { parameters: ["buffer"], result: "i32" },
  inflateEnd: { parameters: ["buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const ZSTD = {
  ZSTD_createDStream: { parameters: [], result: "pointer" },
  ZSTD_initDStream: { parameters: ["pointer"], result: "usize" },
  ZSTD_decompressStream: { parameters: ["pointer", "buffer", "buffer"], result: "usize" },
  ZSTD_isError: { parameters: ["usize"], result: "u32" },
  ZSTD_getErrorName: { parameters: ["usize"], result: "pointer" },
  ZSTD_freeDStream: { parameters: ["pointer"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

let zlib: Deno.DynamicLibrary<typeof ZLIB>["symbols"] | null | undefined;
let zstd: Deno.DynamicLibrary<typeof ZSTD>["symbols"] | null | undefined;

function openZlib() {
  if (zlib === undefined) {
    try {
      zlib = Deno.dlopen("libz.so.1", ZLIB).symbols;
    } catch {
      zlib = null;
    }
  }
  return zlib;
}

function openZstd() {
  if (zstd === undefined) {
    try {
      zstd = Deno.dlopen("libzstd.so.1", ZSTD).symbols;
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/** A decompressor working on fixed buffers: `input` is filled by the caller, `output` read. */
export interface NativeDecoder {
  /**
   * Decompresses from `input[0..inLength)` (starting at `inPos`) into `out`. Returns the
   * bytes written to `out` and the new input position.
   */
  run(input: Uint8Array, inPos: number, inLength: number, out: Uint8Array): {
    written: number;
    inPos: number;
  };
  /** Whether the data so far ends at the end of a gzip member or zstd frame. */
  readonly complete: boolean;
  /** Whether a gzip stream ended and what follows is not another member (ignored). */
  readonly finished: boolean;
  /** Frees the native state. */
  close(): void;
}

/** Thrown for corrupt input, with the library's message. */
export class NativeDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NativeDecodeError";
  }
}

const ptr = (buf: Uint8Array, offset: number) =>
  BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf))) + BigInt(offset);

class GzipDecoder implements NativeDecoder {
  readonly #z = openZlib()!;
  // z_stream on 64-bit Linux: next_in 0, avail_in 8, next_out 24, avail_out 32, msg 48.
  readonly #strm = new Uint8Array(112);
  readonly #view = new DataView(this.#strm.buffer);
  #ended = false; // the current member is complete
  #finished = false;

  constructor() {
    const rc = this.#z.inflateInit2_(this.#strm, 15 + 16, this.#z.zlibVersion(), 112);
    if (rc !== 0) throw new NativeDecodeError(`inflateInit2 failed (${rc})`);
  }

  get complete(): boolean {
    return this.#ended;
  }

  get finished(): boolean {
    return this.#finished;
  }

  run(input: Uint8Array, inPos: number, inLength: number, out: Uint8Array) {
    if (this.#finished) return { written: 0, inPos: inLength };
    if (this.#ended) {
      if (inPos >= inLength) return { written: 0, inPos };
      // Another gzip member follows, or trailing bytes (ignored, as Node's gunzip does).
      if (input[inPos] !== 0x1f) {
        this.#finished = true;
        return { written: 0, inPos: inLength };
      }
      this.#z.inflateReset(this.#strm);
      this.#ended = false;
    }
    const v = this.#view;
    v.setBigUint64(0, ptr(input, inPos), true);
    v.setUint32(8, inLength - inPos, true);
    v.setBigUint64(24, ptr(out, 0), true);
    v.setUint32(32, out.length, true);
    const rc = this.#z.inflate(this.#strm, 0);
    const availIn = v.getUint32(8, true);
    const written = out.length - v.getUint32(32, true);
    if (rc === 1) this.#ended = true;
    else if (rc !== 0 && !(rc === -5 && written === 0)) {
      const msg = v.getBigUint64(48, true);
      const text = msg === 0n
        ? `error ${rc}`
        : Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(msg)!);
      throw new NativeDecodeError(text);
    }
    return { written, inPos: inLength - availIn };
  }

  close(): void {
    this.#z.inflateEnd(this.#strm);
  }
}

class ZstdDecoder implements NativeDecoder {
  readonly #z = openZstd()!;
  readonly #ds: Deno.PointerValue;
  // ZSTD_inBuffer and ZSTD_outBuffer: { void *ptr; size_t size; size_t pos; }.
  readonly #in = new Uint8Array(24);
  readonly #out = new Uint8Array(24);
  #complete = true;

  constructor() {
    this.#ds = this.#z.ZSTD_createDStream();
    if (this.#ds === null) throw new NativeDecodeError("ZSTD_createDStream failed");
    this.#z.ZSTD_initDStream(this.#ds);
  }

  get complete(): boolean {
    return this.#complete;
  }

  get finished(): boolean {
    return false;
  }

  run(input: Uint8Array, inPos: number, inLength: number, out: Uint8Array) {
    const iv = new DataView(this.#in.buffer);
    const ov = new DataView(this.#out.buffer);
    iv.setBigUint64(0, ptr(input, 0), true);
    iv.setBigUint64(8, BigInt(inLength), true);
    iv.setBigUint64(16, BigInt(inPos), true);
    ov.setBigUint64(0, ptr(out, 0), true);
    ov.setBigUint64(8, BigInt(out.length), true);
    ov.setBigUint64(16, 0n, true);
    const rc = this.#z.ZSTD_decompressStream(this.#ds, this.#out, this.#in);
    if (this.#z.ZSTD_isError(rc)) {
      const name = this.#z.ZSTD_getErrorName(rc);
      throw new NativeDecodeError(
        name === null ? "zstd error" : Deno.UnsafePointerView.getCString(name),
      );
    }
    const written = Number(ov.getBigUint64(16, true));
    const pos = Number(iv.getBigUint64(16, true));
    // 0: a frame is complete and flushed; anything else: more of the frame is expected.
    if (written > 0 || pos !== inPos) this.#complete = rc === 0n;
    return { written, inPos: pos };
  }

  close(): void {
    this.#z.ZSTD_freeDStream(this.#ds);
  }
}

/** Whether the system library for `kind` is there. */
export function nativeAvailable(kind: LayerCompression): boolean {
  return kind === "gzip" ? openZlib() != null : kind === "zstd" ? openZstd() != null : false;
}

/** A native decoder for `kind`, or `undefined` when the system library is missing. */
export function nativeDecoder(kind: LayerCompression): NativeDecoder | undefined {
  if (kind === "gzip" && openZlib()) return new GzipDecoder();
  if (kind === "zstd" && openZstd()) return new ZstdDecoder();
  return undefined;
}
