/**
 * The exporter seam: turns a build result into an output (`--output type=NAME,...`), and,
 * for exporters that implement {@linkcode Exporter.saveImages}, writes images from the local
 * image store (`img save --format NAME`): one implementation of each format, chosen by name.
 *
 * @module
 */
import type { ContentStore } from "./content/store.ts";
import type { ImageStore } from "./image/store.ts";
import type { ProgressWriter } from "./progress.ts";
import type { LayerCompression } from "./media_types.ts";
import type { Platform } from "./platform.ts";
import type { Descriptor, ImageConfig } from "./schemas.ts";
import type { Attestation } from "./attest/attestation.ts";

/** A layer of a result, as a blob in the content store. */
export interface ResultLayer {
  /** The compressed (or not) blob. */
  descriptor: Descriptor;
  /** The digest of the uncompressed tar. */
  diffID: string;
}

/** How an exporter wants the result's layers made. */
export interface LayerOptions {
  /** Compression of layers made for this export (default gzip). */
  compression?: LayerCompression;
  /** Compression level. */
  level?: number;
  /** Clamp file mtimes in new layers to this time (seconds since the epoch). */
  sourceDateEpoch?: number;
  /**
   * Recompress layers that already exist in another compression (base-image layers as pulled)
   * to `compression` (BuildKit's `force-compression=true`); by default they are used as they are.
   */
  forceCompression?: boolean;
  /**
   * The caller writes only descriptors (an image to store or push), not the blobs' bytes:
   * layers of a result that came from an imported cache (`--cache-from`) are then returned
   * without being downloaded, recorded as remote blobs of the registry that has them
   * (`ExportContext.push` mounts them there, and img fetches them when an image needs its
   * content). By default every layer's blob is in the content store when `layers()` resolves.
   */
  remote?: boolean;
}

/** What an exporter exports: the result of a build. */
export interface ExportResult {
  /** The image config (its `rootfs` and `history` are completed by {@linkcode writeImage}-style helpers). */
  config: ImageConfig;
  /**
   * The layers, base first, made on the first call (each snapshot's diff from its parent)
   * and reused afterwards; exporters that only need files (`tar`, `local`) never call it.
   */
  layers(options?: LayerOptions): Promise<ResultLayer[]>;
  /**
   * A directory holding the final root filesystem, readable while the export runs. An
   * exporter instance with `usesRootfs: false` must not read it (it throws then).
   */
  rootfs: string;
  /** Image names the result is to be known by (`-t`). */
  names: string[];
  /**
   * The build's `SOURCE_DATE_EPOCH` (seconds), when the frontend had one: the image's
   * `created` times are already set from it; exporters asked to `rewrite-timestamp` pass it
   * to {@linkcode ExportResult.layers} as `sourceDateEpoch`.
   */
  sourceDateEpoch?: number;
  /**
   * The attestations asked for (`--provenance`, `--sbom`), not yet bound to a manifest: the
   * exporters that write an image index attach them beside the image as attestation manifests
   * (see `@img/core/export`'s `exportImage`); the others are refused before the build.
   */
  attestations?: Attestation[];
}

/** What every exporter may use while it exports. */
export interface ExportContext {
  /** The content store holding the result's blobs. */
  content: ContentStore;
  /** Where progress goes. */
  progress: ProgressWriter;
  /** The directory img stores its state in. */
  stateDir: string;
  /** The local image store (names to manifests). */
  images: ImageStore;
  /** Pushes the image `descriptor` (in the content store) to the registry as `name`. */
  push(name: string, descriptor: Descriptor): Promise<void>;
}

/** What an export reports back (`containerimage.digest`, `image.name`, ...). */
export type ExportResponse = Record<string, string>;

/** An image from the local image store, with the names it is to be written under. */
export interface StoredImage {
  /**
   * Full normalized references the image is known by (`docker.io/library/busybox:latest`,
   * `127.0.0.1:5000/a/b:v1`). May be empty (an image asked for by its digest).
   */
  names: string[];
  /**
   * The image's manifest (OCI or Docker schema 2) whose blob, config and layers are all in the
   * content store. It may also be an image index; children missing from the store are left
   * out by formats that hold indexes, as `docker save` does for platforms it has not pulled.
   */
  manifest: Descriptor;
}

/** What `img save --format NAME` asks an exporter to write. */
export interface SaveRequest {
  /** The images, in the order given on the command line (the same image may come twice). */
  images: StoredImage[];
  /**
   * Where to write (`img save -o FILE`): a file, to be written atomically (see
   * `ExportDestination`), or `undefined` for standard output, which the CLI has already
   * checked is not a terminal.
   */
  dest?: string;
}

/** One platform's result of a multi-platform build (`--platform linux/amd64,linux/arm64`). */
export interface PlatformExportResult {
  /** The platform the result was built for. */
  platform: Platform;
  /** The result, as a single-platform build gives it (`names` are the same for each). */
  result: ExportResult;
}

/** One configured export, made from the `--output` attributes. */
export interface ExporterInstance {
  /**
   * Whether `export` reads {@linkcode ExportResult.rootfs} (default true). An exporter that
   * writes only layers (an image, an archive of one) says `false`: a build whose result came
   * from an imported cache then makes no root filesystem for it, and downloads only the layers
   * the exporter asks for.
   */
  usesRootfs?: boolean;
  /** Exports the result. */
  export(result: ExportResult, ctx: ExportContext): Promise<ExportResponse>;
  /**
   * Exports the results of a build for several platforms at once (an image index, a
   * directory per platform, ...), in the order of `--platform`. Optional: img refuses a
   * multi-platform build, before it starts, with an output that lacks it.
   */
  exportPlatforms?(results: PlatformExportResult[], ctx: ExportContext): Promise<ExportResponse>;
}

/**
 * Creates exporter instances from `--output` attributes, and may save stored images.
 *
 * @example An exporter that lists the top-level entries
 * An exporter that writes the names of the root filesystem's top-level entries to
 * `dest=FILE`: `resolve` validates the `--output` attributes before anything is built,
 * `export` runs after the build with the {@linkcode ExportResult}.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import {
 *   ExportDestination,
 *   type ExportContext,
 *   type Exporter,
 *   parseExporterAttributes,
 * } from "@img/core";
 *
 * const exporter: Exporter = {
 *   resolve(attrs) {
 *     const { dest } = parseExporterAttributes(attrs, z.object({ dest: z.string() }));
 *     const out = ExportDestination.resolve(dest);
 *     return {
 *       async export(result) {
 *         const names: string[] = [];
 *         for await (const entry of Deno.readDir(result.rootfs)) names.push(entry.name);
 *         await out.write(async (stream) => {
 *           const writer = stream.getWriter();
 *           await writer.write(new TextEncoder().encode(names.sort().join("\n") + "\n"));
 *           await writer.close();
 *         });
 *         return {};
 *       },
 *     };
 *   },
 * };
 *
 * // img calls resolve with the attributes, then export with the build's result.
 * const rootfs = await Deno.makeTempDir();
 * await Deno.mkdir(`${rootfs}/bin`);
 * await Deno.mkdir(`${rootfs}/etc`);
 * const dest = `${await Deno.makeTempDir()}/names.txt`;
 * const instance = await exporter.resolve({ dest });
 * await instance.export({
 *   config: { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
 *   layers: () => Promise.resolve([]),
 *   rootfs,
 *   names: [],
 * }, {} as ExportContext); // this exporter uses nothing from the context
 * assert.equal(await Deno.readTextFile(dest), "bin\netc\n");
 * assert.throws(() => exporter.resolve({ dest, colour: "red" }), /Unknown attribute "colour"/);
 * ```
 *
 * @example An exporter that `img save --format names` can use too
 * ```ts
 * import { ExportDestination, type Exporter } from "@img/core";
 *
 * async function writeLines(dest: string | undefined, lines: string[]): Promise<void> {
 *   await ExportDestination.resolve(dest).write(async (out) => {
 *     const w = out.getWriter();
 *     await w.write(new TextEncoder().encode(lines.map((l) => `${l}\n`).join("")));
 *     await w.close();
 *   });
 * }
 *
 * // `-o type=names,dest=FILE` writes the -t names; `img save --format names` each image's.
 * const exporter: Exporter = {
 *   resolve: (attrs) => ({
 *     async export(result) {
 *       await writeLines(attrs.dest, result.names);
 *       return {};
 *     },
 *   }),
 *   async saveImages({ images, dest }) {
 *     await writeLines(dest, images.map((i) => `${i.manifest.digest} ${i.names.join(",")}`));
 *     return {};
 *   },
 * };
 * ```
 */
export interface Exporter {
  /** Validates the attributes and returns an instance; throws a user-facing error if invalid. */
  resolve(attrs: Record<string, string>): Promise<ExporterInstance> | ExporterInstance;
  /**
   * Writes images from the local image store instead of a build result: what
   * `img save --format NAME IMAGE...` calls (`docker` and `oci` implement it). Optional: an
   * exporter without it cannot be named by `img save --format`, which then refuses with the
   * list of those that can. For `request.images` it should write what `export` writes
   * for a built image with those names and default attributes.
   */
  saveImages?(request: SaveRequest, ctx: ExportContext): Promise<ExportResponse>;
}
