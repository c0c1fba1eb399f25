/**
 * Writing a built image into the content store: the config (with `rootfs.diff_ids` and
 * history matched to the layers, as BuildKit's exporter does) and the manifest.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { ResultLayer } from "../exporter.ts";
import { ImgError } from "../errors.ts";
import { layerMediaType } from "../layer/blob.ts";
import { layerCompression, MediaType } from "../media_types.ts";
import type { Descriptor, History, ImageConfig, Index, Manifest } from "../schemas.ts";

/**
 * Matches history to layers as BuildKit's `normalizeLayersAndHistory` does: surplus
 * non-empty entries become empty from the bottom; missing ones are added.
 */
export function normalizeHistory(history: History[], layers: number, created: string): History[] {
  let nonEmpty = history.filter((h) => !h.empty_layer).length;
  let out = history.map((h) => ({ ...h }));
  if (nonEmpty > layers) {
    let seen = 0;
    out = out.map((h) => {
      if (h.empty_layer) return h;
      if (seen >= layers) return { ...h, empty_layer: true };
      seen++;
      return h;
    });
    nonEmpty = layers;
  }
  for (; nonEmpty < layers; nonEmpty++) {
    out.push({ created, created_by: "created by img", comment: "buildkit.exporter.image.v0" });
  }
  return out;
}

/** `config` with the layers' diff IDs and history normalized to match them. */
export function finalConfig(config: ImageConfig, layers: readonly ResultLayer[]): ImageConfig {
  const created = config.created ?? new Date().toISOString();
  return {
    ...config,
    created,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
    history: normalizeHistory(config.history ?? [], layers.length, created),
  };
}

/** Options of {@linkcode writeImage}. */
export interface WriteImageOptions {
  /** Annotations of the manifest (OCI media types only). */
  annotations?: Record<string, string>;
  /**
   * `oci` (default): an OCI manifest, config and layer media types; `docker`: a Docker schema 2
   * manifest with Docker media types (BuildKit's `oci-mediatypes=false`). Layer blobs are the
   * same either way: only the media types in the manifest differ.
   */
  mediaTypes?: "oci" | "docker";
}

/** The media type of a layer descriptor in a manifest of `mediaTypes`. */
function layerDescriptor(layer: Descriptor, mediaTypes: "oci" | "docker"): Descriptor {
  const compression = layerCompression(layer.mediaType);
  // Non-distributable (foreign) layers and unknown types are kept as they are.
  if (compression === undefined || /nondistributable|foreign/.test(layer.mediaType)) return layer;
  return { ...layer, mediaType: layerMediaType(compression, mediaTypes) };
}

/**
 * Stores the config and a manifest (OCI, or Docker schema 2 with `mediaTypes: "docker"`) for
 * an image of `config` and `layers` in `content` and returns the manifest's descriptor (with
 * the image's platform). The JSON is written with a fixed key order, so the same inputs
 * always give the same digests.
 *
 * @throws {ImgError} for annotations on a Docker manifest, which has no place for them.
 */
export async function writeImage(
  content: ContentStore,
  imageConfig: ImageConfig,
  layers: readonly ResultLayer[],
  options: WriteImageOptions = {},
): Promise<{ manifest: Descriptor; config: ImageConfig }> {
  const mediaTypes = options.mediaTypes ?? "oci";
  const annotations = options.annotations ?? {};
  if (mediaTypes === "docker" && Object.keys(annotations).length > 0) {
    throw new ImgError(
      "Annotations need OCI media types: remove oci-mediatypes=false or the annotations",
    );
  }
  const manifestType = mediaTypes === "docker" ? MediaType.dockerManifest : MediaType.ociManifest;
  const configType = mediaTypes === "docker" ? MediaType.dockerConfig : MediaType.ociConfig;
  const config = finalConfig(imageConfig, layers);
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const configInfo = await content.put(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: configType, digest: configInfo.digest, size: configInfo.size },
    layers: layers.map((l) => layerDescriptor(l.descriptor, mediaTypes)),
    ...(Object.keys(annotations).length ? { annotations: sortedObject(annotations) } : {}),
  };
  const info = await content.put(JSON.stringify(manifest));
  return {
    manifest: {
      mediaType: manifestType,
      digest: info.digest,
      size: info.size,
      platform: {
        architecture: config.architecture,
        os: config.os,
        ...(config.variant ? { variant: config.variant } : {}),
      },
    },
    config,
  };
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Stores an image index (OCI, or a Docker manifest list with `mediaTypes: "docker"`) of
 * `manifests` (each with its `platform`) in `content` and returns its descriptor. The JSON is
 * written with a fixed key order, so the same manifests always give the same digest.
 *
 * @throws {ImgError} for annotations on a Docker manifest list, which has no place for them.
 */
export async function writeImageIndex(
  content: ContentStore,
  manifests: readonly Descriptor[],
  options: WriteImageOptions = {},
): Promise<Descriptor> {
  const mediaTypes = options.mediaTypes ?? "oci";
  const annotations = options.annotations ?? {};
  if (mediaTypes === "docker" && Object.keys(annotations).length > 0) {
    throw new ImgError(
      "Annotations need OCI media types: remove oci-mediatypes=false or the annotations",
    );
  }
  const mediaType = mediaTypes === "docker" ? MediaType.dockerManifestList : MediaType.ociIndex;
  const index: Index = {
    schemaVersion: 2,
    mediaType,
    manifests: manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      ...(m.platform ? { platform: m.platform } : {}),
      ...(m.annotations && mediaTypes === "oci" ? { annotations: m.annotations } : {}),
    })),
    ...(Object.keys(annotations).length ? { annotations: sortedObject(annotations) } : {}),
  };
  const info = await content.put(JSON.stringify(index));
  return { mediaType, digest: info.digest, size: info.size };
}
