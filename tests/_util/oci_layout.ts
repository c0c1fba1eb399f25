/**
 * Test helpers that write OCI image layouts by hand: reproducible tar layers (fixed mtimes,
 * explicit owners, PAX xattrs, whiteouts), blobs, manifests and `index.json`.
 *
 * Everything here is deterministic: the same entries always give the same digests.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { type Digest, digestHex, sha256 } from "../../core/digest.ts";
import { MediaType } from "../../core/media_types.ts";
import type { Descriptor, ImageConfig, Index, Manifest, OciPlatform } from "../../core/schemas.ts";
import { tarLayer } from "./layers.ts";

/** The modification time written into every tar entry (2024-01-01T00:00:00Z). */
export const FIXED_MTIME: Date = new Date("2024-01-01T00:00:00Z");

/** The `created` time written into test image configs. */
export const FIXED_CREATED = "2024-01-01T00:00:00Z";

/** One entry of a test layer. Paths are relative to the root (`bin/sh`, `data/x`). */
export interface TarEntry {
  /** Path inside the image, without a leading slash. */
  path: string;
  /** Entry type; `file` by default. */
  type?: "file" | "dir" | "symlink" | "hardlink";
  /** Permission bits including setuid/setgid/sticky (defaults: 0o644 files, 0o755 dirs). */
  mode?: number;
  /** Owner uid (default 0). */
  uid?: number;
  /** Owner gid (default 0). */
  gid?: number;
  /** File content (files only). */
  content?: string | Uint8Array;
  /** Symlink target, or the path (relative to the root) of the hardlink's target. */
  target?: string;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, string>;
}

/** Returns the whiteout entry that deletes `path` in a lower layer (`dir/.wh.name`). */
export function whiteout(path: string): TarEntry {
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "" : path.slice(0, i + 1);
  return { path: `${dir}.wh.${path.slice(i + 1)}`, type: "file", mode: 0o644 };
}

/** Returns the opaque-directory marker for `dir` (`dir/.wh..wh..opq`). */
export function opaque(dir: string): TarEntry {
  return { path: `${dir.replace(/\/$/, "")}/.wh..wh..opq`, type: "file", mode: 0o644 };
}

/**
 * Writes `entries` as an uncompressed tar archive, in the given order, every entry with the
 * mtime {@linkcode FIXED_MTIME} (written by {@linkcode tarLayer}).
 */
export function buildTar(entries: TarEntry[]): Promise<Uint8Array> {
  const mtime = FIXED_MTIME.getTime() / 1000;
  return Promise.resolve(tarLayer(entries.map((e) => ({
    type: e.type ?? "file",
    path: e.path,
    mode: e.mode === undefined ? undefined : e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    mtime,
    content: e.content,
    target: e.target,
    xattrs: e.xattrs,
  }))));
}

/** A layer blob and the digests an image refers to it by. */
export interface Layer {
  /** The gzip-compressed blob. */
  blob: Uint8Array;
  /** Digest of the compressed blob (the manifest's layer digest). */
  digest: Digest;
  /** Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: Digest;
  /** Size of the compressed blob. */
  size: number;
  /** The layer media type (OCI gzip). */
  mediaType: string;
}

/** Builds a gzip layer from `entries`. */
export async function buildLayer(entries: TarEntry[]): Promise<Layer> {
  const tar = await buildTar(entries);
  const blob = new Uint8Array(gzipSync(tar, { level: 6 }));
  return {
    blob,
    digest: sha256(blob),
    diffId: sha256(tar),
    size: blob.byteLength,
    mediaType: MediaType.ociLayerGzip,
  };
}

/** The OCI architecture name of the machine running the tests (`amd64`, `arm64`, ...). */
export function hostArchitecture(): string {
  const arch = Deno.build.arch as string;
  return arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
}

/** Writes blobs, manifests and `index.json` into an OCI image layout directory. */
export class OciLayoutWriter {
  /** The layout directory. */
  readonly dir: string;

  /** Prepares `dir` (created if needed) as an OCI image layout. */
  constructor(dir: string) {
    this.dir = dir;
    Deno.mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    Deno.writeTextFileSync(
      join(dir, "oci-layout"),
      JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    );
  }

  /** Writes `bytes` as a blob and returns its descriptor. */
  async writeBlob(mediaType: string, bytes: Uint8Array): Promise<Descriptor> {
    const digest = sha256(bytes);
    await Deno.writeFile(join(this.dir, "blobs", "sha256", digestHex(digest)), bytes);
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** Serializes `value` as JSON, writes it as a blob and returns its descriptor. */
  writeJSON(mediaType: string, value: unknown): Promise<Descriptor> {
    return this.writeBlob(mediaType, new TextEncoder().encode(JSON.stringify(value)));
  }

  /** Writes a layer blob and returns its descriptor. */
  writeLayer(layer: Layer): Promise<Descriptor> {
    return this.writeBlob(layer.mediaType, layer.blob);
  }

  /** Writes config + layers + an OCI manifest and returns the manifest descriptor. */
  async writeImage(
    config: ImageConfig,
    layers: Layer[],
    platform?: OciPlatform,
  ): Promise<Descriptor> {
    const configDesc = await this.writeJSON(MediaType.ociConfig, config);
    const layerDescs: Descriptor[] = [];
    for (const l of layers) layerDescs.push(await this.writeLayer(l));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: configDesc,
      layers: layerDescs,
    };
    const desc = await this.writeJSON(MediaType.ociManifest, manifest);
    return platform ? { ...desc, platform } : desc;
  }

  /** Writes an OCI image index of `manifests` as a blob and returns its descriptor. */
  writeIndexBlob(manifests: Descriptor[]): Promise<Descriptor> {
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
    return this.writeJSON(MediaType.ociIndex, index);
  }

  /**
   * Adds `desc` to `index.json` under the `org.opencontainers.image.ref.name` `tag`,
   * replacing any entry that already has that name.
   */
  async tag(desc: Descriptor, tag: string): Promise<void> {
    const path = join(this.dir, "index.json");
    let manifests: Descriptor[] = [];
    try {
      manifests = (JSON.parse(await Deno.readTextFile(path)) as Index).manifests;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    manifests = manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
    manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
    await Deno.writeTextFile(path, JSON.stringify(index));
  }
}

/** The `index.json` annotation that names an image in an OCI layout. */
export const REF_NAME = "org.opencontainers.image.ref.name";
