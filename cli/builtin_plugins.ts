/**
 * The table of built-in plugins, keyed `kind/name`. Static `import()`s keep them in bundles
 * and compiled binaries; the CLI hands this table to the core's plugin loader.
 *
 * @module
 */
import type { BuiltinPlugins } from "@img/core";

/** Every plugin that ships with img. */
export const BUILTIN_PLUGINS: BuiltinPlugins = {
  "credentials/docker": () => import("@img/credentials-docker"),
};
