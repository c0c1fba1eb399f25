/**
 * Test fixtures for the archive writers (`@img/export-oci`, `@img/export-docker`): small images with random gzip layers, written into a
 * temporary content store, and helpers that run the independent tools (skopeo, podman, tar).
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { ContentStore } from "../../core/content/store.ts";
import { type Digest, sha256 } from "../../core/digest.ts";
import { MediaType } from "../../core/media_types.ts";
import type { Descriptor, ImageConfig, Index, Manifest } from "../../core/schemas.ts";
import { type LayerEntry, tarLayer } from "./layers.ts";
import { hostArchitecture as hostArch } from "./oci_layout.ts";

/** A layer written into the test store. */
export interface TestLayer {
  /** Descriptor of the gzip blob. */
  desc: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
  /** The files in the layer, by path. */
  files: Record<string, Uint8Array>;
}

/** An image written into the test store. */
export interface TestImage {
  /** The manifest descriptor. */
  manifest: Descriptor;
  /** The config descriptor. */
  config: Descriptor;
  /** The config as written. */
  configJSON: ImageConfig;
  /** The layers, bottom first. */
  layers: TestLayer[];
}

/** The OCI architecture of the machine running the tests. */
export { hostArch };

/** Builds an uncompressed tar of `files` (with their parent directories), in path order. */
export function buildTar(files: Record<string, Uint8Array>): Promise<Uint8Array> {
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  for (const path of Object.keys(files).sort()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      entries.push({ type: "dir", path: dir, mode: 0o755, mtime: 0 });
    }
    entries.push({ type: "file", path, mode: 0o644, mtime: 0, content: files[path] });
  }
  return Promise.resolve(tarLayer(entries));
}

/** Writes a gzip layer of `files` into `store`. */
export async function putLayer(
  store: ContentStore,
  files: Record<string, Uint8Array>,
  mediaType: string,
): Promise<TestLayer> {
  const tar = await buildTar(files);
  const blob = new Uint8Array(gzipSync(tar));
  const info = await store.put(blob);
  return { desc: { mediaType, digest: info.digest, size: info.size }, diffId: sha256(tar), files };
}

/** Writes `value` as a JSON blob into `store` and returns its descriptor. */
export async function putJSON(
  store: ContentStore,
  mediaType: string,
  value: unknown,
): Promise<Descriptor> {
  const info = await store.put(JSON.stringify(value));
  return { mediaType, digest: info.digest, size: info.size };
}

/** Options for {@linkcode putImage}. */
export interface PutImageOptions {
  /** Write Docker schema 2 media types instead of OCI ones. */
  docker?: boolean;
  /** Layers to reuse at the bottom of the image (shared with another image). */
  base?: TestLayer[];
  /** Files of the image's own top layer. */
  files?: Record<string, Uint8Array>;
  /** The architecture in the config (host architecture by default). */
  arch?: string;
  /** The command in the config. */
  cmd?: string[];
}

/** Writes a complete single-platform image into `store`. */
export async function putImage(
  store: ContentStore,
  options: PutImageOptions = {},
): Promise<TestImage> {
  const docker = options.docker ?? false;
  const layerType: string = docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers: TestLayer[] = [...(options.base ?? [])].map((l) => ({
    ...l,
    desc: { ...l.desc, mediaType: layerType },
  }));
  layers.push(
    await putLayer(store, options.files ?? { "data/random.bin": randomBytes(1024) }, layerType),
  );
  const configJSON: ImageConfig = {
    created: "2024-01-01T00:00:00Z",
    architecture: options.arch ?? hostArch(),
    os: "linux",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: options.cmd ?? ["/bin/sh"],
      WorkingDir: "/",
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `layer ${i}` })),
  };
  const config = await putJSON(
    store,
    docker ? MediaType.dockerConfig : MediaType.ociConfig,
    configJSON,
  );
  const manifestJSON: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
    config,
    layers: layers.map((l) => l.desc),
  };
  const manifest = await putJSON(store, manifestJSON.mediaType!, manifestJSON);
  return { manifest, config, configJSON, layers };
}

/** A Docker schema 2 base image (a 2 MB random file in it), and an OCI image on top of it. */
export async function putBaseAndApp(
  store: ContentStore,
): Promise<{ base: TestImage; app: TestImage }> {
  const enc = new TextEncoder();
  const base = await putImage(store, {
    docker: true,
    files: { "bin/hello": enc.encode("hello\n"), "data/random.bin": randomBytes(2_000_000) },
  });
  const app = await putImage(store, {
    base: base.layers,
    files: { "app/run": enc.encode("#!/bin/sh\necho app\n") },
    cmd: ["/app/run"],
  });
  return { base, app };
}

/** Writes an OCI index of `manifests` into `store`. */
export function putIndex(store: ContentStore, manifests: Descriptor[]): Promise<Descriptor> {
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return putJSON(store, MediaType.ociIndex, index);
}

/** A temporary directory with a content store, removed by `cleanup`. */
export async function tempStore(): Promise<
  { dir: string; store: ContentStore; cleanup: () => Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "img-archive-test-" });
  const store = new ContentStore(join(dir, "content"));
  return { dir, store, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/** Runs a command and returns its stdout; throws with stderr if it fails. */
export async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return stdout;
}

/** Opens `path` for writing as a `WritableStream`. */
export async function fileSink(path: string): Promise<WritableStream<Uint8Array>> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  return f.writable;
}
