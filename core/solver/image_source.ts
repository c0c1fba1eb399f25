/**
 * Image sources: an image's layers unpacked into a chain of committed snapshots, one per
 * layer, named by chain ID so every build (and every process) shares them.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import { type Digest, sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { applyLayer } from "../layer/apply.ts";
import { decompressStream } from "../layer/decompress.ts";
import { decompressInWorker } from "../layer/decompress_worker.ts";
import * as libc from "../libc.ts";
import { layerCompression } from "../media_types.ts";
import { withMountedDir } from "../mounts.ts";
import type { Descriptor, ImageConfig, Manifest } from "../schemas.ts";
import type { Snapshotter } from "../snapshotter.ts";
import { type BuildCache, PULLED_VARIANT } from "./cache.ts";
import type { Lease } from "../gc/leases.ts";
import { span } from "../trace.ts";
import type { CacheLayer } from "../solver.ts";

/** The chain IDs of a list of diff IDs, as the OCI image spec defines them. */
export function chainIDs(diffIDs: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) {
    out.push(out.length === 0 ? d as Digest : sha256(`${out[out.length - 1]} ${d}`));
  }
  return out;
}

/** The snapshot name of the layer with chain ID `chainID`. */
export function layerSnapshotName(chainID: string): string {
  return `layer-${chainID.slice(7)}`;
}

/** What {@linkcode unpackImage} needs. */
export interface UnpackDeps {
  /** Where the snapshots go. */
  snapshotter: Snapshotter;
  /** Where the layer blobs are. */
  content: ContentStore;
  /** Where each snapshot's layer blob is recorded, so exports reuse it. */
  cache: BuildCache;
  /** Whether files may be owned by other users. */
  sameOwner: boolean;
  /** The image's reference, for `img du` (`pulled from ...`). */
  ref?: string;
  /** The build's lease, so a prune leaves the layers alone. */
  lease?: Lease;
  /**
   * The blob of a layer, as a stream: by default the content store's; a build passes one that
   * follows the layer's download into the content store, so it is applied as it arrives.
   */
  openLayer?: (layer: Descriptor) => Promise<ReadableStream<Uint8Array>>;
}

/**
 * Unpacks the layers of `manifest` into snapshots (skipping those that exist) and returns
 * the top snapshot's name, or `undefined` for an image without layers.
 */
export async function unpackImage(
  manifest: Manifest,
  deps: UnpackDeps,
): Promise<string | undefined> {
  const config = await deps.content.readJSON(manifest.config.digest as Digest) as ImageConfig;
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) {
    throw new ImgError(
      `Image ${
        deps.ref ?? manifest.config.digest
      } has ${manifest.layers.length} layers but ${diffIDs.length} diff_ids in its config; the image is corrupt, pull it again`,
    );
  }
  return await unpackLayers(
    manifest.layers.map((descriptor, i) => ({ descriptor, diffID: diffIDs[i] })),
    deps,
  );
}

/**
 * Unpacks `layers` (base first, their blobs in the content store) into snapshots named by
 * chain ID (skipping those that exist) and returns the top snapshot's name, or `undefined`
 * when there are none.
 */
export async function unpackLayers(
  layers: readonly CacheLayer[],
  deps: UnpackDeps,
): Promise<string | undefined> {
  const diffIDs = layers.map((l) => l.diffID);
  const chain = chainIDs(diffIDs);
  let parent: string | undefined;
  const description = deps.ref ? `pulled from ${deps.ref}` : "pulled layer";
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i].descriptor;
    const name = layerSnapshotName(chain[i]);
    // A prune may be removing this layer's snapshot right now: wait for it to finish.
    while (deps.lease && !deps.lease.add("snapshot", name)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = await deps.snapshotter.stat(name);
    if (info?.kind !== "committed") {
      const active = `unpack-${crypto.randomUUID()}`;
      deps.lease?.add("snapshot", active);
      const mounts = await deps.snapshotter.prepare(active, parent, {
        "img.description": description,
      });
      try {
        await withMountedDir(mounts, async (dir) => {
          const blob = deps.openLayer
            ? await deps.openLayer(layer)
            : await deps.content.open(layer.digest as Digest);
          const compression = layerCompression(layer.mediaType);
          // A big layer is inflated and hashed on another core: the main thread writes files.
          const inWorker = decompressInWorker(blob, compression, layer.size);
          const tar = inWorker?.stream ??
            decompressStream(blob, compression, { reuseChunks: true });
          using _trace = span("base layer unpack");
          await applyLayer(dir, tar, {
            sameOwner: deps.sameOwner,
            xattrs: { lset: (p, n, v) => libc.lsetxattr(p, n, v) },
            diffID: diffIDs[i],
            streamDigest: inWorker?.digest,
            layer: layer.digest,
          });
        });
        const commit = span("base layer commit (usage walk)");
        await deps.snapshotter.commit(name, active, {
          "img.description": description,
        });
        commit.end();
      } catch (e) {
        await deps.snapshotter.remove(active).catch(() => {});
        // Another process may have unpacked the same layer meanwhile.
        if ((await deps.snapshotter.stat(name))?.kind !== "committed") throw e;
      }
    }
    deps.cache.recordLayer(name, PULLED_VARIANT, {
      digest: layer.digest,
      diffID: diffIDs[i],
      mediaType: layer.mediaType,
      size: layer.size,
    });
    parent = name;
  }
  return parent;
}
