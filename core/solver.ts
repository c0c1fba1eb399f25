/**
 * The solver seam: executes a build graph, caching every vertex by content.
 *
 * @module
 */
import type { BuildGraph } from "./build_graph.ts";
import type { Digest } from "./digest.ts";
import type { ProgressWriter } from "./progress.ts";
import type { Descriptor } from "./schemas.ts";

/** Options for one solve. */
export interface SolveOptions {
  /** Ignore cached results. */
  noCache?: boolean;
  /** Where progress goes. */
  progress: ProgressWriter;
  /** Aborts the solve. */
  signal?: AbortSignal;
}

/** The result of a solve: the snapshot holding the root vertex's output. */
export interface SolveResult {
  /** The key of the committed snapshot with the result's file tree. */
  snapshot: string;
  /** The cache key of the root vertex. */
  cacheKey: Digest;
  /**
   * Every step (non-source vertex) of the graph with a result, for cache export: computed
   * when asked, as it checksums what a cached build skipped.
   */
  steps?: () => Promise<SolvedStep[]>;
}

/** A layer of an imported cache record: the blob and the digest of its tar. */
export interface CacheLayer {
  /** The layer blob. */
  descriptor: Descriptor;
  /** The digest of the uncompressed tar. */
  diffID: string;
}

/** A cache record imported with `--cache-from`: a step's result as a chain of layer blobs. */
export interface ImportedCacheRecord {
  /** The step's cache key. */
  key: string;
  /** What made it (`RUN make`). */
  description: string;
  /** The result's layers, base first. */
  layers: CacheLayer[];
}

/** The cache records imported for one build (`--cache-from`). */
export interface CacheImports {
  /** The record for `key`, if a source has one. */
  lookup(key: string): ImportedCacheRecord | undefined;
  /** Brings the blobs of `layers` into the content store (from the source that had them). */
  fetchLayers(layers: CacheLayer[]): Promise<void>;
}

/** A step of a solved build: its cache key and where its result is. */
export interface SolvedStep {
  /** The cache key. */
  key: Digest;
  /** The step's name (`[build 2/4] RUN make`). */
  description: string;
  /** Whether the step is in the final stage (the exported image's chain). */
  final: boolean;
  /** The committed snapshot with the result, when it exists locally. */
  snapshot?: string;
  /** The result's layers, when it was imported and never needed locally. */
  layers?: CacheLayer[];
}

/**
 * Executes build graphs.
 *
 * @example The solver seam, as a plugin sees it
 * A solver is handed the whole {@linkcode BuildGraph} and returns the committed snapshot
 * holding the root vertex's files. Plugins do not implement it; they meet it through the
 * graph they build. Here a stand-in solver reports each vertex on the progress writer,
 * as img's solver does while it runs them.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { GraphBuilder, type ProgressEvent, ProgressWriter, type Solver } from "@img/core";
 *
 * const solver: Solver = {
 *   solve(graph, { progress }) {
 *     for (const vertex of graph.vertices.values()) {
 *       progress.write({ type: "vertex.cached", vertex: vertex.digest, name: vertex.name, time: Date.now() });
 *     }
 *     return Promise.resolve({ snapshot: `result-${graph.root}`, cacheKey: graph.root });
 *   },
 * };
 *
 * const graph = new GraphBuilder();
 * const root = graph.add({ type: "source", identifier: "docker-image://docker.io/library/busybox:latest" }, [], "FROM busybox");
 * const progress = new ProgressWriter();
 * const events: ProgressEvent[] = [];
 * progress.listen((event) => events.push(event));
 * const result = await solver.solve(graph.build(root), { progress });
 * assert.equal(result.cacheKey, root);
 * assert.deepEqual(events.map((e) => e.type), ["vertex.cached"]);
 * ```
 */
export interface Solver {
  /** Solves `graph` and returns its result. */
  solve(graph: BuildGraph, options: SolveOptions): Promise<SolveResult>;
}
