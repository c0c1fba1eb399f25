/**
 * The build cache in a registry (`type=registry,ref=REG/REPO:TAG`): read with its config,
 * layers fetched on demand; written as an OCI artifact whose layer blobs the registry already
 * has from the image push (or mounts from another repository) are never uploaded again.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { isIndexMediaType, MediaType } from "../media_types.ts";
import { formatReference, type Reference } from "../reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { push, type RemoteBlobStore } from "../registry/transfer.ts";
import { type Descriptor, manifestSchema } from "../schemas.ts";
import type { ImportedCacheRecord } from "../solver.ts";
import { type CacheArtifact, parseCacheRecords, parseInlineCache } from "./format.ts";

/** A cache read from a source, whose layer blobs are fetched when needed. */
export interface CacheSource {
  /** The source, for messages. */
  name: string;
  /** Its records. */
  records: ImportedCacheRecord[];
  /** Brings the blob `descriptor` into the content store. */
  fetch(descriptor: Descriptor): Promise<void>;
}

/**
 * Reads the cache at `ref`: its manifest and config (no layer is downloaded). An image
 * (rather than a cache artifact) gives the inline cache in its config.
 */
export async function loadRegistryCache(
  client: RegistryClient,
  ref: Reference,
  content: ContentStore,
): Promise<CacheSource> {
  const name = formatReference(ref);
  const fetched = await client.getManifest(ref);
  if (isIndexMediaType(fetched.mediaType)) {
    throw new ImgError(`${name} is an image index, not an img build cache`);
  }
  const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(fetched.bytes)));
  await client.fetchBlob(ref, manifest.config, content);
  const config = await content.read(manifest.config.digest as Digest);
  const image = manifest.config.mediaType === MediaType.ociConfig ||
    manifest.config.mediaType === MediaType.dockerConfig;
  return {
    name,
    records: image
      ? parseInlineCache(manifest, config, name)
      : parseCacheRecords(manifest, config, name),
    fetch: async (d) => {
      await client.fetchBlob(ref, d, content);
    },
  };
}

/**
 * Pushes `artifact` to `ref`. A layer blob the registry lacks is mounted from a repository
 * `remote` knows has it, or from `mountFrom`; one missing from the content store is fetched
 * with `remote` only when the registry has to receive its bytes.
 */
export async function saveRegistryCache(
  client: RegistryClient,
  ref: Reference,
  artifact: CacheArtifact,
  content: ContentStore,
  options: { remote: Pick<RemoteBlobStore, "mountSource" | "fetch">; mountFrom?: Reference },
): Promise<Descriptor> {
  await content.put(artifact.config);
  await content.put(artifact.manifest);
  return await push(client, ref, artifact.descriptor, content, options);
}
