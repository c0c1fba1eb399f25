/**
 * Feeding a gzip compressor while judging its input in fixed blocks of {@linkcode GZIP_BLOCK}
 * bytes: blocks that deflate cannot shrink are stored (zlib level 0, switched with
 * `deflateParams`, `gzip.params()` in `node:zlib`), the others compressed at the requested
 * level. Deflating random data at level 6 costs about 20 ms per MiB and gains nothing; storing it
 * costs a copy and a CRC.
 *
 * - Whether a block is stored depends only on its content ({@linkcode isCompressible}); blocks
 *   are cut at fixed offsets of the stream.
 * - Compressed data reaches zlib in exactly the writes it came in: Deno's zlib (zlib-ng) does
 *   not make the same deflate stream of differently split input (a Debian `/usr/lib` layer
 *   came out 4.5 KB apart). So when every block is compressible, the output is byte-identical
 *   to one plain gzip stream fed the same chunks: what img wrote before blocks were judged.
 * - A stored block reaches zlib as one write of the whole block, so stored data comes out the
 *   same however the input was chunked (level 0 output depends on the writes too).
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
  write(chunk: Uint8Array, callback?: () => void): boolean;
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
 * Writes into the gzip stream `w`, judging the input in blocks of {@linkcode GZIP_BLOCK} bytes
 * (see the module documentation): each block at `level` (undefined: zlib's default) or, when
 * {@linkcode isCompressible} judges it incompressible, at level 0. Chunks are copied in, so a
 * chunk may change once its write resolves; what is held is the current block and the chunks
 * that reach into it.
 */
export class GzipBlocks {
  readonly #w: GzipWritable;
  readonly #stopped: () => boolean;
  readonly #requested: number;
  #current: number;
  #changing: Promise<void> | undefined;
  /** Bytes received; #buf[0] is at stream offset #origin. Grows as needed (small stays small). */
  #buf = new Uint8Array(64 * 1024);
  #origin = 0;
  /** Stream offset of the first byte not yet written to `w`. */
  #base = 0;
  /** Stream offset of the end of the received bytes. */
  #end = 0;
  /** Stream offsets where the chunks not yet written end, in order. */
  #chunkEnds: number[] = [];
  /** Index in #chunkEnds of the first chunk not yet written (a queue without `shift`). */
  #chunkHead = 0;
  /** Whether each block decided so far is compressible, by block number. */
  #compressible: boolean[] = [];
  #ended = false;

  /** Writes into `w` at `level`; stops writing once `stopped()` is true or `w` is destroyed. */
  constructor(w: GzipWritable, level: number | undefined, stopped: () => boolean = () => false) {
    this.#w = w;
    this.#stopped = () => stopped() || w.destroyed;
    this.#requested = level ?? constants.Z_DEFAULT_COMPRESSION;
    this.#current = this.#requested;
  }

  /** Adds `chunk` (copied), writing what can be written; false once writing must stop. */
  async write(chunk: Uint8Array): Promise<boolean> {
    if (chunk.byteLength === 0) return !this.#stopped();
    this.#append(chunk);
    if (this.#chunkHead > 1024 && this.#chunkHead * 2 > this.#chunkEnds.length) {
      this.#chunkEnds = this.#chunkEnds.slice(this.#chunkHead);
      this.#chunkHead = 0;
    }
    this.#chunkEnds.push(this.#end);
    while ((this.#compressible.length + 1) * GZIP_BLOCK <= this.#end) this.#decide();
    return await this.#flush();
  }

  /** Writes the rest (the last block is judged as it is) and ends `w`; false if stopped. */
  async end(): Promise<boolean> {
    this.#ended = true;
    if (this.#compressible.length * GZIP_BLOCK < this.#end) this.#decide();
    if (!(await this.#flush())) return false;
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

  /** Copies `chunk` in after the received bytes, dropping written ones to make room. */
  #append(chunk: Uint8Array): void {
    if (this.#end - this.#origin + chunk.byteLength > this.#buf.length) {
      // Drop what is written: the unwritten bytes move to the front.
      const keep = this.#buf.subarray(this.#base - this.#origin, this.#end - this.#origin);
      const room = keep.length + chunk.byteLength;
      if (room > this.#buf.length) {
        const grown = new Uint8Array(Math.max(room, 2 * this.#buf.length));
        grown.set(keep);
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#base - this.#origin, this.#end - this.#origin);
      }
      this.#origin = this.#base;
    }
    this.#buf.set(chunk, this.#end - this.#origin);
    this.#end += chunk.byteLength;
  }

  /** Judges the next block (the bytes from its start up to a block, or to the end). */
  #decide(): void {
    const start = this.#compressible.length * GZIP_BLOCK;
    const stop = Math.min(start + GZIP_BLOCK, this.#end);
    const bytes = this.#buf.subarray(start - this.#origin, stop - this.#origin);
    // Level 0 stores everything anyway: nothing to judge.
    this.#compressible.push(this.#requested === 0 || isCompressible(bytes));
  }

  /**
   * Writes every piece whose blocks are judged; false once writing must stop. Pieces go to `w`
   * without waiting for each (as plain writes would); the last one is awaited, and `w` consumes
   * writes in order, so the buffer is free again when this resolves.
   */
  async #flush(): Promise<boolean> {
    // The last piece handed on: written with a callback when no other follows.
    let last: Uint8Array | undefined;
    while (this.#base < this.#end) {
      const block = Math.floor(this.#base / GZIP_BLOCK);
      if (block >= this.#compressible.length) break;
      let stop: number;
      let level: number;
      if (!this.#compressible[block]) {
        // A stored block: one write of the whole block.
        stop = Math.min((block + 1) * GZIP_BLOCK, this.#end);
        if (stop < (block + 1) * GZIP_BLOCK && !this.#ended) break;
        level = 0;
      } else {
        // Compressed: the chunk as it came, cut only where a stored block begins.
        const chunkEnd = this.#chunkEnds[this.#chunkHead] ?? this.#end;
        const last = Math.floor((chunkEnd - 1) / GZIP_BLOCK);
        if (last >= this.#compressible.length) break;
        stop = chunkEnd;
        for (let b = block + 1; b <= last; b++) {
          if (!this.#compressible[b]) {
            stop = b * GZIP_BLOCK;
            break;
          }
        }
        level = this.#requested;
      }
      // Checked right before `params`: on a destroyed stream it throws an uncatchable error.
      if (this.#stopped()) return false;
      if (level !== this.#current) {
        // The level change's flush is queued behind the pieces, and waits for them.
        if (last) this.#w.write(last);
        last = undefined;
        await this.#setLevel(level);
        if (this.#stopped()) return false;
      }
      if (last) this.#w.write(last);
      const from = this.#base - this.#origin;
      last = this.#buf.subarray(from, from + stop - this.#base);
      this.#base = stop;
      const ends = this.#chunkEnds;
      while (this.#chunkHead < ends.length && ends[this.#chunkHead] <= stop) this.#chunkHead++;
    }
    if (last && !this.#stopped()) await written(this.#w, last);
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
