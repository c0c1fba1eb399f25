/**
 * The source of the decompression worker of `decompress_worker.ts`, as a string: the worker is
 * started from a `blob:` URL so that it works alike from the source tree, the bundled CLI and a
 * `deno compile` binary (none of which would find a worker module file next to them).
 *
 * The decoders are those of `_native_decompress.ts` (the system's zlib and libzstd through
 * `Deno.dlopen`, into fixed buffers), in plain JavaScript; the worker also computes the
 * SHA-256 of what it decompresses (the layer's diff ID), with the system's libcrypto when it is
 * there (`node:crypto` costs the worker 7 MB more memory), else with `node:crypto`.
 *
 * Messages in: `{t: "init", kind, buffers, size}` once (`buffers` output buffers of `size`); `{t: "in", buf, len}` for each input chunk
 * (the buffer transferred); `{t: "end"}` after the last; `{t: "buf", buf}` giving back an
 * output buffer. Messages out: `{t: "out", buf, len}` for each output chunk (the buffer
 * transferred, to be given back); `{t: "ack", buf}` when an input chunk is used up (its buffer given back);
 * `{t: "done", digest, size}` at the end of complete input; `{t: "error", message}`.
 *
 * @module
 */

/** The worker's module source. */
export const DECOMPRESS_WORKER_SOURCE = `
const ptr = (buf, offset) =>
  BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf))) + BigInt(offset);

class GzipDecoder {
  constructor() {
    this.z = Deno.dlopen("libz.so.1", {
      zlibVersion: { parameters: [], result: "pointer" },
      inflateInit2_: { parameters: ["buffer", "i32", "pointer", "i32"], result: "i32" },
      inflate: { parameters: ["buffer", "i32"], result: "i32" },
      inflateReset: { parameters: ["buffer"], result: "i32" },
      inflateEnd: { parameters: ["buffer"], result: "i32" },
    }).symbols;
    // z_stream on 64-bit Linux: next_in 0, avail_in 8, next_out 24, avail_out 32, msg 48.
    this.strm = new Uint8Array(112);
    this.view = new DataView(this.strm.buffer);
    this.ended = false;
    this.finished = false;
    const rc = this.z.inflateInit2_(this.strm, 15 + 16, this.z.zlibVersion(), 112);
    if (rc !== 0) throw new Error("inflateInit2 failed (" + rc + ")");
  }
  get complete() {
    return this.ended;
  }
  run(input, inPos, inLength, out) {
    if (this.finished) return { written: 0, inPos: inLength };
    if (this.ended) {
      if (inPos >= inLength) return { written: 0, inPos };
      // Another gzip member follows, or trailing bytes (ignored, as Node's gunzip does).
      if (input[inPos] !== 0x1f) {
        this.finished = true;
        return { written: 0, inPos: inLength };
      }
      this.z.inflateReset(this.strm);
      this.ended = false;
    }
    const v = this.view;
    v.setBigUint64(0, ptr(input, inPos), true);
    v.setUint32(8, inLength - inPos, true);
    v.setBigUint64(24, ptr(out, 0), true);
    v.setUint32(32, out.length, true);
    const rc = this.z.inflate(this.strm, 0);
    const availIn = v.getUint32(8, true);
    const written = out.length - v.getUint32(32, true);
    if (rc === 1) this.ended = true;
    else if (rc !== 0 && !(rc === -5 && written === 0)) {
      const msg = v.getBigUint64(48, true);
      throw new Error(
        msg === 0n
          ? "error " + rc
          : Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(msg)),
      );
    }
    return { written, inPos: inLength - availIn };
  }
  close() {
    this.z.inflateEnd(this.strm);
  }
}

class ZstdDecoder {
  constructor() {
    this.z = Deno.dlopen("libzstd.so.1", {
      ZSTD_createDStream: { parameters: [], result: "pointer" },
      ZSTD_initDStream: { parameters: ["pointer"], result: "usize" },
      ZSTD_decompressStream: { parameters: ["pointer", "buffer", "buffer"], result: "usize" },
      ZSTD_isError: { parameters: ["usize"], result: "u32" },
      ZSTD_getErrorName: { parameters: ["usize"], result: "pointer" },
      ZSTD_freeDStream: { parameters: ["pointer"], result: "usize" },
    }).symbols;
    this.ds = this.z.ZSTD_createDStream();
    if (this.ds === null) throw new Error("ZSTD_createDStream failed");
    this.z.ZSTD_initDStream(this.ds);
    // ZSTD_inBuffer and ZSTD_outBuffer: { void *ptr; size_t size; size_t pos; }.
    this.in = new Uint8Array(24);
    this.out = new Uint8Array(24);
    this.complete = true;
    this.finished = false;
  }
  run(input, inPos, inLength, out) {
    const iv = new DataView(this.in.buffer);
    const ov = new DataView(this.out.buffer);
    iv.setBigUint64(0, ptr(input, 0), true);
    iv.setBigUint64(8, BigInt(inLength), true);
    iv.setBigUint64(16, BigInt(inPos), true);
    ov.setBigUint64(0, ptr(out, 0), true);
    ov.setBigUint64(8, BigInt(out.length), true);
    ov.setBigUint64(16, 0n, true);
    const rc = this.z.ZSTD_decompressStream(this.ds, this.out, this.in);
    if (this.z.ZSTD_isError(rc)) {
      const name = this.z.ZSTD_getErrorName(rc);
      throw new Error(name === null ? "zstd error" : Deno.UnsafePointerView.getCString(name));
    }
    const written = Number(ov.getBigUint64(16, true));
    const pos = Number(iv.getBigUint64(16, true));
    // 0: a frame is complete and flushed; anything else: more of the frame is expected.
    if (written > 0 || pos !== inPos) this.complete = rc === 0n;
    return { written, inPos: pos };
  }
  close() {
    this.z.ZSTD_freeDStream(this.ds);
  }
}

/** SHA-256 through libcrypto's EVP interface, or undefined without libcrypto. */
function libcryptoSha256() {
  let c;
  for (const name of ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"]) {
    try {
      c = Deno.dlopen(name, {
        EVP_MD_CTX_new: { parameters: [], result: "pointer" },
        EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
        EVP_sha256: { parameters: [], result: "pointer" },
        EVP_DigestInit_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
        EVP_DigestUpdate: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
        EVP_DigestFinal_ex: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
      }).symbols;
      break;
    } catch { /* the next name */ }
  }
  if (c === undefined) return undefined;
  const ctx = c.EVP_MD_CTX_new();
  if (ctx === null || c.EVP_DigestInit_ex(ctx, c.EVP_sha256(), null) !== 1) return undefined;
  return {
    update(data) {
      if (data.length > 0 && c.EVP_DigestUpdate(ctx, data, BigInt(data.length)) !== 1) {
        throw new Error("EVP_DigestUpdate failed");
      }
    },
    digest() {
      const out = new Uint8Array(32);
      if (c.EVP_DigestFinal_ex(ctx, out, null) !== 1) throw new Error("EVP_DigestFinal_ex failed");
      c.EVP_MD_CTX_free(ctx);
      return Array.from(out, (b) => b.toString(16).padStart(2, "0")).join("");
    },
  };
}

let decoder;
let hash;
let size = 0;
const inputs = [];
let inPos = 0;
let ended = false;
let stopped = false;
const free = [];
const empty = new Uint8Array(1);

function fail(e) {
  stopped = true;
  try {
    decoder?.close();
  } catch { /* already failing */ }
  decoder = undefined;
  self.postMessage({ t: "error", message: e instanceof Error ? e.message : String(e) });
}

function work() {
  if (stopped || decoder === undefined) return;
  try {
    while (free.length > 0) {
      const chunk = inputs[0];
      if (chunk === undefined && !ended) return;
      const out = free[free.length - 1];
      let written;
      if (chunk === undefined) {
        written = decoder.run(empty, 0, 0, out).written;
      } else {
        const r = decoder.run(chunk, inPos, chunk.length, out);
        written = r.written;
        inPos = decoder.finished ? chunk.length : r.inPos;
        if (inPos >= chunk.length) {
          inputs.shift();
          inPos = 0;
          // The input buffer goes back, to be filled again.
          self.postMessage({ t: "ack", buf: chunk.buffer }, [chunk.buffer]);
        }
      }
      if (written > 0) {
        free.pop();
        hash.update(out.subarray(0, written));
        size += written;
        self.postMessage({ t: "out", buf: out.buffer, len: written }, [out.buffer]);
        continue;
      }
      if (chunk === undefined) {
        const complete = decoder.complete || decoder.finished;
        decoder.close();
        decoder = undefined;
        stopped = true;
        if (!complete) throw new Error("unexpected end of file");
        self.postMessage({ t: "done", digest: "sha256:" + hash.digest("hex"), size });
        return;
      }
    }
  } catch (e) {
    fail(e);
  }
}

self.onmessage = async (event) => {
  const m = event.data;
  if (m.t === "init") {
    try {
      // Input that arrives meanwhile waits: nothing is decoded before there is a decoder.
      hash = libcryptoSha256() ?? (await import("node:crypto")).createHash("sha256");
      decoder = m.kind === "gzip" ? new GzipDecoder() : new ZstdDecoder();
    } catch (e) {
      return fail(e);
    }
    for (let i = 0; i < m.buffers; i++) free.push(new Uint8Array(m.size));
  } else if (m.t === "in") {
    inputs.push(new Uint8Array(m.buf, 0, m.len));
  } else if (m.t === "end") {
    ended = true;
  } else if (m.t === "buf") {
    free.push(new Uint8Array(m.buf));
  }
  work();
};
`;
