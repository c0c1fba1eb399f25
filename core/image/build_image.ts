/**
 * Writing a built image into the content store: the config (with `rootfs.diff_ids` and
 * history matched to the layers, as BuildKit's exporter does) and the manifest.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { ResultLayer } from "../exporter.ts";
import { MediaType } from "../media_types.ts";
import type { Descriptor, History, ImageConfig, Manifest } from "../schemas.ts";

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

/**
 * Stores the config and an OCI manifest for an image of `config` and `layers` in `content`
 * and returns the manifest's descriptor (with the image's platform).
 */
export async function writeImage(
  content: ContentStore,
  imageConfig: ImageConfig,
  layers: readonly ResultLayer[],
  options: { annotations?: Record<string, string> } = {},
): Promise<{ manifest: Descriptor; config: ImageConfig }> {
  const config = finalConfig(imageConfig, layers);
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const configInfo = await content.put(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size },
    layers: layers.map((l) => l.descriptor),
    ...(options.annotations && Object.keys(options.annotations).length
      ? { annotations: options.annotations }
      : {}),
  };
  const info = await content.put(JSON.stringify(manifest));
  return {
    manifest: {
      mediaType: MediaType.ociManifest,
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
