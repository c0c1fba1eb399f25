/**
 * Layer blobs: a layer tar compressed and written into the content store in one streaming
 * pass, hashing the uncompressed tar (the diffID) and the compressed blob (the digest) at
 * the same time.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import { type Digest, Digester } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { type LayerCompression, MediaType } from "../media_types.ts";
import { compressStream, compressWritable } from "./compress.ts";
import { markConsumesOnWrite } from "./_consumed_writes.ts";
import { type LayerDiffOptions, writeLayerDiff } from "./diff.ts";
import { add, span, start } from "../trace.ts";

/** A layer written into the content store. */
export interface LayerBlob {
  /** The digest of the blob as stored (compressed). */
  digest: Digest;
  /** The size of the blob as stored. */
  size: number;
  /** The digest of the uncompressed tar. */
  diffID: Digest;
  /** The size of the uncompressed tar. */
  uncompressedSize: number;
  /** The blob's compression. */
  compression: LayerCompression;
  /** The layer media type for the manifest. */
  mediaType: string;
}

/** Options of {@linkcode layerBlob}. */
export interface LayerBlobOptions {
  /** Compression of the blob; default gzip. */
  compression?: LayerCompression;
  /** Compression level (gzip 1-9, zstd 1-22); default the library's. */
  level?: number;
  /** Media types for an OCI (default) or a Docker manifest. */
  mediaTypes?: "oci" | "docker";
  /** Called with the number of uncompressed bytes read so far. */
  onProgress?: (bytes: number) => void;
}

/** The media type of a layer with `compression` in an OCI or a Docker manifest. */
export function layerMediaType(
  compression: LayerCompression,
  mediaTypes: "oci" | "docker" = "oci",
): string {
  if (mediaTypes === "docker") {
    switch (compression) {
      case "gzip":
        return MediaType.dockerLayerGzip;
      case "zstd":
        return MediaType.dockerLayerZstd;
      case "uncompressed":
        return "application/vnd.docker.image.rootfs.diff.tar";
    }
  }
  switch (compression) {
    case "gzip":
      return MediaType.ociLayerGzip;
    case "zstd":
      return MediaType.ociLayerZstd;
    case "uncompressed":
      return MediaType.ociLayer;
  }
}

/**
 * Compresses the layer tar `tar` and writes it into `store`, hashing the tar and the blob in
 * the same pass; returns the blob's digest and size, and the tar's diffID and size.
 */
export async function layerBlob(
  store: ContentStore,
  tar: ReadableStream<Uint8Array>,
  options: LayerBlobOptions = {},
): Promise<LayerBlob> {
  const compression = options.compression ?? "gzip";
  const tarDigest = new Digester();
  const tapped = tar.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        tarDigest.update(chunk);
        options.onProgress?.(tarDigest.size);
        controller.enqueue(chunk);
      },
    }),
  );
  const { digest, size } = await store.ingest(compressStream(tapped, compression, options.level));
  const diffID = tarDigest.digest();
  return {
    digest,
    size,
    diffID,
    uncompressedSize: tarDigest.size,
    compression,
    mediaType: layerMediaType(compression, options.mediaTypes),
  };
}

/**
 * Writes the changes from `lower` to `upper` (see {@linkcode writeLayerDiff}) as a layer blob
 * into `store`, in one streaming pass: the snapshot becomes a layer without the tar ever
 * being held in memory or written to a temporary file.
 */
export async function layerBlobFromDiff(
  store: ContentStore,
  lower: string | undefined,
  upper: string,
  options: LayerBlobOptions & LayerDiffOptions = {},
): Promise<LayerBlob> {
  return await layerBlobFromWriter(
    store,
    (out) => writeLayerDiff(lower, upper, out, options),
    options,
  );
}

/**
 * Writes the layer tar that `write` produces (it must close its stream and return the tar's
 * digest, and may return its size, as {@linkcode writeLayerDiff} does) as a layer blob into
 * `store`, in one streaming pass. The diffID is the one `write` returns: the tar writer hashes
 * what it writes, and hashing the same 200 MB a second time here cost 0.1 s of CPU; the size
 * the writer reports is checked against the bytes that arrived.
 */
export async function layerBlobFromWriter(
  store: ContentStore,
  write: (out: WritableStream<Uint8Array>) => Promise<{ diffID: Digest; size?: number }>,
  options: LayerBlobOptions = {},
): Promise<LayerBlob> {
  using _trace = span("layer blob (diff+compress+write)");
  const compression = options.compression ?? "gzip";
  // The compressor consumes each chunk before its write resolves (compressWritable), so the
  // tar writer reuses its read buffers: no fresh 1 MiB buffer per MiB of a big file.
  const compressor = compressWritable(compression, options.level);
  const sink = compressor.writable.getWriter();
  let tarSize = 0;
  const tapped = markConsumesOnWrite(
    new WritableStream<Uint8Array>({
      async write(chunk) {
        tarSize += chunk.byteLength;
        options.onProgress?.(tarSize);
        await sink.write(chunk);
      },
      close: () => sink.close(),
      abort: (reason) => sink.abort(reason),
    }),
  );
  const diffStart = start();
  const writing = write(tapped).finally(() => add("layer diff (tar stream out)", diffStart));
  const [written, stored] = await Promise.allSettled([
    writing,
    store.ingest(compressor.readable),
  ]);
  if (written.status === "rejected") throw written.reason;
  if (stored.status === "rejected") throw stored.reason;
  const { diffID, size } = written.value;
  if (size !== undefined && size !== tarSize) {
    throw new ImgError(
      `Layer size mismatch (${size} bytes written, ${tarSize} stored); this is a bug in img`,
    );
  }
  return {
    digest: stored.value.digest,
    size: stored.value.size,
    diffID,
    uncompressedSize: tarSize,
    compression,
    mediaType: layerMediaType(compression, options.mediaTypes),
  };
}
