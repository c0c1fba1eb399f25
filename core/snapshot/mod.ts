/**
 * Building blocks for snapshotters: the shared SQLite metadata with its crash-safety rules,
 * tree helpers, and the choice of a backend for `--backend auto`.
 *
 * Imported as `@img/core/snapshot`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  SnapshotExistsError,
  snapshotInfo,
  SnapshotMetadata,
  type SnapshotRecord,
} from "./metadata.ts";
export { removeTree, removeTreeSync, treeUsage } from "./tree.ts";
export {
  escapeOverlayPath,
  type OverlayDirs,
  type OverlayLayoutOptions,
  OverlayLayoutSnapshotter,
} from "./overlay_layout.ts";
export { type BackendChoice, chooseSnapshotter } from "./select.ts";
