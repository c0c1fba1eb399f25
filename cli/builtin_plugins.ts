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
  "executor/oci": () => import("@img/executor-oci"),
  "exporter/image": () => import("@img/export-image"),
  "frontend/dockerfile": () => import("@img/frontend-dockerfile"),
  "snapshotter/native": () => import("@img/snapshot-native"),
};
