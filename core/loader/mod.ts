/**
 * Loading plugins, for img's composition root (`@img/core/loader`): the table of built-in
 * plugins, external plugins given by specifier, and the schemas a plugin's default export
 * is validated with.
 *
 * Internal to img's own packages; it may change in any release.
 *
 * ```ts ignore
 * import { PluginLoader } from "@img/core/loader";
 *
 * const loader = new PluginLoader(builtins);
 * ```
 *
 * @module
 */
export * from "../plugin_loader.ts";
export { pluginEntrySchemas, pluginManifestSchema } from "../plugin.ts";
