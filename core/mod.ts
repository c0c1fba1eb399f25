/**
 * `@img/core`: the plugin API of img. Everything a plugin author needs is exported here, and
 * nothing else: the interfaces at img's seams, the types they carry, and the helpers a plugin
 * uses. This entry follows the plugin API version ({@linkcode API_VERSION}): a change to it is
 * a change of that version.
 *
 * - Seams: {@linkcode Frontend} (with {@linkcode FrontendClient}, {@linkcode BuildRequest},
 *   {@linkcode BuildDefinition}), {@linkcode Solver}, {@linkcode Snapshotter} (with
 *   {@linkcode Mount}), {@linkcode Executor}, {@linkcode Exporter} (with
 *   {@linkcode ExporterInstance}, {@linkcode ExportResult}, {@linkcode ExportContext},
 *   {@linkcode ExportResponse}) and {@linkcode CredentialStore}; each has an `@example`.
 * - Plugins: {@linkcode Plugin} and one type per kind ({@linkcode ExporterPlugin}, ...),
 *   {@linkcode PluginContext}, {@linkcode API_VERSION}.
 * - The build graph a frontend emits: {@linkcode GraphBuilder} and the op types
 *   ({@linkcode SourceOp}, {@linkcode ExecOp}, {@linkcode FileOp}, ...).
 * - Helpers: errors ({@linkcode ImgError}), digests ({@linkcode sha256},
 *   {@linkcode Digester}), progress ({@linkcode ProgressWriter}), layer writing
 *   ({@linkcode writeLayerDiff}, {@linkcode writeOverlayDiff}), trees ({@linkcode copyTree},
 *   {@linkcode removeTree}, {@linkcode treeUsage}), exporter attributes and destinations
 *   ({@linkcode parseExporterAttributes}, {@linkcode booleanAttribute},
 *   {@linkcode ExportDestination}), media types, OCI document types, references and
 *   platforms, and the content and image stores an exporter is handed.
 *
 * The rest of core is img's own machinery, behind subpath exports that img's packages (the
 * CLI and the built-in plugins) import: `@img/core/registry`, `/layer`, `/archive`,
 * `/export`, `/image`, `/state`, `/solver`, `/snapshot`, `/rootless`, `/gc`, `/sys` and
 * `/loader`. They are published so that img's packages resolve, but they are not the plugin
 * API and may change in any release.
 *
 * ## Plugins
 *
 * A plugin is a module whose default export is an object
 * `{ kind, name, version, apiVersion, description?, create(ctx) }` ({@linkcode Plugin}),
 * validated when it is loaded. `apiVersion` is the plugin API the plugin was written against:
 * use {@linkcode API_VERSION}; img refuses a plugin whose `apiVersion` is not in
 * {@linkcode SUPPORTED_API_VERSIONS}, with a message naming both versions. External plugins
 * are loaded with `img --plugin ./path/mod.ts` (a path, `file:`, `https:`, `npm:` or `jsr:`
 * specifier), the `IMG_PLUGINS` variable (comma-separated) or `"plugins": [...]` in
 * `$XDG_CONFIG_HOME/img/config.json`; `img version` lists every plugin with its version and
 * where it came from. An external plugin shadows a built-in one of the same name.
 *
 * ## Exporters
 *
 * An exporter plugin ({@linkcode ExporterPlugin}) is an `--output` type: its `name` is the
 * `type=` users write. Its parts, in the order img calls them:
 *
 * - `create(ctx: PluginContext) -> Exporter`: once per build; `ctx` has the state directory,
 *   the environment and a debug logger.
 * - `Exporter.resolve(attrs) -> ExporterInstance`: before anything is built, with the
 *   `--output` attributes (`dest=out.json,foo=bar` gives `{ dest: "out.json", foo: "bar" }`;
 *   `type` is not included). Validate them here and throw for anything wrong, so a typo fails
 *   at once; {@linkcode parseExporterAttributes} does it with a zod schema and refuses unknown
 *   keys, {@linkcode booleanAttribute} reads `true`/`false`.
 * - `ExporterInstance.export(result: ExportResult, ctx: ExportContext) -> ExportResponse`:
 *   after the build. {@linkcode ExportResult} holds the image `config`, the `-t` `names`,
 *   `rootfs` (a directory with the final root filesystem, read-only, valid only until
 *   `export` returns), `sourceDateEpoch` (the build's `SOURCE_DATE_EPOCH`, if any) and
 *   `layers(options?)`, which makes the layer blobs (base first, in the content store) on the
 *   first call for the given {@linkcode LayerOptions} (compression, level, `sourceDateEpoch` to
 *   clamp mtimes, `forceCompression`) and reuses them after. {@linkcode ExportContext} gives
 *   the `content` store, the local `images` store, `push(name, descriptor)` to a registry, a
 *   `progress` writer for warnings and statuses, and the `stateDir`. The response is a map of
 *   strings (`containerimage.digest`, `image.name`); set {@linkcode RESPONSE_STDOUT} to
 *   `"true"` when the export went to standard output, so that img prints nothing else there.
 * - `ExporterInstance.exportPlatforms(results: PlatformExportResult[], ctx) -> ExportResponse`
 *   (optional): what a multi-platform build (`--platform linux/amd64,linux/arm64`) calls
 *   instead of `export`, with each platform's result; {@linkcode exportImageIndex} writes an
 *   image index over them. img refuses a build for several platforms, before it starts, with an
 *   output whose instance lacks it.
 * - `Exporter.saveImages(request: SaveRequest, ctx: ExportContext) -> ExportResponse`
 *   (optional): what `img save --format NAME IMAGE...` calls instead, with images from the
 *   local store ({@linkcode StoredImage}: a manifest and the names to write) and the `-o`
 *   file as `dest` (undefined for standard output). The `docker` and `oci` exporters
 *   implement it; `img save` refuses an exporter without it, listing those that have it.
 *
 * {@linkcode ExportDestination} writes a file atomically (or to stdout for `dest=-`, refusing
 * a terminal). Whatever an exporter throws is shown to the user as one line naming it,
 * `img: exporter NAME: <message>`; throw {@linkcode ImgError} with a sentence that says what
 * to do.
 *
 * @example A whole exporter, `-o type=count,dest=count.txt`
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   API_VERSION,
 *   type ExportContext,
 *   ExportDestination,
 *   type Exporter,
 *   type ExporterPlugin,
 *   type ExportResult,
 *   ImgError,
 * } from "@img/core";
 *
 * // A plugin module's `export default`:
 * const plugin = {
 *   kind: "exporter",
 *   name: "count",
 *   version: "1.0.0",
 *   apiVersion: API_VERSION,
 *   description: "Writes how many entries the root directory has",
 *   create: () => ({
 *     resolve(attrs) {
 *       if (!attrs.dest) throw new ImgError("Missing dest=: give dest=FILE");
 *       const dest = ExportDestination.resolve(attrs.dest);
 *       return {
 *         async export(result) {
 *           let n = 0;
 *           for await (const _ of Deno.readDir(result.rootfs)) n++;
 *           await dest.write(async (out) => {
 *             const w = out.getWriter();
 *             await w.write(new TextEncoder().encode(`${n}\n`));
 *             await w.close();
 *           });
 *           return {};
 *         },
 *       };
 *     },
 *   }),
 * } satisfies ExporterPlugin;
 *
 * // What img does with it for `-o type=count,dest=...`:
 * const rootfs = await Deno.makeTempDir();
 * await Deno.mkdir(`${rootfs}/etc`);
 * const dest = `${await Deno.makeTempDir()}/count.txt`;
 * const exporter: Exporter = plugin.create();
 * const instance = await exporter.resolve({ dest });
 * const result: ExportResult = {
 *   config: { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
 *   rootfs,
 *   names: [],
 *   layers: () => Promise.resolve([]),
 * };
 * await instance.export(result, {} as ExportContext); // it uses nothing from the context
 * assert.equal(await Deno.readTextFile(dest), "1\n");
 * ```
 *
 * `examples/plugins/listing/` is a complete one (a JSON listing of every file with its
 * sha256). From a checkout, `@img/core` in a plugin resolves through img's own import map,
 * to the same module img uses; a plugin published on its own imports `jsr:@img/core@^0.1`.
 *
 * @module
 */
export { DigestMismatchError, ImgError, NotFoundError } from "./errors.ts";
export {
  type Digest,
  Digester,
  digestHex,
  digestStream,
  isDigest,
  parseDigest,
  sha256,
} from "./digest.ts";
export {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  type LayerCompression,
  layerCompression,
  MANIFEST_ACCEPT,
  MediaType,
} from "./media_types.ts";
export type {
  ContainerConfig,
  Descriptor,
  Healthcheck,
  History,
  ImageConfig,
  Index,
  Manifest,
  OciPlatform,
} from "./schemas.ts";
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarReference,
  formatReference,
  parseReference,
  type Reference,
  repositoryName,
  withDigest,
  withTag,
} from "./reference.ts";
export {
  configMatchesPlatform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  type Platform,
  platformMatches,
  platformPathName,
} from "./platform.ts";
export type { Credential, CredentialStore } from "./credentials.ts";
export {
  type BuildGraph,
  type DiffOp,
  type ExecMount,
  type ExecOp,
  type ExtraHost,
  type FileAction,
  type FileOp,
  GraphBuilder,
  type MergeOp,
  type Op,
  type SourceOp,
  type Ulimit,
  type Vertex,
} from "./build_graph.ts";
export type {
  BuildDefinition,
  BuildRequest,
  Frontend,
  FrontendClient,
  ResolveImageOptions,
} from "./frontend.ts";
export type { CacheLayer, SolvedStep, SolveOptions, Solver, SolveResult } from "./solver.ts";
export type {
  Mount,
  SnapshotDiffOptions,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  SnapshotUsage,
} from "./snapshotter.ts";
export type { Executor, ExecutorMount, ExecutorStdio, ProcessSpec } from "./executor.ts";
export type {
  ExportContext,
  Exporter,
  ExporterInstance,
  ExportResponse,
  ExportResult,
  LayerOptions,
  PlatformExportResult,
  ResultLayer,
  SaveRequest,
  StoredImage,
} from "./exporter.ts";
export {
  type AttributeParseResult,
  type AttributeSchema,
  type BooleanAttribute,
  booleanAttribute,
  type ExporterAttributeOptions,
  imageNamesAttribute,
  parseExporterAttributes,
} from "./export/attributes.ts";
export {
  ExportDestination,
  type ExportDestinationOptions,
  RESPONSE_STDOUT,
  type StandardOutput,
  STDOUT_DEST,
} from "./export/output.ts";
export { type ProgressEvent, type ProgressListener, ProgressWriter } from "./progress.ts";
export {
  API_VERSION,
  type CredentialsPlugin,
  type ExecutorPlugin,
  type ExporterPlugin,
  type FrontendPlugin,
  type Plugin,
  PLUGIN_KINDS,
  type PluginByKind,
  type PluginContext,
  type PluginKind,
  type PluginManifest,
  type SnapshotterPlugin,
  type SnapshotterSupport,
  SUPPORTED_API_VERSIONS,
} from "./plugin.ts";
export {
  defaultXattrFilter,
  type LayerDiffOptions,
  type LayerDiffResult,
  writeLayerDiff,
} from "./layer/diff.ts";
export { isWhiteout, writeOverlayDiff } from "./layer/overlay_diff.ts";
export { copyTree, type CopyTreeOptions } from "./fs/copy_tree.ts";
export { removeTree, treeUsage } from "./snapshot/tree.ts";
export { type BlobInfo, ContentStore, type IngestOptions } from "./content/store.ts";
export { findImage, type ImageRecord, ImageStore } from "./image/store.ts";
