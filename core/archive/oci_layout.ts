/**
 * Reads an OCI image layout directory
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md), the format
 * `img build -o type=oci,tar=false` and `img save --format oci` (unpacked) write: the names
 * `index.json` gives its images, and an image copied into the content store with every blob
 * verified against its digest. `--build-context NAME=oci-layout://DIR` builds on it.
 *
 * @module
 */
import { join } from "node:path";
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { type LoadedImage, loadImage, parseIndex } from "../image/image.ts";
import { isIndexMediaType } from "../media_types.ts";
import { formatPlatform, type Platform, selectPlatformManifest } from "../platform.ts";
import type { Descriptor, Index } from "../schemas.ts";
import { blobPath } from "./blobs.ts";

/** The annotation that holds the full image name (containerd, docker, BuildKit). */
export const ANNOTATION_IMAGE_NAME = "io.containerd.image.name";
/** The OCI annotation that names a manifest in `index.json`: the tag, as BuildKit writes it. */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

/**
 * Reads `index.json` of the layout `dir`.
 *
 * @throws {ImgError} if `dir` holds no OCI image layout.
 */
export async function readOciLayoutIndex(dir: string): Promise<Index> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(join(dir, "index.json"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw new ImgError(
        `${dir} is not an OCI image layout (no index.json): write one with img build -o type=oci,tar=false,dest=DIR`,
      );
    }
    throw e;
  }
  return parseIndex(bytes, `${join(dir, "index.json")}`);
}

/**
 * The entry of `index` that `tag` names, as buildx resolves `oci-layout://DIR:TAG`: the one
 * whose `org.opencontainers.image.ref.name` or `io.containerd.image.name` is `tag`, else the
 * only entry when there is one. `undefined` when neither applies.
 */
export function findOciLayoutEntry(index: Index, tag: string): Descriptor | undefined {
  const named = index.manifests.find((d) =>
    d.annotations?.[ANNOTATION_REF_NAME] === tag || d.annotations?.[ANNOTATION_IMAGE_NAME] === tag
  );
  if (named) return named;
  return index.manifests.length === 1 ? index.manifests[0] : undefined;
}

/** Copies one blob of the layout `dir` into `content`, verifying its digest and size. */
async function copyBlob(dir: string, d: Descriptor, content: ContentStore): Promise<void> {
  const digest = d.digest as Digest;
  if (await content.has(digest)) return;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(dir, blobPath(digest)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ImgError(`The OCI layout ${dir} lacks blob ${digest}: write the layout again`);
    }
    throw e;
  }
  await content.ingest(file.readable, { expected: digest, size: d.size });
}

/**
 * Copies the image `digest` of the layout `dir` (a manifest, or an index resolved to the
 * manifest for `platform`) into `content` with its config and layers, and loads it.
 *
 * @throws {ImgError} if the layout lacks the image, the platform or a blob.
 */
export async function importOciLayoutImage(
  dir: string,
  digest: string,
  platform: Platform,
  content: ContentStore,
): Promise<LoadedImage> {
  const index = await readOciLayoutIndex(dir);
  let top = index.manifests.find((d) => d.digest === digest);
  if (!top) {
    // Not named in index.json: a blob of the layout may still hold it (a platform's manifest).
    const stat = await Deno.stat(join(dir, blobPath(digest))).catch(() => undefined);
    if (!stat?.isFile) throw new ImgError(`The OCI layout ${dir} has no image ${digest}`);
    const bytes = await Deno.readFile(join(dir, blobPath(digest)));
    const mediaType = (JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: string })
      .mediaType;
    if (!mediaType) throw new ImgError(`Blob ${digest} of ${dir} is not an image manifest`);
    top = { mediaType, digest, size: bytes.byteLength };
  }
  await copyBlob(dir, top, content);
  let manifest = top;
  if (isIndexMediaType(top.mediaType)) {
    const inner = parseIndex(await content.read(top.digest as Digest), `Index ${top.digest}`);
    const chosen = selectPlatformManifest(inner.manifests, platform);
    if (!chosen) {
      throw new ImgError(
        `The image ${digest} of ${dir} has no manifest for platform ${formatPlatform(platform)}`,
      );
    }
    await copyBlob(dir, chosen, content);
    manifest = chosen;
  }
  const manifestJson = JSON.parse(
    new TextDecoder().decode(await content.read(manifest.digest as Digest)),
  ) as { config?: Descriptor; layers?: Descriptor[] };
  for (const blob of [manifestJson.config, ...(manifestJson.layers ?? [])]) {
    if (blob) await copyBlob(dir, blob, content);
  }
  return await loadImage(content, top, platform);
}
