/**
 * The solver seam: executes a build graph, caching every vertex by content.
 *
 * @module
 */
import type { BuildGraph } from "./build_graph.ts";
import type { Digest } from "./digest.ts";
import type { ProgressWriter } from "./progress.ts";

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
}

/** Executes build graphs. */
export interface Solver {
  /** Solves `graph` and returns its result. */
  solve(graph: BuildGraph, options: SolveOptions): Promise<SolveResult>;
}
