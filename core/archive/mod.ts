/**
 * Archive writers: OCI image layouts (tar or directory) and docker-archive tarballs, streamed
 * from the content store. They back `img save` and the `oci` and `docker` exporters.
 *
 * Imported as `@img/core/archive`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  type ArchiveImage,
  type OciArchiveOptions,
  type OciLayoutOptions,
  type OciLayoutResult,
  writeOciArchive,
  writeOciLayout,
} from "./oci_layout.ts";
export {
  type DockerArchiveManifestEntry,
  type DockerArchiveOptions,
  type DockerArchiveResult,
  writeDockerArchive,
} from "./docker_archive.ts";
export type { BlobEntry } from "./_collect.ts";
