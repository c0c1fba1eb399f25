/**
 * Writing a built image into the content store: the config (with `rootfs.diff_ids` and
 * history matched to the layers, as BuildKit's exporter does) and the manifest.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { ExportResult } from "../exporter.ts";
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

/** The config of `result` with its layers' diff IDs and normalized history. */
export function finalConfig(result: ExportResult): ImageConfig {
  const created = result.config.created ?? new Date().toISOString();
  return {
    ...result.config,
    created,
    rootfs: { type: "layers", diff_ids: result.layers.map((l) => l.diffID) },
    history: normalizeHistory(result.config.history ?? [], result.layers.length, created),
  };
}

/**
 * Stores the config and an OCI manifest for `result` in `content` and returns the manifest's
 * descriptor (with the image's platform).
 */
export async function writeImage(
  content: ContentStore,
  result: ExportResult,
  options: { annotations?: Record<string, string> } = {},
): Promise<{ manifest: Descriptor; config: ImageConfig }> {
  const config = finalConfig(result);
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const configInfo = await content.put(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size },
    layers: result.layers.map((l) => l.descriptor),
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
