/**
 * The solver and the build engine (`@img/core/solver`): schedules a build graph, caches
 * every vertex by content, turns result snapshots into layers, and runs a whole build
 * ({@linkcode runBuild}: frontend, solver, snapshotter, executor, exporters).
 *
 * Internal to img's own packages; plugins see the solver through the `Solver` seam of
 * `@img/core`. It may change in any release.
 *
 * @module
 */
export { GraphSolver, type LazySolveResult, type SolverDeps } from "./solver.ts";
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
export { unpackContextArchive } from "./context_archive.ts";
export {
  HTTP_CHECKSUM_ATTR,
  HTTP_FILENAME_ATTR,
  HTTP_RECORDS_DIR,
  type HttpResource,
  HttpSources,
  type HttpSourcesOptions,
  isHttpURL,
  lastModifiedTime,
  urlFilename,
} from "./http_source.ts";
export { type ChecksumOptions, checksumPath, checksumSources } from "./checksum.ts";
export { clearContextHashes, ContextHashCache, type FileStamp } from "./hash_cache.ts";
export { type BuildDeps, type BuildOptions, type BuildResult, runBuild } from "../build.ts";
export { canonicalJSON, vertexDigest } from "../build_graph.ts";
export { MAX_SECRET_SIZE, parseSecretSpec, type SecretSource, SecretStore } from "./secrets.ts";
export { type AgentRelay, parseSshSpec, relayAgent, SshAgents, type SshSource } from "./ssh.ts";
export { acquireCacheMount, type CacheMountHandle, type CacheMountOptions } from "./cache_mount.ts";
export { type ModeChange, parseChmod } from "./_chmod.ts";
export { splitCSVRecord } from "./_csv.ts";
