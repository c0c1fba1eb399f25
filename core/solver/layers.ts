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
import { type LayerBlob, layerBlobFromDiff, layerBlobFromWriter } from "../layer/blob.ts";
import type { LayerCompression } from "../media_types.ts";
import { withMountedDir } from "../mounts.ts";
import type { Snapshotter } from "../snapshotter.ts";
import type { BuildCache } from "./cache.ts";

/** Options for {@linkcode snapshotLayers}. */
export interface SnapshotLayersOptions {
  /** Compression of new layers (default gzip). */
  compression?: LayerCompression;
  /** Compression level. */
  level?: number;
  /** Clamp file mtimes in new layers to this time (seconds since the epoch). */
  sourceDateEpoch?: number;
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

/** Returns the layers of `top`'s chain, base first, making the blobs that do not exist yet. */
export async function snapshotLayers(
  deps: { snapshotter: Snapshotter; cache: BuildCache; content: ContentStore },
  top: string,
  options: SnapshotLayersOptions = {},
): Promise<ResultLayer[]> {
  const chain = await snapshotChain(deps.snapshotter, top);
  const layers: ResultLayer[] = [];
  let parent: string | undefined;
  for (const key of chain) {
    let rec = deps.cache.layer(key);
    if (!rec || !(await deps.content.has(rec.digest as Digest))) {
      const blob = await snapshotLayerBlob(deps, key, parent, options);
      rec = {
        digest: blob.digest,
        diffID: blob.diffID,
        mediaType: blob.mediaType,
        size: blob.size,
      };
      deps.cache.recordLayer(key, rec);
    }
    layers.push({
      descriptor: { mediaType: rec.mediaType, digest: rec.digest, size: rec.size },
      diffID: rec.diffID,
    });
    parent = key;
  }
  return layers;
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
