/**
 * `@img/core`: the interfaces at img's seams (frontend, solver, snapshotter, executor,
 * exporter, credential store), the plugin loader, and the shared machinery every plugin may
 * use: content store, image store, references, platforms, media types and their schemas.
 *
 * ## Plugins
 *
 * Plugins import only this module. A plugin is a module whose default export is an object
 * `{ kind, name, version, apiVersion, description?, create(ctx) }` ({@linkcode Plugin}),
 * validated when it is loaded. `apiVersion` is the plugin API the plugin was written against:
 * use {@linkcode API_VERSION}; img refuses a plugin whose `apiVersion` is not in
 * {@linkcode SUPPORTED_API_VERSIONS}, with a message naming both versions. External plugins
 * are loaded with `img --plugin ./path/mod.ts` (a path, `file:`, `https:`, `npm:` or `jsr:`
 * specifier), the `IMG_PLUGINS` variable (comma-separated) or `"plugins": [...]` in
 * `$XDG_CONFIG_HOME/img/config.json`; `img version` lists every plugin with its version and
 * where it came from. An external plugin shadows a built-in one of the same name.
 *
 * ## Exporters (plugin API 1)
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
 *
 * Helpers an exporter may use: {@linkcode ExportDestination} writes a file atomically (or to
 * stdout for `dest=-`, refusing a terminal), {@linkcode writeImage} stores the config and
 * manifest of the result, {@linkcode parseImageOutputAttributes} and {@linkcode exportImage}
 * give an exporter the image attributes of the built-in ones (`compression`,
 * `oci-mediatypes`, `rewrite-timestamp`, `annotation.*`, ...), {@linkcode writeOciArchive}, {@linkcode writeOciLayout} and
 * {@linkcode writeDockerArchive} write archives, {@linkcode writeLayerDiff} writes a tree as
 * a tar, {@linkcode copyTree} copies one. Whatever an exporter throws is shown to the user as
 * one line naming it, `img: exporter NAME: <message>` (see {@linkcode guardExporter}); throw
 * {@linkcode ImgError} with a sentence that says what to do.
 *
 * A whole exporter, `-o type=count,dest=count.txt`:
 *
 * ```ts
 * import { API_VERSION, ExportDestination, type ExporterPlugin, ImgError } from "@img/core";
 *
 * export default {
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
 * ```
 *
 * `examples/plugins/listing/` is a complete one (a JSON listing of every file with its
 * sha256). From a checkout, `@img/core` in a plugin resolves through img's own import map,
 * to the same module img uses; a plugin published on its own imports `jsr:@img/core@^0.1`.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./digest.ts";
export * from "./media_types.ts";
export * from "./schemas.ts";
export * from "./reference.ts";
export * from "./platform.ts";
export * from "./credentials.ts";
export * from "./build_graph.ts";
export * from "./frontend.ts";
export * from "./solver.ts";
export * from "./snapshotter.ts";
export * from "./executor.ts";
export * from "./exporter.ts";
export * from "./export/mod.ts";
export * from "./progress.ts";
export * from "./plugin.ts";
export * from "./plugin_loader.ts";
export * from "./content/store.ts";
export * from "./image/store.ts";
export * from "./image/image.ts";
export * from "./image/build_image.ts";
export * from "./state/db.ts";
export * from "./state/state_dir.ts";
export * from "./registry/mod.ts";
export * from "./archive/mod.ts";
export * from "./layer/mod.ts";
export * from "./rootless/mod.ts";
export * from "./host/mod.ts";
export * as libc from "./libc.ts";
export * from "./mounts.ts";
export * from "./fs/copy_tree.ts";
export * from "./snapshot/mod.ts";
export * from "./user.ts";
export * from "./root_path.ts";
export * from "./solver/mod.ts";
export * from "./build.ts";
export * from "./gc/mod.ts";
