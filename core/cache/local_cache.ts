/**
 * The build cache in an OCI image layout directory (`type=local,dest=DIR` / `src=DIR`), as CI
 * caches hold it. Builds may update one directory at the same time: blobs are written under a
 * temporary name and renamed into place, then `index.json` is replaced atomically, so a reader
 * never sees an index naming a blob that is not complete.
 *
 * @module
 */
import { join } from "node:path";
import type { ContentStore } from "../content/store.ts";
import { type Digest, digestHex } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { MediaType } from "../media_types.ts";
import { type Descriptor, type Index, manifestSchema } from "../schemas.ts";
import type { CacheArtifact } from "./format.ts";
import { parseCacheRecords } from "./format.ts";
import type { CacheSource } from "./registry_cache.ts";

const REF_NAME = "org.opencontainers.image.ref.name";

function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", "sha256", digestHex(digest as Digest));
}

async function readIndex(dir: string): Promise<Index | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "index.json"))) as Index;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Reads the cache tagged `tag` in the layout `dir` (no layer is copied). */
export async function loadLocalCache(
  dir: string,
  tag: string,
  content: ContentStore,
): Promise<CacheSource> {
  const name = `${dir} (tag ${tag})`;
  const index = await readIndex(dir);
  if (!index) throw new ImgError(`${dir} has no index.json: export a cache there with --cache-to`);
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!entry) throw new ImgError(`${dir} has no cache tagged ${tag}`);
  const manifest = manifestSchema.parse(
    JSON.parse(await Deno.readTextFile(blobPath(dir, entry.digest))),
  );
  const config = await Deno.readFile(blobPath(dir, manifest.config.digest));
  const fetch = async (d: Descriptor) => {
    if (await content.has(d.digest as Digest)) return;
    const file = await Deno.open(blobPath(dir, d.digest));
    await content.ingest(file.readable, { expected: d.digest as Digest, size: d.size });
  };
  return { name, records: parseCacheRecords(manifest, config, name), fetch };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function writeAtomically(path: string, data: Uint8Array | ReadableStream<Uint8Array>) {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes `artifact` into the layout `dir` tagged `tag`: the blobs it lacks first (from the
 * content store, after `ensure` brings in those it lacks), then `index.json`.
 */
export async function saveLocalCache(
  dir: string,
  tag: string,
  artifact: CacheArtifact,
  content: ContentStore,
  ensure: (d: Descriptor) => Promise<void>,
): Promise<void> {
  await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const layer of artifact.layers) {
    const path = blobPath(dir, layer.digest);
    if (await exists(path)) continue;
    if (!(await content.has(layer.digest as Digest))) await ensure(layer);
    await writeAtomically(path, await content.open(layer.digest as Digest));
  }
  const configDigest = JSON.parse(new TextDecoder().decode(artifact.manifest)).config.digest;
  await writeAtomically(blobPath(dir, configDigest), artifact.config);
  await writeAtomically(blobPath(dir, artifact.descriptor.digest), artifact.manifest);
  if (!(await exists(join(dir, "oci-layout")))) {
    await writeAtomically(
      join(dir, "oci-layout"),
      new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: "1.0.0" })),
    );
  }
  const index = await readIndex(dir) ??
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] } as Index;
  index.manifests = [
    ...index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag),
    { ...artifact.descriptor, annotations: { [REF_NAME]: tag } },
  ];
  await writeAtomically(join(dir, "index.json"), new TextEncoder().encode(JSON.stringify(index)));
}
