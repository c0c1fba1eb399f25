/**
 * The frontend seam: turns a build request (a Dockerfile, say) into a build graph.
 *
 * @module
 */
import type { BuildGraph } from "./build_graph.ts";
import type { Platform } from "./platform.ts";
import type { ImageConfig } from "./schemas.ts";

/** What the user asked to build. */
export interface BuildRequest {
  /** Frontend options: `filename`, `target`, `build-arg:NAME`, `label:NAME`, ... */
  options: Record<string, string>;
  /** The platforms to build for. */
  platforms: Platform[];
}

/** What a frontend may ask of the engine while it solves. */
export interface FrontendClient {
  /** Reads a file from a named input (`context`, `dockerfile`), or `undefined` if missing. */
  readFile(input: string, path: string): Promise<Uint8Array | undefined>;
  /** Resolves an image reference to its digest and config for `platform`. */
  resolveImageConfig(
    ref: string,
    platform: Platform,
  ): Promise<{ ref: string; digest: string; config: ImageConfig }>;
  /** Writes a warning to the build's progress output. */
  warn(message: string): void;
}

/** What a frontend returns: the graph and the image config to export with its result. */
export interface BuildDefinition {
  /** The build graph. */
  graph: BuildGraph;
  /** The image config of the result. */
  config: ImageConfig;
  /** The `SOURCE_DATE_EPOCH` (seconds) the build used for its `created` times, if any. */
  sourceDateEpoch?: number;
}

/** A frontend: parses its input and emits a build graph. */
export interface Frontend {
  /** Solves a build request into a build definition. */
  solve(request: BuildRequest, client: FrontendClient): Promise<BuildDefinition>;
}
