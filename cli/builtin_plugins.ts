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
  "executor/chroot": () => import("@img/executor-chroot"),
  "executor/oci": () => import("@img/executor-oci"),
  "exporter/docker": () => import("@img/export-docker"),
  "exporter/image": () => import("@img/export-image"),
  "exporter/local": () => import("@img/export-local"),
  "exporter/oci": () => import("@img/export-oci"),
  "exporter/tar": () => import("@img/export-tar"),
  "frontend/dockerfile": () => import("@img/frontend-dockerfile"),
  "snapshotter/fuse-overlayfs": () => import("@img/snapshot-fuse"),
  "snapshotter/native": () => import("@img/snapshot-native"),
  "snapshotter/overlayfs": () => import("@img/snapshot-overlayfs"),
};
