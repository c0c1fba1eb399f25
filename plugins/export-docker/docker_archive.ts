/**
 * Writes images as a docker-archive tarball: the format `docker save` writes and
 * `docker load`, `podman load` and `skopeo ... docker-archive:` read.
 *
 * Layout (the paths docker 25+ uses):
 *
 * ```
 * manifest.json          [{"Config": "blobs/sha256/<config>", "RepoTags": ["busybox:latest"],
 *                          "Layers": ["blobs/sha256/<layer>", ...]}]
 * repositories           {"busybox": {"latest": "<top layer id>"}}  (legacy loaders)
 * blobs/sha256/<hex>     the config and layer blobs, unchanged
 * ```
 *
 * Layers are stored as they are in the content store (usually gzip), not decompressed:
 * `docker load` decompresses every layer it loads and checks it against the config's
 * `rootfs.diff_ids`, and containers/image (podman, skopeo) does the same, so the archive is
 * smaller, is written in one streaming pass, and keeps blob digests. There is no `index.json`:
 * podman tries an archive as OCI first, and would then name the image after its tag alone.
 *
 * @module
 */
import {
  type ContentStore,
  familiarReference,
  formatReference,
  ImgError,
  isIndexMediaType,
  NotFoundError,
  type StoredImage,
} from "@img/core";
import {
  ArchiveTarWriter,
  BlobCollector,
  type BlobEntry,
  blobPath,
  imageLabel,
  parseNames,
} from "@img/core/archive";

/** One entry of a docker archive's `manifest.json`. */
export interface DockerArchiveManifestEntry {
  /** Path of the image config inside the archive. */
  Config: string;
  /** Tags in docker's familiar form (`busybox:latest`, `127.0.0.1:5000/a/b:v1`). */
  RepoTags: string[];
  /** Paths of the layer blobs inside the archive, bottom first. */
  Layers: string[];
}

/** Options for {@linkcode writeDockerArchive}. */
export interface DockerArchiveOptions {
  /**
   * How names are written into `RepoTags`: `"familiar"` (the default) as `docker save` writes
   * them (`busybox:latest`), or `"normalized"` in full (`docker.io/library/busybox:latest`).
   * docker loads both the same way; podman names a short tag `localhost/busybox:latest`, so
   * `"normalized"` is what restores the same name there.
   */
  repoTags?: "familiar" | "normalized";
}

/** What {@linkcode writeDockerArchive} wrote. */
export interface DockerArchiveResult {
  /** The `manifest.json` that was written. */
  manifest: DockerArchiveManifestEntry[];
  /** The blobs that were written, in archive order. */
  blobs: BlobEntry[];
}

/**
 * Streams `images` from `store` into `out` as a docker-archive tarball (what `docker save`
 * writes), and closes `out` (or aborts it on failure).
 *
 * Images with the same manifest are written once with all their tags. Names pinned only by
 * digest cannot be tags and are left out of `RepoTags`. Entry order and metadata are fixed, so
 * the same input always gives the same bytes.
 *
 * @throws {ImgError} if an image is a multi-platform index (docker archives hold one platform
 *   per image) or a blob it needs is not in the store.
 */
export async function writeDockerArchive(
  images: StoredImage[],
  store: ContentStore,
  out: WritableStream<Uint8Array>,
  options: DockerArchiveOptions = {},
): Promise<DockerArchiveResult> {
  const name = options.repoTags === "normalized" ? formatReference : familiarReference;
  let tar: ArchiveTarWriter | undefined;
  try {
    const collector = new BlobCollector(store);
    const entries = new Map<string, DockerArchiveManifestEntry>();
    const repositories: Record<string, Record<string, string>> = {};
    for (const image of images) {
      const label = imageLabel(image);
      if (isIndexMediaType(image.manifest.mediaType)) {
        throw new ImgError(
          `Image ${label} is a multi-platform index, which a docker archive cannot hold; save one platform with --platform, or use the OCI format`,
        );
      }
      const { manifest } = await collector.add(image.manifest, label);
      if (!manifest) {
        throw new ImgError(
          `Image ${label} has media type ${image.manifest.mediaType}, which is not an image manifest; it cannot be saved as a docker archive`,
        );
      }
      let entry = entries.get(image.manifest.digest);
      if (!entry) {
        entry = {
          Config: blobPath(manifest.config.digest),
          RepoTags: [],
          Layers: manifest.layers.map((l) => blobPath(l.digest)),
        };
        entries.set(image.manifest.digest, entry);
      }
      const top = manifest.layers.at(-1)?.digest.slice("sha256:".length);
      for (const ref of parseNames(image)) {
        if (!ref.tag) continue;
        const tagged = name({ domain: ref.domain, path: ref.path, tag: ref.tag });
        if (!entry.RepoTags.includes(tagged)) entry.RepoTags.push(tagged);
        if (top) {
          const repo = name({ domain: ref.domain, path: ref.path });
          (repositories[repo] ??= {})[ref.tag] = top;
        }
      }
    }
    // Only configs and layers go into the archive: docker-archive readers never read manifests.
    const wanted = new Set<string>();
    for (const e of entries.values()) {
      wanted.add(e.Config);
      for (const l of e.Layers) wanted.add(l);
    }
    const blobs = collector.blobs.filter((b) => wanted.has(blobPath(b.digest)));
    const present = new Set(blobs.map((b) => blobPath(b.digest)));
    for (const path of wanted) {
      if (!present.has(path)) {
        throw new NotFoundError(
          `Layer sha256:${
            path.slice("blobs/sha256/".length)
          } is not in the content store, and a docker archive must contain every layer; pull the image with its non-distributable layers, or use the OCI format`,
        );
      }
    }
    const manifest = [...entries.values()];

    tar = new ArchiveTarWriter(out);
    await tar.file("manifest.json", JSON.stringify(manifest));
    await tar.file("repositories", JSON.stringify(repositories));
    await tar.directory("blobs/");
    await tar.directory("blobs/sha256/");
    for (const blob of blobs) {
      await tar.stream(blobPath(blob.digest), blob.size, await store.open(blob.digest));
    }
    await tar.close();
    return { manifest, blobs };
  } catch (e) {
    if (tar) await tar.abort(e);
    else await out.abort(e).catch(() => {});
    throw e;
  }
}
