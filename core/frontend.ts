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

/** How {@linkcode FrontendClient.resolveImageConfig} resolves a reference (BuildKit's resolver options). */
export interface ResolveImageOptions {
  /**
   * `default`: the local image store, else the registry (as `FROM`); `pull`: always the
   * registry (a `docker-image://` named context, as BuildKit's container driver resolves it).
   */
  resolveMode?: "default" | "pull";
  /**
   * The OCI layout store (a `--build-context NAME=oci-layout://DIR`, by the store ID the
   * frontend option names) to read the image from instead of a registry; `ref` then is
   * `NAME@DIGEST`.
   */
  ociStore?: string;
}

/** What a frontend may ask of the engine while it solves. */
export interface FrontendClient {
  /** Reads a file from a named input (`context`, `dockerfile`), or `undefined` if missing. */
  readFile(input: string, path: string): Promise<Uint8Array | undefined>;
  /**
   * Resolves an image reference to its digest and config for `platform`. The result's `ref`
   * (`NAME:TAG@DIGEST`) is what a `docker-image://` source names; with `options.ociStore`, an
   * `oci-layout://` source (with its `oci.store` attribute).
   */
  resolveImageConfig(
    ref: string,
    platform: Platform,
    options?: ResolveImageOptions,
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

/**
 * A frontend: parses its input and emits a build graph.
 *
 * @example A frontend for a tiny build file
 * A frontend whose build file (`Imgfile`) names a base image and files to write into it:
 * it reads its input through the {@linkcode FrontendClient} and emits the graph with
 * `GraphBuilder`, as the Dockerfile frontend does. img calls `solve` once per build.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Frontend, GraphBuilder, hostPlatform, ImgError } from "@img/core";
 *
 * const frontend: Frontend = {
 *   async solve(request, client) {
 *     const bytes = await client.readFile("dockerfile", request.options.filename ?? "Imgfile");
 *     if (!bytes) throw new ImgError("No Imgfile: create one whose first line is the base image");
 *     const [base, ...files] = new TextDecoder().decode(bytes).trim().split("\n");
 *     const platform = request.platforms[0];
 *     const image = await client.resolveImageConfig(base, platform);
 *     const graph = new GraphBuilder();
 *     let root = graph.add({ type: "source", identifier: `docker-image://${image.ref}` }, [], `FROM ${base}`, {
 *       platform,
 *     });
 *     for (const path of files) {
 *       root = graph.add({
 *         type: "file",
 *         actions: [{ action: "mkfile", path, mode: 0o644, data: `${path}\n` }],
 *       }, [root], `WRITE ${path}`, { platform });
 *     }
 *     return { graph: graph.build(root), config: image.config };
 *   },
 * };
 *
 * // img's engine is the client; here a stand-in serves the Imgfile and the base image's config.
 * const platform = hostPlatform();
 * const definition = await frontend.solve({ options: {}, platforms: [platform] }, {
 *   readFile: () => Promise.resolve(new TextEncoder().encode("busybox\n/hello.txt\n")),
 *   resolveImageConfig: (ref) =>
 *     Promise.resolve({
 *       ref: `docker.io/library/${ref}:latest`,
 *       digest: "sha256:" + "0".repeat(64),
 *       config: { ...platform, rootfs: { type: "layers", diff_ids: [] } },
 *     }),
 *   warn: () => {},
 * });
 * assert.equal(definition.graph.vertices.size, 2);
 * assert.equal(definition.graph.vertices.get(definition.graph.root)?.name, "WRITE /hello.txt");
 * ```
 */
export interface Frontend {
  /** Solves a build request into a build definition. */
  solve(request: BuildRequest, client: FrontendClient): Promise<BuildDefinition>;
}
