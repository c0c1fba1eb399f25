/**
 * The solver: schedules a build graph, caches every vertex by content, and turns result
 * snapshots into layers.
 *
 * @module
 */
export { GraphSolver, type SolverDeps } from "./solver.ts";
export { BuildCache, type CacheRecord, type LayerRecord } from "./cache.ts";
export { snapshotChain, snapshotLayers, type SnapshotLayersOptions } from "./layers.ts";
export {
  chainIDs,
  layerSnapshotName,
  type UnpackDeps,
  unpackImage,
  unpackLayers,
} from "./image_source.ts";
export { applyFileActions } from "./file_actions.ts";
export { checksumPath, checksumSources } from "./checksum.ts";
