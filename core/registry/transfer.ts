/**
 * Whole-image transfers between a registry and the content store: `pull` (index -> manifest ->
 * config -> layers) and `push` (layers -> config -> manifest, or each manifest of an index),
 * with at most `client.concurrency` blobs in flight.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { isIndexMediaType, isManifestMediaType } from "../media_types.ts";
import { type Platform, selectPlatformManifest } from "../platform.ts";
import { type Reference, withDigest } from "../reference.ts";
import { type Descriptor, indexSchema, type Manifest, manifestSchema } from "../schemas.ts";
import type { ManifestChooser, RegistryClient } from "./client.ts";
import { mapLimit } from "./_pool.ts";

/** A progress event for one blob of a pull or push. */
export interface TransferProgress {
  /** The blob. */
  descriptor: Descriptor;
  /** What is happening to it: `exists` and `mounted` (push) mean nothing is transferred. */
  status: "waiting" | "transferring" | "exists" | "mounted" | "done";
  /** Bytes transferred so far (the blob's size once it is done, exists or is mounted). */
  bytes: number;
}

/** Options for {@linkcode pull}. */
export interface PullOptions {
  /** Picks the manifest for the wanted platform from an index (see {@linkcode platformChooser}). */
  choose: ManifestChooser;
  /** Receives progress events for the config and the layers. */
  onProgress?: (event: TransferProgress) => void;
  /**
   * Leaves the layers in the registry: they are recorded in this store as blobs of `ref`'s
   * repository (before the manifest is stored) and fetched when something needs them; only
   * the config is downloaded.
   */
  deferLayers?: RemoteBlobStore;
}

/** What {@linkcode pull} fetched into the content store. */
export interface PullResult {
  /** The descriptor the reference resolved to: the index, or the manifest if there is none. */
  descriptor: Descriptor;
  /** The index or manifest list, if the reference pointed at one. */
  index?: Descriptor;
  /** The platform's image manifest (with `platform` set if it came from an index). */
  manifest: Descriptor;
  /** The parsed manifest. */
  parsed: Manifest;
  /** The image config blob. */
  config: Descriptor;
  /** The layer blobs, in order. */
  layers: Descriptor[];
}

/**
 * Pulls an image into the content store: the config and the layers are fetched (blobs already
 * present are skipped; with `deferLayers`, the layers are recorded as remote blobs instead),
 * then the chosen manifest and the index (if any) are stored as blobs.
 */
export async function pull(
  client: RegistryClient,
  ref: Reference,
  store: ContentStore,
  options: PullOptions,
): Promise<PullResult> {
  const resolved = await client.resolve(ref, options.choose);
  const manifest = resolved.manifest.manifest;
  const blobs = options.deferLayers ? [manifest.config] : [manifest.config, ...manifest.layers];
  for (const d of blobs) options.onProgress?.({ descriptor: d, status: "waiting", bytes: 0 });
  await mapLimit(blobs, client.concurrency, async (d) => {
    const result = await client.fetchBlob(ref, d, store, (bytes) => {
      if (bytes < d.size) options.onProgress?.({ descriptor: d, status: "transferring", bytes });
    });
    options.onProgress?.({
      descriptor: d,
      status: result === "exists" ? "exists" : "done",
      bytes: d.size,
    });
  });
  // The manifest (and the index) go in last, so a stored manifest means its blobs are all
  // there (or recorded as remote blobs), and a failed pull leaves only whole, verified blobs.
  options.deferLayers?.record(manifest.layers.map((l) => l.digest), ref);
  await store.put(resolved.manifest.bytes, resolved.manifest.descriptor.digest as Digest);
  if (resolved.index) {
    await store.put(resolved.index.bytes, resolved.index.descriptor.digest as Digest);
  }
  return {
    descriptor: resolved.index?.descriptor ?? resolved.manifest.descriptor,
    index: resolved.index?.descriptor,
    manifest: resolved.manifest.descriptor,
    parsed: manifest,
    config: manifest.config,
    layers: manifest.layers,
  };
}

/**
 * Layer blobs the content store does not hold yet, and the repositories known to have them
 * (`RemoteBlobs` in `@img/core/image`, backed by the state database).
 */
export interface RemoteBlobStore {
  /** Records that the repository of `source` has each of `digests`. */
  record(digests: Iterable<string>, source: Reference): void;
  /** A repository on `target`'s registry, other than `target`'s, known to have `digest`. */
  mountSource(digest: string, target: Reference): Reference | undefined;
  /** Brings the blobs of `descriptors` into the content store. */
  fetch(descriptors: readonly Descriptor[]): Promise<void>;
}

/** Options for {@linkcode push}. */
export interface PushOptions {
  /** A repository on the same registry to mount blobs from (where the image came from). */
  mountFrom?: Reference;
  /**
   * Remote blobs: a blob the repository lacks is mounted from a repository of the same
   * registry known to have it (before `mountFrom`), else fetched into the content store first
   * when the content store lacks it, then uploaded.
   */
  remote?: Pick<RemoteBlobStore, "mountSource" | "fetch">;
  /** Receives progress events for the layers and configs. */
  onProgress?: (event: TransferProgress) => void;
}

/**
 * Pushes an image from the content store: for a manifest, its layers (bounded parallel) and
 * config, then the manifest under `ref`'s tag; for an index, each of its manifests by digest,
 * then the index. Layers the content store lacks come from `options.remote`. Returns the
 * descriptor pushed.
 */
export async function push(
  client: RegistryClient,
  ref: Reference,
  descriptor: Descriptor,
  store: ContentStore,
  options: PushOptions = {},
): Promise<Descriptor> {
  const bytes = await store.read(descriptor.digest as Digest);
  const json = JSON.parse(new TextDecoder().decode(bytes));
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = indexSchema.parse(json);
    for (const child of index.manifests) {
      if (!isManifestMediaType(child.mediaType) && !isIndexMediaType(child.mediaType)) continue;
      if (!(await store.has(child.digest as Digest))) {
        throw new ImgError(
          `Push of ${ref.path} failed: manifest ${child.digest} of the index is not in the content store`,
        );
      }
      await push(client, withDigest(ref, child.digest), child, store, options);
    }
  } else {
    const manifest = manifestSchema.parse(json);
    const blobs = [...manifest.layers, manifest.config];
    for (const d of blobs) options.onProgress?.({ descriptor: d, status: "waiting", bytes: 0 });
    await mapLimit(blobs, client.concurrency, async (d) => {
      const remote = options.remote;
      const result = await client.pushBlob(ref, d, store, {
        mountFrom: remote?.mountSource(d.digest, ref) ?? options.mountFrom,
        ...(remote ? { fetch: () => remote.fetch([d]) } : {}),
        onProgress: (sent) => {
          if (sent < d.size) {
            options.onProgress?.({ descriptor: d, status: "transferring", bytes: sent });
          }
        },
      });
      options.onProgress?.({
        descriptor: d,
        status: result === "uploaded" ? "done" : result,
        bytes: d.size,
      });
    });
  }
  return await client.putManifest(ref, bytes, descriptor.mediaType);
}

/**
 * The {@linkcode ManifestChooser} for the platform `wanted`: the index entry
 * {@linkcode selectPlatformManifest} picks (an exact match after normalization, so `arm64`
 * treats a missing variant as `v8`; for arm, a lower variant that still runs; attestation
 * manifests never).
 */
export function platformChooser(wanted: Platform): ManifestChooser {
  return (manifests) => selectPlatformManifest(manifests, wanted);
}

/** What {@linkcode pullAllPlatforms} fetched. */
export interface PullAllResult {
  /** The descriptor the reference resolved to: the index, or the manifest if there is none. */
  descriptor: Descriptor;
  /** Each platform's pull (one, without an index), in the index's order. */
  images: PullResult[];
}

/**
 * Pulls every platform of an image (`img pull --all-platforms`): the index and each of its
 * image manifests with their configs and layers (record the index in the image store only
 * when this returns). Attestation manifests are left out. A reference to a single manifest
 * pulls that.
 */
export async function pullAllPlatforms(
  client: RegistryClient,
  ref: Reference,
  store: ContentStore,
  options: Omit<PullOptions, "choose"> = {},
): Promise<PullAllResult> {
  let entries: Descriptor[] = [];
  const first = await pull(client, ref, store, {
    ...options,
    choose: (manifests) => {
      entries = manifests.filter((d) =>
        isManifestMediaType(d.mediaType) &&
        d.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest"
      );
      return entries[0];
    },
  });
  if (!first.index) return { descriptor: first.descriptor, images: [first] };
  const images = [first];
  for (const entry of entries.slice(1)) {
    const byDigest: Reference = { domain: ref.domain, path: ref.path, digest: entry.digest };
    const one = await pull(client, byDigest, store, { ...options, choose: () => undefined });
    images.push({ ...one, manifest: { ...one.manifest, platform: entry.platform } });
  }
  return { descriptor: first.index, images };
}
