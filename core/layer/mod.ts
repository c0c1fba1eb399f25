/**
 * Layer tars: decompressing layer blobs and applying them onto a directory (the core of
 * `img unpack` and of unpacking base images into snapshots), and the way back: diffing two
 * trees into a layer tar, compressing it and storing it as a layer blob.
 *
 * Imported as `@img/core/layer`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  applyLayer,
  type ApplyLayerOptions,
  type ApplyLayerResult,
  DiffIDMismatchError,
  mknodCommand,
  type NodeMaker,
  type XattrWriter,
} from "./apply.ts";
export { decompressStream, detectCompression, type LayerCompression } from "./decompress.ts";
export { decompressInWorker, type WorkerDecompression } from "./decompress_worker.ts";
export { compressStream } from "./compress.ts";
export {
  defaultXattrFilter,
  type LayerDiffOptions,
  type LayerDiffResult,
  writeLayerDiff,
} from "./diff.ts";
export { isWhiteout, writeOverlayDiff } from "./overlay_diff.ts";
export {
  type LayerBlob,
  layerBlob,
  layerBlobFromDiff,
  layerBlobFromWriter,
  type LayerBlobOptions,
  layerMediaType,
} from "./blob.ts";
