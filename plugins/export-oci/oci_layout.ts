/**
 * Writes images as an OCI image layout
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md): either a tar
 * archive streamed into a `WritableStream` (what `img save --format oci` and
 * `--output type=oci` write) or a directory.
 *
 * `index.json` holds one descriptor per (image, name), annotated as BuildKit and docker annotate
 * their OCI exports: `org.opencontainers.image.ref.name` is the tag (so
 * `skopeo copy oci-archive:app.tar:latest ...` finds it) and `io.containerd.image.name` the full
 * name (so `docker load` and `ctr import` restore it). Blobs are copied unchanged, except that
 * Docker schema 2 manifests are rewritten with OCI media types unless asked otherwise.
 *
 * @module
 */
import { join } from "node:path";
import {
  type ContentStore,
  type Descriptor,
  formatReference,
  ImgError,
  type Index,
  MediaType,
  type StoredImage,
} from "@img/core";
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  ArchiveTarWriter,
  BlobCollector,
  type BlobEntry,
  blobPath,
  imageLabel,
  parseNames,
} from "@img/core/archive";

/** The annotations `index.json` names its images with (shared with the layout reader in core). */
export { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME };

/** Options for the OCI layout writers. */
export interface OciLayoutOptions {
  /**
   * Keep Docker schema 2 manifests and manifest lists as they are (BuildKit's
   * `oci-mediatypes=false`). By default they are rewritten with OCI media types, as
   * `podman save --format oci-archive` does: readers built on containers/image (skopeo,
   * podman) and umoci ignore Docker manifests in an OCI layout. Conversion gives the image a
   * new manifest digest; config and layer blobs are unchanged.
   */
  keepDockerMediaTypes?: boolean;
  /**
   * Annotations of `index.json` itself (BuildKit's `annotation-index.<key>=<value>` of the
   * `oci` exporter), written with their keys sorted.
   */
  annotations?: Record<string, string>;
}

/** Options for {@linkcode writeOciArchive}. */
export interface OciArchiveOptions extends OciLayoutOptions {
  /**
   * Must be `true` or omitted: a stream can only receive a tar archive. To write the layout as
   * a directory (`--output type=oci,tar=false`), use {@linkcode writeOciLayout}.
   */
  tar?: boolean;
}

/** What an OCI writer wrote. */
export interface OciLayoutResult {
  /** The `index.json` that was written. */
  index: Index;
  /** The blobs that were written, in archive order. */
  blobs: BlobEntry[];
}

async function collect(
  images: StoredImage[],
  store: ContentStore,
  options: OciLayoutOptions,
): Promise<OciLayoutResult> {
  const collector = new BlobCollector(store, { toOci: !options.keepDockerMediaTypes });
  const resolved: StoredImage[] = [];
  for (const image of images) {
    const { desc } = await collector.add(image.manifest, imageLabel(image));
    resolved.push({ names: image.names, manifest: desc });
  }
  const index = buildIndex(resolved);
  const annotations = Object.entries(options.annotations ?? {});
  if (annotations.length > 0) {
    index.annotations = Object.fromEntries(annotations.sort(byKey));
  }
  return { index, blobs: collector.blobs };
}

/**
 * Streams `images` from `store` into `out` as an OCI image layout tar archive, and closes
 * `out` (or aborts it on failure).
 *
 * The archive holds `oci-layout`, `index.json`, then every reachable blob once under
 * `blobs/sha256/`, each piped from the store without being held in memory. Entry order and
 * metadata (mtime 0, uid/gid 0) are fixed, so the same input always gives the same bytes.
 *
 * @throws {NotFoundError} if a blob an image needs is not in the store.
 */
export async function writeOciArchive(
  images: StoredImage[],
  store: ContentStore,
  out: WritableStream<Uint8Array>,
  options: OciArchiveOptions = {},
): Promise<OciLayoutResult> {
  if (options.tar === false) {
    throw new ImgError(
      "An OCI layout directory cannot be written to a stream; give a directory as the destination",
    );
  }
  let tar: ArchiveTarWriter | undefined;
  try {
    const { index, blobs } = await collect(images, store, options);
    tar = new ArchiveTarWriter(out);
    await tar.file("oci-layout", OCI_LAYOUT_FILE);
    await tar.file("index.json", JSON.stringify(index));
    await tar.directory("blobs/");
    await tar.directory("blobs/sha256/");
    for (const blob of blobs) {
      const path = blobPath(blob.digest);
      if (blob.data) await tar.file(path, blob.data);
      else await tar.stream(path, blob.size, await store.open(blob.digest));
    }
    await tar.close();
    return { index, blobs };
  } catch (e) {
    if (tar) await tar.abort(e);
    else await out.abort(e).catch(() => {});
    throw e;
  }
}

/**
 * Writes `images` from `store` as an OCI image layout directory at `dir` (created if needed).
 *
 * Blobs already present with the right size are kept; `oci-layout` and `index.json` are
 * replaced atomically, so `index.json` afterwards names exactly `images`.
 *
 * @throws {NotFoundError} if a blob an image needs is not in the store.
 */
export async function writeOciLayout(
  images: StoredImage[],
  store: ContentStore,
  dir: string,
  options: OciLayoutOptions = {},
): Promise<OciLayoutResult> {
  const { index, blobs } = await collect(images, store, options);
  await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const blob of blobs) {
    const target = join(dir, blobPath(blob.digest));
    const existing = await Deno.stat(target).catch(() => undefined);
    if (existing?.isFile && existing.size === blob.size) continue;
    const data = blob.data;
    await atomicWrite(
      target,
      (tmp) => data ? Deno.writeFile(tmp, data) : Deno.copyFile(store.path(blob.digest), tmp),
    );
  }
  await atomicWrite(join(dir, "oci-layout"), (tmp) => Deno.writeTextFile(tmp, OCI_LAYOUT_FILE));
  await atomicWrite(
    join(dir, "index.json"),
    (tmp) => Deno.writeTextFile(tmp, JSON.stringify(index)),
  );
  return { index, blobs };
}

/**
 * Builds the OCI `index.json` for `images`: one descriptor per (image, name), annotated with
 * the full name (`io.containerd.image.name`) and the tag (`org.opencontainers.image.ref.name`),
 * as BuildKit's and docker's OCI exports write them; an image without names gets one
 * descriptor without them.
 */
function buildIndex(images: StoredImage[]): Index {
  const manifests: Descriptor[] = [];
  const seen = new Set<string>();
  for (const image of images) {
    const { mediaType, digest, size, platform, artifactType, annotations } = image.manifest;
    const base: Descriptor = { mediaType, digest, size };
    if (artifactType) base.artifactType = artifactType;
    const kept = Object.entries(annotations ?? {}).filter(([k]) =>
      k !== ANNOTATION_IMAGE_NAME && k !== ANNOTATION_REF_NAME
    );
    const refs = parseNames(image);
    const push = (names: Record<string, string>) => {
      const all = Object.fromEntries([...kept, ...Object.entries(names)].sort(byKey));
      const desc: Descriptor = { ...base };
      if (Object.keys(all).length > 0) desc.annotations = all;
      if (platform) desc.platform = platform;
      const key = `${digest} ${all[ANNOTATION_IMAGE_NAME] ?? ""}`;
      if (seen.has(key)) return;
      seen.add(key);
      manifests.push(desc);
    };
    if (refs.length === 0) push({});
    for (const ref of refs) {
      const names: Record<string, string> = { [ANNOTATION_IMAGE_NAME]: formatReference(ref) };
      // The OCI ref name grammar has no room for a bare digest, so only tags become ref names.
      if (ref.tag) names[ANNOTATION_REF_NAME] = ref.tag;
      push(names);
    }
  }
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
}

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The content of the `oci-layout` file. */
const OCI_LAYOUT_FILE = JSON.stringify({ imageLayoutVersion: "1.0.0" });

async function atomicWrite(target: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    await write(tmp);
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
