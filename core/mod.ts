/**
 * `@img/core`: the interfaces at img's seams (frontend, solver, snapshotter, executor,
 * exporter, credential store), the plugin loader, and the shared machinery every plugin may
 * use: content store, image store, references, platforms, media types and their schemas.
 *
 * Plugins import only this module. A plugin is a module whose default export is an object
 * `{ kind, name, version, apiVersion, create(ctx) }`:
 *
 * ```ts
 * import { API_VERSION, type ExporterPlugin } from "@img/core";
 *
 * const plugin: ExporterPlugin = {
 *   kind: "exporter",
 *   name: "listing",
 *   version: "1.0.0",
 *   apiVersion: API_VERSION,
 *   create: () => ({ resolve: (attrs) => ({ export: async (result) => ({}) }) }),
 * };
 * export default plugin;
 * ```
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
export * as libc from "./libc.ts";
export * from "./mounts.ts";
export * from "./fs/copy_tree.ts";
export * from "./snapshot/mod.ts";
export * from "./user.ts";
export * from "./root_path.ts";
export * from "./solver/mod.ts";
export * from "./build.ts";
export * from "./gc/mod.ts";
