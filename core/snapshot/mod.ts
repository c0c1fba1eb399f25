/**
 * Building blocks for snapshotters: the shared SQLite metadata with its crash-safety rules,
 * tree helpers, and the choice of a backend for `--backend auto`.
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
