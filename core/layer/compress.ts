/**
 * Compression of layer tars (gzip, zstd or none) with `node:zlib`, about three times faster
 * than `CompressionStream`, streaming with backpressure: a layer is never held in memory.
 *
 * @module
 */
import { constants, createGzip, createZstdCompress } from "node:zlib";
import type { Transform } from "node:stream";
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { feedWritable } from "./_node_stream.ts";
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

  return new ReadableStream<Uint8Array>({
    start(controller) {
      z.on("data", (chunk: Uint8Array) => {
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
      feedWritable(reader, z, {
        stopped: () => cancelled,
        onSourceError: (e) => (sourceError = e),
      });
    },
    pull() {
      z.resume();
    },
    async cancel(reason) {
      cancelled = true;
      z.destroy();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
}
