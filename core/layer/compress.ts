/**
 * Compression of layer tars (gzip, zstd or none) with `node:zlib`, about three times faster
 * than `CompressionStream`, streaming with backpressure: a layer is never held in memory.
 * `node:zlib` is imported when a stream is first compressed: loading it costs ~20 ms, which
 * a command that compresses nothing (a cached build, `img ls`) does not pay.
 *
 * @module
 */
import type { Transform } from "node:stream";
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { feedWritable } from "./_node_stream.ts";
import { add, start } from "../trace.ts";

export type { LayerCompression } from "../media_types.ts";

async function createCompressor(
  compression: Exclude<LayerCompression, "uncompressed">,
  level?: number,
): Promise<Transform> {
  const { constants, createGzip, createZstdCompress } = await import("node:zlib");
  switch (compression) {
    case "gzip":
      return createGzip(level === undefined ? {} : { level });
    case "zstd":
      return createZstdCompress(
        level === undefined ? {} : { params: { [constants.ZSTD_c_compressionLevel]: level } },
      );
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
  if (compression === "uncompressed") return stream;
  let z: Transform | undefined;
  const compressStart = start();
  const reader = stream.getReader();
  let sourceError: unknown;
  let cancelled = false;

  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const compressor = await createCompressor(compression, level);
      if (cancelled) {
        compressor.destroy();
        return;
      }
      z = compressor;
      z.on("data", (chunk: Uint8Array) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) compressor.pause();
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
      z?.resume();
    },
    async cancel(reason) {
      cancelled = true;
      z?.destroy();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 4 });
}
