/**
 * Layers of a result: each snapshot of a chain becomes a layer blob (the diff from its
 * parent), made once and recorded, so later exports and pushes reuse it.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import type { ResultLayer } from "../exporter.ts";
import {
  type LayerBlob,
  layerBlob,
  layerBlobFromDiff,
  layerBlobFromWriter,
} from "../layer/blob.ts";
import { decompressStream } from "../layer/decompress.ts";
import { type LayerCompression, layerCompression } from "../media_types.ts";
import { withMountedDir } from "../mounts.ts";
import type { Snapshotter } from "../snapshotter.ts";
import { type BuildCache, type LayerRecord, layerVariant, PULLED_VARIANT } from "./cache.ts";
import { span } from "../trace.ts";

/** Options for {@linkcode snapshotLayers}. */
export interface SnapshotLayersOptions {
  /** Compression of new layers (default gzip). */
  compression?: LayerCompression;
  /** Compression level. */
  level?: number;
  /** Clamp file mtimes in new layers to this time (seconds since the epoch). */
  sourceDateEpoch?: number;
  /** Recompress pulled layers that are in another compression than `compression`. */
  forceCompression?: boolean;
}

/** The snapshots from the base of `top`'s chain up to `top`. */
export async function snapshotChain(snapshotter: Snapshotter, top: string): Promise<string[]> {
  const chain: string[] = [];
  for (let key: string | undefined = top; key !== undefined;) {
    const info = await snapshotter.stat(key);
    if (!info) {
      throw new ImgError(`Snapshot ${key} is missing from the ${snapshotter.name} snapshotter`);
    }
    chain.push(key);
    key = info.parent;
  }
  return chain.reverse();
}

type LayerDeps = { snapshotter: Snapshotter; cache: BuildCache; content: ContentStore };

/**
 * Returns the layers of `top`'s chain, base first, making the blobs that do not exist yet.
 *
 * - A snapshot unpacked from a pulled layer keeps that blob as it is (its compression, and
 *   its mtimes, which `sourceDateEpoch` does not touch), unless `forceCompression` asks for
 *   another compression: then the blob is recompressed (same diffID), once, and recorded.
 * - A snapshot the build made becomes a blob per variant (compression, level, epoch); a
 *   variant recorded before is reused as it is, never compressed again. A new compression of
 *   a layer made before with the same epoch is recompressed from that blob, so its diffID
 *   stays the same; otherwise the snapshot is diffed against its parent.
 */
export async function snapshotLayers(
  deps: LayerDeps,
  top: string,
  options: SnapshotLayersOptions = {},
): Promise<ResultLayer[]> {
  using _trace = span("layers (snapshots to blobs)");
  const chain = await snapshotChain(deps.snapshotter, top);
  const compression = options.compression ?? "gzip";
  const layers: ResultLayer[] = [];
  let parent: string | undefined;
  for (const key of chain) {
    const variants = await existing(deps, key);
    const pulled = variants.get(PULLED_VARIANT);
    let rec: LayerRecord | undefined;
    if (pulled) {
      rec = !options.forceCompression || layerCompression(pulled.mediaType) === compression
        ? pulled
        : variants.get(layerVariant({ compression, level: options.level })) ??
          await recompress(deps, key, layerVariant({ compression, level: options.level }), pulled, {
            ...options,
            compression,
          });
    } else {
      const variant = layerVariant({ ...options, compression });
      rec = variants.get(variant);
      if (!rec) {
        const sameTar = [...variants].find(([v, r]) =>
          epochOf(v) === epochOf(variant) && layerCompression(r.mediaType) !== undefined
        )?.[1];
        if (sameTar) {
          rec = await recompress(deps, key, variant, sameTar, { ...options, compression });
        } else {
          const blob = await snapshotLayerBlob(deps, key, parent, { ...options, compression });
          rec = {
            digest: blob.digest,
            diffID: blob.diffID,
            mediaType: blob.mediaType,
            size: blob.size,
          };
          deps.cache.recordLayer(key, variant, rec);
        }
      }
    }
    layers.push({
      descriptor: { mediaType: rec.mediaType, digest: rec.digest, size: rec.size },
      diffID: rec.diffID,
    });
    parent = key;
  }
  return layers;
}

/** The layer records of snapshot `key` whose blobs are in the content store. */
async function existing(deps: LayerDeps, key: string): Promise<Map<string, LayerRecord>> {
  const out = new Map<string, LayerRecord>();
  for (const [variant, rec] of deps.cache.layerVariants(key)) {
    if (await deps.content.has(rec.digest as Digest)) out.set(variant, rec);
  }
  return out;
}

/** The `@epoch` part of a variant name ("" for none; `pulled` layers are never rewritten). */
function epochOf(variant: string): string {
  const at = variant.indexOf("@");
  return at < 0 ? "" : variant.slice(at);
}

/**
 * Recompresses the blob of `from` (same tar, so the same diffID) as `options.compression`,
 * records it as `variant` of snapshot `key` and returns the record.
 */
async function recompress(
  deps: LayerDeps,
  key: string,
  variant: string,
  from: LayerRecord,
  options: SnapshotLayersOptions,
): Promise<LayerRecord> {
  const source = await deps.content.open(from.digest as Digest);
  const blob = await layerBlob(
    deps.content,
    decompressStream(source, layerCompression(from.mediaType)),
    { compression: options.compression, level: options.level },
  );
  if (blob.diffID !== from.diffID) {
    throw new ImgError(
      `Layer ${from.digest} does not hold the tar its diffID ${from.diffID} names (it has ${blob.diffID}); remove the image or prune the build cache and build again`,
    );
  }
  const rec = {
    digest: blob.digest,
    diffID: blob.diffID,
    mediaType: blob.mediaType,
    size: blob.size,
  };
  deps.cache.recordLayer(key, variant, rec);
  return rec;
}

/**
 * The layer blob of snapshot `key` over `parent`: from the snapshotter's own `diff` when it
 * has one (an overlay's upper directory), else the diff of views of the two.
 */
async function snapshotLayerBlob(
  deps: { snapshotter: Snapshotter; content: ContentStore },
  key: string,
  parent: string | undefined,
  options: SnapshotLayersOptions,
): Promise<LayerBlob> {
  const sn = deps.snapshotter;
  if (sn.diff) {
    return await layerBlobFromWriter(
      deps.content,
      (out) => sn.diff!(key, out, { sourceDateEpoch: options.sourceDateEpoch }),
      options,
    );
  }
  return await withView(
    sn,
    key,
    (upper) =>
      parent === undefined
        ? layerBlobFromDiff(deps.content, undefined, upper, options)
        : withView(sn, parent, (lower) => layerBlobFromDiff(deps.content, lower, upper, options)),
  );
}

async function withView<T>(
  sn: Snapshotter,
  key: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const view = `view-${crypto.randomUUID()}`;
  const mounts = await sn.view(view, key);
  try {
    return await withMountedDir(mounts, fn);
  } finally {
    await sn.remove(view).catch(() => {});
  }
}
