/**
 * Feeding a gzip compressor in fixed blocks of {@linkcode GZIP_BLOCK} uncompressed bytes,
 * switching it to level 0 (stored deflate blocks) for blocks that deflate cannot shrink and back
 * to the requested level for the others (zlib's `deflateParams`, `gzip.params()` in
 * `node:zlib`). Deflating random data at level 6 costs about 20 ms per MiB and gains nothing;
 * storing it costs a copy and a CRC.
 *
 * The output depends only on the input bytes, never on how the input stream is chunked: blocks
 * are cut at fixed offsets, each is written in one call, and whether a block is stored depends
 * only on its content ({@linkcode isCompressible}). When every block is compressible the level
 * never changes and the output is exactly what one gzip stream at the requested level makes of
 * the whole input (deflate at levels 1 to 9 does not depend on how its input is split).
 *
 * @module
 */
import { constants } from "node:zlib";
import { isCompressible } from "./_compressibility.ts";
import type { FeedOptions } from "./_node_stream.ts";

/** The size of a block of uncompressed input whose level is chosen on its own. */
export const GZIP_BLOCK = 1024 * 1024;

/**
 * What the block feeder needs of a `node:zlib` gzip stream (`params` is Node's, missing from
 * the `Gzip` type of `@types/node`).
 */
export interface GzipWritable {
  /** Writes a chunk; `callback` runs once it is consumed (or the stream failed). */
  write(chunk: Uint8Array, callback: () => void): boolean;
  /** Ends the input. */
  end(): unknown;
  /** Destroys the stream, with `error` if given. */
  destroy(error?: Error): unknown;
  /** Whether the stream was destroyed. */
  readonly destroyed: boolean;
  /** Adds an event listener. */
  on(event: string, listener: () => void): unknown;
  /** Removes an event listener. */
  off(event: string, listener: () => void): unknown;
  /** Flushes (`Z_SYNC_FLUSH`) and switches to `level` and `strategy` for what follows. */
  params(level: number, strategy: number, callback: () => void): void;
}

/** A running feed of a gzip stream: see {@linkcode feedGzipBlocks}. */
export interface GzipFeed {
  /** Settles once feeding has ended, stopped or failed. Never rejects. */
  readonly done: Promise<void>;
  /**
   * Resolves once no level change is in flight. A gzip stream must not be destroyed while one
   * is: `node:zlib` then throws an uncatchable "zlib binding closed".
   */
  idle(): Promise<void>;
}

/** Resolves when `w` has consumed `chunk` (its write callback) or is closed or errored. */
export function written(
  w: Pick<GzipWritable, "write" | "on" | "off">,
  chunk: Uint8Array,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      w.off("error", done);
      w.off("close", done);
      resolve();
    };
    w.on("error", done);
    w.on("close", done);
    w.write(chunk, done);
  });
}

/**
 * Writes into the gzip stream `w` in blocks of {@linkcode GZIP_BLOCK} bytes (the last one
 * shorter), each at `level` (undefined: zlib's default) or, when {@linkcode isCompressible}
 * judges it incompressible, at level 0. Chunks are copied into one block buffer, reused once `w`
 * has consumed it: at most one block is held, and a chunk may change once its write resolves.
 */
export class GzipBlocks {
  readonly #w: GzipWritable;
  readonly #stopped: () => boolean;
  readonly #requested: number;
  #current: number;
  #changing: Promise<void> | undefined;
  readonly #block = new Uint8Array(GZIP_BLOCK);
  #used = 0;

  /** Writes into `w` at `level`; stops writing once `stopped()` is true or `w` is destroyed. */
  constructor(w: GzipWritable, level: number | undefined, stopped: () => boolean = () => false) {
    this.#w = w;
    this.#stopped = () => stopped() || w.destroyed;
    this.#requested = level ?? constants.Z_DEFAULT_COMPRESSION;
    this.#current = this.#requested;
  }

  /** Adds `chunk`, compressing each block it completes; false once writing must stop. */
  async write(chunk: Uint8Array): Promise<boolean> {
    let off = 0;
    while (off < chunk.byteLength) {
      const n = Math.min(GZIP_BLOCK - this.#used, chunk.byteLength - off);
      this.#block.set(chunk.subarray(off, off + n), this.#used);
      this.#used += n;
      off += n;
      if (this.#used < GZIP_BLOCK) continue;
      this.#used = 0;
      if (!(await this.#writeBlock(this.#block))) return false;
    }
    return !this.#stopped();
  }

  /** Compresses the last (short) block and ends `w`; false if writing had to stop. */
  async end(): Promise<boolean> {
    const used = this.#used;
    this.#used = 0;
    if (used > 0 && !(await this.#writeBlock(this.#block.subarray(0, used)))) return false;
    if (this.#stopped()) return false;
    this.#w.end();
    return true;
  }

  /**
   * Resolves once no level change is in flight. A gzip stream must not be destroyed while one
   * is: `node:zlib` then throws an uncatchable "zlib binding closed".
   */
  async idle(): Promise<void> {
    while (this.#changing) await this.#changing;
  }

  async #writeBlock(block: Uint8Array): Promise<boolean> {
    // Checked right before `params`: on a destroyed stream it throws an uncatchable error.
    if (this.#stopped()) return false;
    // Level 0 stores everything anyway: nothing to judge.
    if (this.#requested !== 0) {
      const want = isCompressible(block) ? this.#requested : 0;
      if (want !== this.#current) {
        await this.#setLevel(want);
        if (this.#stopped()) return false;
      }
    }
    await written(this.#w, block);
    return !this.#stopped();
  }

  #setLevel(next: number): Promise<void> {
    const w = this.#w;
    this.#current = next;
    this.#changing = new Promise<void>((resolve) => {
      const done = () => {
        w.off("error", done);
        w.off("close", done);
        resolve();
      };
      w.on("error", done);
      w.on("close", done);
      w.params(next, constants.Z_DEFAULT_STRATEGY, done);
    }).finally(() => (this.#changing = undefined));
    return this.#changing;
  }
}

/**
 * Writes everything `reader` yields into the gzip stream `w` through {@linkcode GzipBlocks},
 * then ends `w`. Stops, errors and source errors as {@linkcode feedWritable} does.
 */
export function feedGzipBlocks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  w: GzipWritable,
  level: number | undefined,
  options: FeedOptions = {},
): GzipFeed {
  const stopped = () => (options.stopped?.() ?? false) || w.destroyed;
  const blocks = new GzipBlocks(w, level, stopped);
  const run = async (): Promise<void> => {
    try {
      while (!stopped()) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!(await blocks.write(value))) return;
      }
      if (!stopped()) await blocks.end();
    } catch (e) {
      options.onSourceError?.(e);
      await blocks.idle();
      w.destroy(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return { done: run(), idle: () => blocks.idle() };
}
