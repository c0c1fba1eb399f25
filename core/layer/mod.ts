/**
 * Layer tars: decompressing layer blobs and applying them onto a directory (the core of
 * `img unpack` and of unpacking base images into snapshots).
 *
 * @module
 */
export {
  applyLayer,
  type ApplyLayerOptions,
  type ApplyLayerResult,
  mknodCommand,
  type NodeMaker,
  type XattrWriter,
} from "./apply.ts";
export { decompressStream, detectCompression, type LayerCompression } from "./decompress.ts";
