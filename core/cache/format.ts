/**
 * The build cache as an OCI artifact (img's own format, modelled on BuildKit's
 * `application/vnd.buildkit.cacheconfig.v0`):
 *
 * - an OCI image manifest (`application/vnd.oci.image.manifest.v1+json`) with
 *   `artifactType: application/vnd.img.cache.v1`;
 * - its `layers` are the cached layer blobs, the same blobs (by digest) as the images built,
 *   so a registry that has the image has the cache's layers too;
 * - its `config` (`application/vnd.img.cache.config.v1+json`) maps cache keys to layers:
 *
 * ```json
 * { "schemaVersion": 1,
 *   "diffIDs": ["sha256:...", ...],
 *   "records": [{ "key": "sha256:...", "description": "[build 2/3] RUN make", "layers": [0, 2] }] }
 * ```
 *
 * `diffIDs[i]` is the uncompressed digest of `layers[i]` of the manifest; a record's `layers`
 * are indexes into them, base first: the whole chain of the step's result file system.
 *
 * @module
 */
import * as z from "../_zod.ts";
import { sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { MediaType } from "../media_types.ts";
import type { Descriptor, Manifest } from "../schemas.ts";
import type { CacheLayer, ImportedCacheRecord } from "../solver.ts";

/** The `artifactType` of a cache manifest. */
export const CACHE_ARTIFACT_TYPE = "application/vnd.img.cache.v1";
/** The media type of a cache manifest's config. */
export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.img.cache.config.v1+json";

const configSchema = z.lazy(() =>
  z.object({
    schemaVersion: z.literal(1),
    diffIDs: z.array(z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/))),
    records: z.array(z.object({
      key: z.string(),
      description: z.string(),
      layers: z.array(z.int().check(z.nonnegative())),
    })),
  })
);

/** A cache record to export: a step's key and its result's layers. */
export interface CacheExportRecord {
  /** The cache key. */
  key: string;
  /** What made it. */
  description: string;
  /** The result's layers, base first. */
  layers: CacheLayer[];
}

/** A cache artifact: manifest and config bytes, and the layer blobs it names. */
export interface CacheArtifact {
  /** The manifest's descriptor. */
  descriptor: Descriptor;
  /** The manifest's bytes. */
  manifest: Uint8Array;
  /** The config's bytes. */
  config: Uint8Array;
  /** The layer blobs, in the manifest's order. */
  layers: Descriptor[];
}

const encoder = new TextEncoder();

/** Builds the artifact holding `records` (layers shared between records appear once). */
export function buildCacheArtifact(records: CacheExportRecord[]): CacheArtifact {
  const index = new Map<string, number>();
  const layers: Descriptor[] = [];
  const diffIDs: string[] = [];
  const seen = new Set<string>();
  const out: z.infer<typeof configSchema>["records"] = [];
  for (const r of records) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    out.push({
      key: r.key,
      description: r.description,
      layers: r.layers.map((l) => {
        let i = index.get(l.descriptor.digest);
        if (i === undefined) {
          i = layers.length;
          index.set(l.descriptor.digest, i);
          layers.push({
            mediaType: l.descriptor.mediaType,
            digest: l.descriptor.digest,
            size: l.descriptor.size,
          });
          diffIDs.push(l.diffID);
        }
        return i;
      }),
    });
  }
  const config = encoder.encode(JSON.stringify({ schemaVersion: 1, diffIDs, records: out }));
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(config), size: config.length },
    layers,
  }));
  return {
    descriptor: {
      mediaType: MediaType.ociManifest,
      artifactType: CACHE_ARTIFACT_TYPE,
      digest: sha256(manifest),
      size: manifest.length,
    },
    manifest,
    config,
    layers,
  };
}

/** Checks that `manifest` is a cache manifest; `name` says which one in the error. */
export function checkCacheManifest(manifest: Manifest, name: string): void {
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new ImgError(
      `${name} is not an img build cache (its config is ${manifest.config.mediaType}); export one with --cache-to`,
    );
  }
}

/** The records of a cache artifact, from its manifest and config bytes. */
export function parseCacheRecords(
  manifest: Manifest,
  config: Uint8Array,
  name: string,
): ImportedCacheRecord[] {
  checkCacheManifest(manifest, name);
  let parsed;
  try {
    parsed = configSchema.parse(JSON.parse(new TextDecoder().decode(config)));
  } catch {
    throw new ImgError(`The cache config of ${name} is not valid; export the cache again`);
  }
  if (parsed.diffIDs.length !== manifest.layers.length) {
    throw new ImgError(`The cache config of ${name} does not match its manifest's layers`);
  }
  return parsed.records.map((r) => ({
    key: r.key,
    description: r.description,
    layers: r.layers.map((i) => {
      if (i >= manifest.layers.length) {
        throw new ImgError(`The cache config of ${name} names a layer its manifest lacks`);
      }
      return { descriptor: manifest.layers[i], diffID: parsed.diffIDs[i] };
    }),
  }));
}

/**
 * The field of an image config that holds its inline cache (`--cache-to type=inline`), as
 * BuildKit's `moby.buildkit.cache.v0`: `{ "records": [{ "key", "description", "layers": N }] }`,
 * where a record's result is the image's first `N` layers.
 */
export const INLINE_CACHE_FIELD = "img.cache.v1";

/** An inline cache: the records of the final stage, each the image's first `layers` layers. */
export interface InlineCache {
  /** The records, each a step's cache key and how many of the image's layers its result is. */
  records: { key: string; description: string; layers: number }[];
}

const inlineSchema: z.ZodMiniType<InlineCache> = z.lazy(() =>
  z.object({
    records: z.array(z.object({
      key: z.string(),
      description: z.string(),
      layers: z.int().check(z.positive()),
    })),
  })
);

/** The records of an image's inline cache, from its manifest and config bytes. */
export function parseInlineCache(
  manifest: Manifest,
  config: Uint8Array,
  name: string,
): ImportedCacheRecord[] {
  let parsed;
  try {
    const json = JSON.parse(new TextDecoder().decode(config));
    const field = json[INLINE_CACHE_FIELD];
    if (field === undefined) {
      throw new ImgError(
        `${name} has no inline cache: build it with --cache-to type=inline, or export a cache with type=registry`,
      );
    }
    parsed = { inline: inlineSchema.parse(field), diffIDs: json.rootfs.diff_ids as string[] };
  } catch (e) {
    if (e instanceof ImgError) throw e;
    throw new ImgError(`The inline cache of ${name} is not valid; build the image again`);
  }
  return parsed.inline.records.filter((r) => r.layers <= manifest.layers.length).map((r) => ({
    key: r.key,
    description: r.description,
    layers: manifest.layers.slice(0, r.layers).map((descriptor, i) => ({
      descriptor,
      diffID: parsed.diffIDs[i],
    })),
  }));
}
