/**
 * Reading a stored image: its manifest (picking the platform from an index), config and layers.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { isIndexMediaType, isManifestMediaType } from "../media_types.ts";
import {
  formatPlatform,
  hostPlatform,
  type Platform,
  selectPlatformManifest,
} from "../platform.ts";
import {
  type Descriptor,
  type ImageConfig,
  imageConfigSchema,
  type Index,
  indexSchema,
  type Manifest,
  manifestSchema,
} from "../schemas.ts";

/** A single-platform image read from the content store. */
export interface LoadedImage {
  /** The descriptor of the manifest. */
  descriptor: Descriptor;
  /** The manifest. */
  manifest: Manifest;
  /** The config. */
  config: ImageConfig;
  /** Bytes of manifest, config and layers together, as stored. */
  size: number;
}

/** Parses a manifest blob, with a clear error if it is not one. */
export function parseManifest(bytes: Uint8Array, what: string): Manifest {
  const parsed = manifestSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (!parsed.success) {
    throw new ImgError(`${what} is not a valid image manifest: ${parsed.error.issues[0].message}`);
  }
  return parsed.data;
}

/** Parses an index blob, with a clear error if it is not one. */
export function parseIndex(bytes: Uint8Array, what: string): Index {
  const parsed = indexSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (!parsed.success) {
    throw new ImgError(`${what} is not a valid image index: ${parsed.error.issues[0].message}`);
  }
  return parsed.data;
}

/**
 * Reads the image `target` points at. An index is resolved to the manifest for `platform`
 * (the host's by default).
 */
export async function loadImage(
  content: ContentStore,
  target: Descriptor,
  platform: Platform = hostPlatform(),
): Promise<LoadedImage> {
  let descriptor = target;
  if (isIndexMediaType(target.mediaType)) {
    const index = parseIndex(await content.read(target.digest as Digest), `Index ${target.digest}`);
    const chosen = selectPlatformManifest(index.manifests, platform);
    if (!chosen) {
      throw new ImgError(
        `Image ${target.digest} has no manifest for platform ${formatPlatform(platform)}`,
      );
    }
    descriptor = chosen;
  } else if (!isManifestMediaType(target.mediaType)) {
    throw new ImgError(`Unsupported image media type ${target.mediaType}`);
  }
  const manifest = parseManifest(
    await content.read(descriptor.digest as Digest),
    `Manifest ${descriptor.digest}`,
  );
  const configJson = await content.readJSON(manifest.config.digest as Digest);
  const parsed = imageConfigSchema.safeParse(configJson);
  if (!parsed.success) {
    throw new ImgError(
      `Image config ${manifest.config.digest} is not valid: ${parsed.error.issues[0].message}`,
    );
  }
  const size = descriptor.size + manifest.config.size +
    manifest.layers.reduce((n, l) => n + l.size, 0);
  return { descriptor, manifest, config: parsed.data, size };
}

/** Every blob an image needs: the target, any index entries chosen, config and layers. */
export function imageBlobs(image: LoadedImage): Descriptor[] {
  return [image.descriptor, image.manifest.config, ...image.manifest.layers];
}
