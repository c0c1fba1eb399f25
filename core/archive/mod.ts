/**
 * What the archive-writing exporters share (the OCI image layout of `@img/export-oci` and the
 * docker-archive of `@img/export-docker`, which `img save` uses too): the walk that collects
 * every blob an image reaches from the content store, and a streaming tar writer with fixed
 * metadata, so the same images always give the same bytes; and the reader of an OCI image layout
 * directory that `--build-context NAME=oci-layout://DIR` builds on.
 *
 * Imported as `@img/core/archive`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  BlobCollector,
  type BlobCollectorOptions,
  type BlobEntry,
  blobPath,
  type CollectedImage,
  imageLabel,
  parseNames,
} from "./blobs.ts";
export { ArchiveTarWriter } from "./tar_writer.ts";
export {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  findOciLayoutEntry,
  importOciLayoutImage,
  readOciLayoutIndex,
} from "./oci_layout.ts";
