/**
 * Decompression of layer blobs (gzip, zstd or plain tar): with the system's zlib and libzstd
 * into fixed buffers when they are installed (`_native_decompress.ts`: memory stays flat
 * whatever the compression ratio), else with `node:zlib` (about three times faster than
 * `DecompressionStream`, and it speaks zstd), paused above 1 MiB of undelivered output.
 * `node:zlib` is imported only then: loading it costs ~20 ms, which a command that
 * decompresses nothing (a cached build, `img ls`) does not pay.
 *
 * @module
 */
import type { Transform } from "node:stream";
import { concatBytes, prefixBytes, startsWith } from "../_bytes.ts";
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { drained } from "./_node_stream.ts";
import { ZstdFrameFilter } from "./_zstd_frames.ts";
import { nativeAvailable, type NativeDecoder, nativeDecoder } from "./_native_decompress.ts";

export type { LayerCompression } from "../media_types.ts";

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/**
 * Output chunk size of the decompressors. Node's default (16 KiB) makes so many short-lived
 * buffers that a highly compressed layer drives the process to 200-400 MB before the garbage
 * collector catches up; 256 KiB keeps it near 110 MB, whatever the ratio.
 */
const DECOMPRESS_CHUNK = 256 * 1024;
/** Size of the input and output buffers of the native decoders. */
const NATIVE_CHUNK = 256 * 1024;
/** Decompressed bytes held before the decompressor is paused. */
const OUTPUT_LIMIT = 1024 * 1024;

/**
 * Detects the compression of a blob from its first bytes: gzip (`1f 8b`), zstd
 * (`28 b5 2f fd`), or else uncompressed. Pass at least 4 bytes when the blob has them.
 */
export function detectCompression(firstBytes: Uint8Array): LayerCompression {
  if (startsWith(firstBytes, GZIP_MAGIC)) return "gzip";
  if (startsWith(firstBytes, ZSTD_MAGIC)) return "zstd";
  return "uncompressed";
}

async function createDecompressor(compression: LayerCompression): Promise<Transform | undefined> {
  if (compression === "uncompressed") return undefined;
  const { createGunzip, createZstdDecompress } = await import("node:zlib");
  switch (compression) {
    case "gzip":
      return createGunzip({ chunkSize: DECOMPRESS_CHUNK });
    case "zstd":
      return createZstdDecompress({ chunkSize: DECOMPRESS_CHUNK });
  }
}

/**
 * Returns the decompressed form of `stream`. With no `compression`, it is detected from the
 * first bytes of the stream (see {@linkcode detectCompression}). Corrupt or truncated input
 * makes the returned stream error with an {@linkcode ImgError}; cancelling the returned
 * stream cancels the source. zstd input may hold several frames and skippable frames (as
 * zstd:chunked layers do). A byte stream source (a file's `readable`) is read into a reused
 * buffer.
 */
export function decompressStream(
  stream: ReadableStream<Uint8Array>,
  compression?: LayerCompression,
  options: DecompressOptions = {},
): ReadableStream<Uint8Array> {
  const kind = compression;
  if (kind !== "uncompressed") {
    // The system's zlib / libzstd into fixed buffers when they are there (see
    // _native_decompress.ts); else node:zlib.
    const native = nativeStream(stream, kind, options);
    if (native) return native;
  }
  return nodeStream(stream, compression);
}

/** Options of {@linkcode decompressStream}. */
export interface DecompressOptions {
  /**
   * Hand out views of two output buffers that are reused: each chunk is valid only until the
   * chunk after the next one is read. For consumers that use each chunk at once (applying a
   * layer): no garbage per chunk, so memory stays flat whatever the size and ratio.
   */
  reuseChunks?: boolean;
}

/** Reads a stream into a reused buffer when it is a byte stream, else chunk by chunk. */
class Input {
  #byob?: ReadableStreamBYOBReader;
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(NATIVE_CHUNK);

  constructor(readonly stream: ReadableStream<Uint8Array>) {
    try {
      this.#byob = stream.getReader({ mode: "byob" });
    } catch {
      this.#reader = stream.getReader();
    }
  }

  /** The next chunk (valid until the next call), or `undefined` at the end. */
  async read(): Promise<Uint8Array | undefined> {
    if (this.#reader) {
      const { value, done } = await this.#reader.read();
      return done ? undefined : value;
    }
    const { value, done } = await this.#byob!.read(this.#buf);
    if (done || value === undefined) return undefined;
    this.#buf = new Uint8Array(value.buffer);
    return value;
  }

  cancel(reason: unknown): Promise<void> {
    return (this.#byob ?? this.#reader)!.cancel(reason);
  }
}

/** Decompression with a native decoder, or `undefined` if the library is missing. */
function nativeStream(
  stream: ReadableStream<Uint8Array>,
  compression: LayerCompression | undefined,
  options: DecompressOptions,
): ReadableStream<Uint8Array> | undefined {
  // Without a known compression, the decoder is chosen from the first bytes.
  if (compression !== undefined && !nativeAvailable(compression)) return undefined;
  if (compression === undefined && (!nativeAvailable("gzip") || !nativeAvailable("zstd"))) {
    return undefined;
  }
  const input = new Input(stream);
  let kind = compression;
  let decoder: NativeDecoder | undefined;
  let chunk: Uint8Array = new Uint8Array(0);
  let pos = 0;
  let sourceDone = false;
  const outputs = [new Uint8Array(NATIVE_CHUNK), new Uint8Array(NATIVE_CHUNK)];
  let which = 0;
  const empty = new Uint8Array(1);
  const corrupt = (message: string, cause?: unknown) =>
    new ImgError(
      `Cannot decompress the ${kind} layer data (${message}); the blob is corrupt or truncated`,
      { cause },
    );

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (true) {
        if (pos >= chunk.length && !sourceDone) {
          let next = await input.read();
          if (kind === undefined) {
            // The first bytes choose the decoder when the media type did not.
            const head: Uint8Array[] = [];
            let have = 0;
            while (next !== undefined) {
              head.push(next.slice());
              have += next.length;
              if (have >= ZSTD_MAGIC.length) break;
              next = await input.read();
            }
            if (have > 0) {
              next = concatBytes(head);
              kind = detectCompression(next);
            }
          }
          if (next === undefined) sourceDone = true;
          else {
            chunk = next;
            pos = 0;
          }
        }
        if (kind === "uncompressed") {
          if (sourceDone) controller.close();
          else {
            controller.enqueue(chunk.slice());
            pos = chunk.length;
          }
          return;
        }
        if (kind === undefined) {
          // Empty input.
          controller.close();
          return;
        }
        decoder ??= nativeDecoder(kind)!;
        const out = options.reuseChunks ? outputs[which ^= 1] : new Uint8Array(NATIVE_CHUNK);
        let written: number;
        try {
          const atEnd = pos >= chunk.length;
          const r = atEnd
            ? decoder.run(empty, 0, 0, out)
            : decoder.run(chunk, pos, chunk.length, out);
          written = r.written;
          if (!atEnd) pos = r.inPos;
        } catch (e) {
          decoder.close();
          decoder = undefined;
          await input.cancel(e).catch(() => {});
          throw corrupt((e as Error).message, e);
        }
        if (written > 0) {
          controller.enqueue(out.subarray(0, written));
          return;
        }
        if (sourceDone && pos >= chunk.length) {
          const complete = decoder.complete || decoder.finished;
          decoder.close();
          decoder = undefined;
          if (!complete) throw corrupt("unexpected end of file");
          controller.close();
          return;
        }
        if (decoder.finished) {
          // Trailing bytes after the last gzip member: read and dropped.
          pos = chunk.length;
        }
      }
    },
    async cancel(reason) {
      decoder?.close();
      decoder = undefined;
      await input.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Decompression with node:zlib. */
function nodeStream(
  stream: ReadableStream<Uint8Array>,
  compression?: LayerCompression,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let decompressor: Transform | undefined;
  let frames: ZstdFrameFilter | undefined;
  let kind: LayerCompression | undefined = compression;
  // Chunks read while detecting the compression, to be replayed.
  let pending: Uint8Array[] = [];
  let sourceDone = false;
  // Output of the decompressor waiting to be enqueued (at most about OUTPUT_LIMIT bytes: the
  // decompressor is paused above it, which stops it reading its input, which stops the
  // feeding), and a waiter for more of it.
  const output: Uint8Array[] = [];
  let outputBytes = 0;
  let outputEnded = false;
  let outputError: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  async function detect(): Promise<void> {
    let have = 0;
    while (have < ZSTD_MAGIC.length) {
      const { value, done } = await reader.read();
      if (done) {
        sourceDone = true;
        break;
      }
      pending.push(value);
      have += value.length;
    }
    kind = detectCompression(prefixBytes(pending, ZSTD_MAGIC.length));
  }

  async function setup(): Promise<void> {
    decompressor = await createDecompressor(kind!);
    if (!decompressor) return;
    const d = decompressor;
    if (kind === "zstd") frames = new ZstdFrameFilter();
    d.on("data", (chunk: Uint8Array) => {
      output.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      outputBytes += chunk.byteLength;
      if (outputBytes >= OUTPUT_LIMIT) d.pause();
      notify();
    });
    d.on("end", () => {
      outputEnded = true;
      notify();
    });
    d.on("error", (err: Error) => {
      outputError = new ImgError(
        `Cannot decompress the ${kind} layer data (${err.message}); the blob is corrupt or truncated`,
        { cause: err },
      );
      notify();
    });
    feed(d).catch((e) => {
      outputError ??= e;
      notify();
    });
  }

  /** Feeds the decompressor its whole input, honouring backpressure, then ends it. */
  async function feed(d: Transform): Promise<void> {
    while (!d.destroyed) {
      let chunk: Uint8Array | undefined = pending.shift();
      if (chunk === undefined && !sourceDone) {
        const r = await reader.read();
        if (r.done) sourceDone = true;
        else chunk = r.value;
      }
      if (chunk === undefined) break;
      let ok = true;
      for (const part of frames ? frames.filter(chunk) : [chunk]) ok = d.write(part);
      if (!ok) await drained(d);
    }
    if (d.destroyed) return;
    if (frames && !frames.complete) {
      outputError = new ImgError(
        "Cannot decompress the zstd layer data (unexpected end of file); the blob is corrupt or truncated",
      );
      d.destroy();
      notify();
      return;
    }
    d.end();
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (kind === undefined) await detect();
      if (decompressor === undefined && kind !== "uncompressed") await setup();
      if (!decompressor) {
        // Uncompressed: pass chunks through.
        const next = pending.shift();
        if (next) return controller.enqueue(next);
        if (sourceDone) return controller.close();
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
        return;
      }
      while (true) {
        if (outputError) throw outputError;
        if (output.length > 0) {
          const chunk = output.shift()!;
          outputBytes -= chunk.byteLength;
          controller.enqueue(chunk);
          if (outputBytes < OUTPUT_LIMIT && decompressor.isPaused()) decompressor.resume();
          return;
        }
        if (outputEnded) {
          controller.close();
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    },
    async cancel(reason) {
      decompressor?.destroy();
      pending = [];
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
