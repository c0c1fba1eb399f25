/**
 * What archive writers (the `oci` and `docker` exporters, `img save`) share: the walk that
 * finds every blob an image reaches in the content store, each once and in a stable order,
 * checking that it is there and whole, and the paths and names they write.
 *
 * ```ts ignore
 * import { ArchiveTarWriter, BlobCollector, blobPath, imageLabel } from "@img/core";
 *
 * const collector = new BlobCollector(store);
 * for (const image of images) await collector.add(image.manifest, imageLabel(image));
 * const tar = new ArchiveTarWriter(out);
 * for (const blob of collector.blobs) {
 *   await tar.stream(blobPath(blob.digest), blob.size, await store.open(blob.digest));
 * }
 * await tar.close();
 * ```
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { StoredImage } from "../exporter.ts";
import { type Digest, sha256 } from "../digest.ts";
import { ImgError, NotFoundError } from "../errors.ts";
import {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MediaType,
} from "../media_types.ts";
import { formatReference, parseReference, type Reference } from "../reference.ts";
import { type Descriptor, indexSchema, type Manifest, manifestSchema } from "../schemas.ts";

/** A blob to copy into an archive. */
export interface BlobEntry {
  /** The blob's digest. */
  digest: Digest;
  /** The blob's size, checked against the content store. */
  size: number;
  /** The blob's bytes when the writer generated it (a converted manifest), not in the store. */
  data?: Uint8Array;
}

/** Options for {@linkcode BlobCollector}. */
export interface BlobCollectorOptions {
  /**
   * Rewrite Docker schema 2 manifests and manifest lists with OCI media types (a new manifest
   * blob, the same config and layer blobs), as `podman save --format oci-archive` does.
   */
  toOci?: boolean;
}

/** What {@linkcode BlobCollector.add} found. */
export interface CollectedImage {
  /** The descriptor to write for the image: the input one, or that of its OCI conversion. */
  desc: Descriptor;
  /** The (possibly converted) manifest, when the descriptor is a single-platform manifest. */
  manifest?: Manifest;
}

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.dockerManifest]: MediaType.ociManifest,
  [MediaType.dockerManifestList]: MediaType.ociIndex,
  [MediaType.dockerConfig]: MediaType.ociConfig,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayerForeignGzip]: MediaType.ociLayerNondistributableGzip,
  [MediaType.dockerLayerZstd]: MediaType.ociLayerZstd,
  "application/vnd.docker.image.rootfs.diff.tar": MediaType.ociLayer,
};

function ociMediaType(mediaType: string): string {
  return DOCKER_TO_OCI[mediaType] ?? mediaType;
}

/** Collects blobs reachable from images, each once, in the order the images reach them. */
export class BlobCollector {
  readonly #store: ContentStore;
  readonly #toOci: boolean;
  readonly #seen = new Set<string>();
  /** The blobs collected so far. */
  readonly blobs: BlobEntry[] = [];

  /** Creates a collector reading from `store`. */
  constructor(store: ContentStore, options: BlobCollectorOptions = {}) {
    this.#store = store;
    this.#toOci = options.toOci ?? false;
  }

  /**
   * Adds the blob of `desc` and everything it reaches: an index's children whose content is
   * all in the store, a manifest's config and layers.
   *
   * @throws {NotFoundError} if a blob the image needs is not in the store.
   */
  async add(desc: Descriptor, label: string): Promise<CollectedImage> {
    if (isSchema1MediaType(desc.mediaType)) {
      throw new ImgError(
        `Image ${label} uses the deprecated Docker schema 1 format, which cannot be saved; pull it again from a registry that serves schema 2`,
      );
    }
    await this.#stat(desc, label, "manifest", false);
    if (isIndexMediaType(desc.mediaType)) return await this.#addIndex(desc, label);
    if (!isManifestMediaType(desc.mediaType)) {
      this.#push({ digest: desc.digest as Digest, size: desc.size });
      return { desc };
    }
    const raw = await this.#readObject(desc);
    let manifest = this.#parseManifest(raw, desc);
    let out = desc;
    if (this.#toOci && desc.mediaType === MediaType.dockerManifest) {
      const { schemaVersion, mediaType: _, config, layers, ...rest } = raw;
      const converted = {
        schemaVersion,
        mediaType: MediaType.ociManifest,
        config: { ...(config as object), mediaType: ociMediaType(manifest.config.mediaType) },
        layers: (layers as object[]).map((l, i) => ({
          ...l,
          mediaType: ociMediaType(manifest.layers[i].mediaType),
        })),
        ...rest,
      };
      manifest = this.#parseManifest(converted, desc);
      out = this.#generated(desc, MediaType.ociManifest, converted);
    } else {
      this.#push({ digest: desc.digest as Digest, size: desc.size });
    }
    await this.#stat(manifest.config, label, "config", false, true);
    for (const layer of manifest.layers) {
      // Non-distributable layers with URLs may be absent, as after a pull that skipped them.
      await this.#stat(layer, label, "layer", (layer.urls?.length ?? 0) > 0, true);
    }
    return { desc: out, manifest };
  }

  async #addIndex(desc: Descriptor, label: string): Promise<CollectedImage> {
    const raw = await this.#readObject(desc);
    const parsed = indexSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ImgError(
        `Index ${desc.digest} in the content store is not a valid image index; pull the image again`,
      );
    }
    // The raw child descriptors, so a rewritten index keeps fields the schema does not know.
    const rawChildren = raw.manifests as Record<string, unknown>[];
    const children: Record<string, unknown>[] = [];
    let changed = false;
    for (const [i, child] of parsed.data.manifests.entries()) {
      if (!(await this.#isComplete(child))) continue;
      const added = await this.add(child, label);
      const { mediaType, digest, size } = added.desc;
      if (digest !== child.digest) changed = true;
      children.push({ ...rawChildren[i], mediaType, digest, size });
    }
    if (children.length === 0 && parsed.data.manifests.length > 0) {
      throw new NotFoundError(
        `Image ${label} is incomplete: none of the manifests in its index has all its content in the store; pull the image again`,
      );
    }
    if (this.#toOci && (changed || desc.mediaType === MediaType.dockerManifestList)) {
      // The rewritten index lists only the manifests the archive holds.
      const { schemaVersion, mediaType: _, manifests: _m, ...rest } = raw;
      const converted = {
        schemaVersion,
        mediaType: MediaType.ociIndex,
        manifests: children,
        ...rest,
      };
      return { desc: this.#generated(desc, MediaType.ociIndex, converted) };
    }
    this.#push({ digest: desc.digest as Digest, size: desc.size });
    return { desc };
  }

  #generated(desc: Descriptor, mediaType: string, value: unknown): Descriptor {
    const data = new TextEncoder().encode(JSON.stringify(value));
    const digest = sha256(data);
    this.#push({ digest, size: data.byteLength, data });
    return { ...desc, mediaType, digest, size: data.byteLength };
  }

  #push(blob: BlobEntry): void {
    if (this.#seen.has(blob.digest)) return;
    this.#seen.add(blob.digest);
    this.blobs.push(blob);
  }

  async #readObject(desc: Descriptor): Promise<Record<string, unknown>> {
    const value = await this.#store.readJSON(desc.digest as Digest);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ImgError(
        `Blob ${desc.digest} in the content store is not a JSON object; pull or build the image again`,
      );
    }
    return value as Record<string, unknown>;
  }

  #parseManifest(raw: unknown, desc: Descriptor): Manifest {
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ImgError(
        `Manifest ${desc.digest} in the content store is not a valid image manifest; pull the image again`,
      );
    }
    return parsed.data;
  }

  /** Reports whether a manifest and the blobs it needs are all in the store. */
  async #isComplete(desc: Descriptor): Promise<boolean> {
    if (!(await this.#store.has(desc.digest as Digest))) return false;
    if (!isManifestMediaType(desc.mediaType)) return true;
    const manifest = this.#parseManifest(await this.#readObject(desc), desc);
    for (const d of [manifest.config, ...manifest.layers]) {
      if ((d.urls?.length ?? 0) > 0 && d !== manifest.config) continue;
      if (!(await this.#store.has(d.digest as Digest))) return false;
    }
    return true;
  }

  async #stat(
    desc: Descriptor,
    label: string,
    what: string,
    optional: boolean,
    push = false,
  ): Promise<boolean> {
    const digest = desc.digest as Digest;
    if (this.#seen.has(digest)) return true;
    const info = await this.#store.stat(digest);
    if (!info) {
      if (optional) return false;
      throw new NotFoundError(
        `Image ${label} is incomplete: its ${what} ${digest} is not in the content store; pull or build the image again`,
      );
    }
    if (info.size !== desc.size) {
      throw new ImgError(
        `Image ${label} is damaged: its ${what} ${digest} has ${info.size} bytes in the content store but ${desc.size} in its descriptor; pull or build the image again`,
      );
    }
    if (push) this.#push({ digest, size: info.size });
    return true;
  }
}

/** A short label for an image in error messages: its first name, or its manifest digest. */
export function imageLabel(image: StoredImage): string {
  return image.names[0] ?? image.manifest.digest;
}

/** Parses an image's names, keeping each distinct name once. */
export function parseNames(image: StoredImage): Reference[] {
  const seen = new Set<string>();
  const refs: Reference[] = [];
  for (const name of image.names) {
    const ref = parseReference(name);
    const full = formatReference(ref);
    if (seen.has(full)) continue;
    seen.add(full);
    refs.push(ref);
  }
  return refs;
}

/** The path of a blob inside an OCI layout or a docker archive. */
export function blobPath(digest: string): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}
