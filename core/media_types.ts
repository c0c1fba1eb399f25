/**
 * OCI and Docker media types.
 *
 * @module
 */

/** Media types img reads and writes. */
export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestV1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestV1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
} as const;

/** Reports whether a media type is an image index or a Docker manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/** Reports whether a media type is a single-platform image manifest (OCI or Docker schema 2). */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** Reports whether a media type is a Docker schema 1 manifest, which img does not support. */
export function isSchema1MediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.dockerManifestV1 ||
    mediaType === MediaType.dockerManifestV1Signed ||
    mediaType === "application/json";
}

/** The compression of a layer blob. */
export type LayerCompression = "gzip" | "zstd" | "uncompressed";

/** Returns the compression of a layer media type, or `undefined` if it is not a layer. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) return "zstd";
  if (mediaType.endsWith(".tar") || mediaType.endsWith(".diff.tar")) return "uncompressed";
  return undefined;
}

/** The accept header sent when fetching manifests. */
export const MANIFEST_ACCEPT: string = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
  MediaType.dockerManifestV1Signed,
  MediaType.dockerManifestV1,
].join(", ");
