/**
 * Compression of layer tars (gzip, zstd or none) with `node:zlib`, about three times faster
 * than `CompressionStream`, streaming with backpressure: a layer is never held in memory.
 *
 * Gzip input goes through in fixed 1 MiB blocks, and blocks that deflate cannot shrink (random
 * data, media, archives) are stored rather than searched for matches (see `_gzip_blocks.ts`):
 * output that is byte-identical to plain gzip whenever every block is compressible, and
 * deterministic always. Zstd needs no such help: it stores incompressible blocks itself, at
 * about the speed of a copy.
 *
 * @module
 */
import { constants, createGzip, createZstdCompress } from "node:zlib";
import type { Transform } from "node:stream";
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { feedWritable } from "./_node_stream.ts";
import { feedGzipBlocks, type GzipWritable } from "./_gzip_blocks.ts";
import { add, start } from "../trace.ts";

export type { LayerCompression } from "../media_types.ts";

function createCompressor(compression: LayerCompression, level?: number): Transform | undefined {
  switch (compression) {
    case "gzip":
      return createGzip(level === undefined ? {} : { level });
    case "zstd":
      return createZstdCompress(
        level === undefined ? {} : { params: { [constants.ZSTD_c_compressionLevel]: level } },
      );
    case "uncompressed":
      return undefined;
  }
}

/**
 * Returns the compressed form of `stream`: gzip (default level 6, as Docker and BuildKit),
 * zstd (default level 3) or, for `"uncompressed"`, `stream` itself. An error of the source
 * errors the returned stream with that same error; cancelling the returned stream cancels the
 * source.
 *
 * @example
 * ```ts ignore
 * const gz = compressStream(file.readable, "gzip", 9);
 * ```
 */
export function compressStream(
  stream: ReadableStream<Uint8Array>,
  compression: LayerCompression,
  level?: number,
): ReadableStream<Uint8Array> {
  const compressor = createCompressor(compression, level);
  if (!compressor) return stream;
  const z = compressor;
  const compressStart = start();
  const reader = stream.getReader();
  let sourceError: unknown;
  let cancelled = false;
  /** Resolves once the compressor may be destroyed (no gzip level change in flight). */
  let idle = () => Promise.resolve();

  return new ReadableStream<Uint8Array>({
    start(controller) {
      z.on("data", (chunk: Uint8Array) => {
        if (cancelled) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) z.pause();
      });
      z.on("end", () => add("compression (stream open to end)", compressStart));
      z.on("end", () => controller.close());
      z.on("error", (err: Error) => {
        if (cancelled) return;
        controller.error(
          sourceError ??
            new ImgError(`Cannot compress the layer with ${compression} (${err.message})`, {
              cause: err,
            }),
        );
      });
      z.pause();
      const options = {
        stopped: () => cancelled,
        onSourceError: (e: unknown) => (sourceError = e),
      };
      if (compression === "gzip") {
        idle = feedGzipBlocks(reader, z as unknown as GzipWritable, level, options).idle;
      } else {
        feedWritable(reader, z, options);
      }
    },
    pull() {
      z.resume();
    },
    async cancel(reason) {
      cancelled = true;
      // A level change in flight needs its flush to drain (into nothing) before the end.
      z.resume();
      await idle();
      z.destroy();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
}
