/**
 * The build engine: wires a frontend, the solver, a snapshotter, an executor and exporters
 * into one build, as `img build` runs it.
 *
 * @module
 */
import { join } from "node:path";
import type { Digest } from "./digest.ts";
import type {
  ExportContext,
  ExporterInstance,
  ExportResponse,
  ExportResult,
  ResultLayer,
} from "./exporter.ts";
import { withMountedDir } from "./mounts.ts";
import { Lease } from "./gc/leases.ts";
import type { Executor } from "./executor.ts";
import type { Frontend, FrontendClient } from "./frontend.ts";
import { loadImage } from "./image/image.ts";
import { findImage } from "./image/store.ts";
import { type Platform, selectPlatformManifest } from "./platform.ts";
import type { ProgressWriter } from "./progress.ts";
import { formatReference, parseReference, repositoryName } from "./reference.ts";
import type { RegistryClient } from "./registry/client.ts";
import { platformChooser, pull, push } from "./registry/transfer.ts";
import { parseManifest } from "./image/image.ts";
import type { Descriptor, ImageConfig, Manifest } from "./schemas.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { SolvedStep } from "./solver.ts";
import type { State } from "./state/state_dir.ts";
import { GraphSolver } from "./solver/solver.ts";
import { snapshotChain, snapshotLayers } from "./solver/layers.ts";
import {
  type BuildCacheImports,
  type CacheExportSpec,
  type CacheImportSpec,
  exportBuildCache,
  importBuildCache,
  INLINE_CACHE_FIELD,
  inlineCache,
} from "./cache/mod.ts";
import type { Reference } from "./reference.ts";

/** What a build needs. */
export interface BuildDeps {
  /** The state directory. */
  state: State;
  /** The frontend (Dockerfile). */
  frontend: Frontend;
  /** Where results live. */
  snapshotter: Snapshotter;
  /** Runs RUN steps. */
  executor: Executor;
  /** The exports to make, in order. */
  exporters: ExporterInstance[];
  /** Talks to registries (base images, push). */
  registry: RegistryClient;
  /** Where progress goes. */
  progress: ProgressWriter;
  /** Whether files may be owned by other users (root of a user namespace). */
  sameOwner: boolean;
}

/** What to build. */
export interface BuildOptions {
  /** The build context directory. */
  contextDir: string;
  /** The directory of the Dockerfile (`-f`), and its text when it came from stdin. */
  dockerfileDir: string;
  /** The Dockerfile's text when it came from stdin (`-f -`). */
  dockerfileText?: Uint8Array;
  /** Frontend options: `filename`, `target`, `build-arg:NAME`, `label:NAME`, ... */
  frontendOptions: Record<string, string>;
  /** The platform to build for. */
  platform: Platform;
  /** Ignore the build cache. */
  noCache?: boolean;
  /** Re-resolve base images from their registry even when the image store has them. */
  pull?: boolean;
  /** Names the result is known by (`-t`). */
  names: string[];
  /** Aborts the build. */
  signal?: AbortSignal;
  /** Caches to import (`--cache-from`). */
  cacheFrom?: CacheImportSpec[];
  /** Caches to export (`--cache-to`), after the exporters. */
  cacheTo?: CacheExportSpec[];
}

/** What a build produced. */
export interface BuildResult {
  /** The image config. */
  config: ImageConfig;
  /** The exporters' responses. */
  responses: ExportResponse[];
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** Runs a build: frontend, solve, layers, exports. */
export async function runBuild(deps: BuildDeps, options: BuildOptions): Promise<BuildResult> {
  // Everything the build uses is leased, so a prune in another process leaves it alone.
  using lease = Lease.acquire(deps.state.db);
  return await build(deps, options, lease);
}

async function build(deps: BuildDeps, options: BuildOptions, lease: Lease): Promise<BuildResult> {
  const { state, progress } = deps;
  const filename = options.frontendOptions.filename ?? "Dockerfile";
  const time = () => Date.now();

  const resolveImage = async (
    input: string,
    platform: Platform,
  ): Promise<{ ref: string; digest: string; manifest: Manifest; config: ImageConfig }> => {
    const ref = parseReference(input);
    const name = formatReference(ref);
    const vertex = `resolve:${name}`;
    const vname = `[internal] load metadata for ${name}`;
    const local = !options.pull
      ? findImage(state.images, name, (s) => formatReference(parseReference(s)))
      : undefined;
    const started = time();
    progress.write({ type: "vertex.started", vertex, name: vname, time: started });
    try {
      let target: Descriptor;
      if (
        local &&
        (local.target.platform === undefined || selectPlatformManifest([local.target], platform))
      ) {
        target = local.target;
      } else {
        const result = await pull(deps.registry, ref, state.content, {
          choose: platformChooser(platform),
        });
        target = result.manifest;
        state.images.put(name, target);
      }
      const image = await loadImage(state.content, target, platform);
      progress.write({ type: "vertex.done", vertex, name: vname, time: time(), started });
      return {
        ref: `${repositoryName(ref)}${ref.tag ? `:${ref.tag}` : ""}@${image.descriptor.digest}`,
        digest: image.descriptor.digest,
        manifest: image.manifest,
        config: image.config,
      };
    } catch (e) {
      progress.write({
        type: "vertex.errored",
        vertex,
        name: vname,
        time: time(),
        error: e instanceof Error ? e.message : String(e),
      });
      throw e;
    }
  };

  // Each base image is resolved once per build, however many stages use it.
  const resolved = new Map<string, ReturnType<typeof resolveImage>>();
  const resolveOnce = (ref: string, platform: Platform) => {
    const key = `${ref}|${platform.os}/${platform.architecture}/${platform.variant ?? ""}`;
    let p = resolved.get(key);
    if (!p) {
      p = resolveImage(ref, platform);
      resolved.set(key, p);
    }
    return p;
  };

  const client: FrontendClient = {
    readFile: (input, path) => {
      if (input === "dockerfile") {
        if (options.dockerfileText && path === filename) {
          return Promise.resolve(options.dockerfileText);
        }
        return readOptional(join(options.dockerfileDir, path));
      }
      if (input === "context") return readOptional(join(options.contextDir, path));
      return Promise.resolve(undefined);
    },
    resolveImageConfig: async (ref, platform) => {
      const r = await resolveOnce(ref, platform);
      return { ref: r.ref, digest: r.digest, config: r.config };
    },
    warn: (message) => progress.write({ type: "warning", message, time: time() }),
  };

  const definition = await deps.frontend.solve(
    {
      options: { ...options.frontendOptions, ...(options.noCache ? { "no-cache": "" } : {}) },
      platforms: [options.platform],
    },
    client,
  );
  // --cache-from: a source that cannot be read is a warning.
  let imports: BuildCacheImports | undefined;
  if (options.cacheFrom?.length && !options.noCache) {
    imports = await importBuildCache(options.cacheFrom, {
      content: state.content,
      registry: deps.registry,
      progress,
    });
  }
  const solver = new GraphSolver({
    imports,
    lease,
    snapshotter: deps.snapshotter,
    executor: deps.executor,
    db: state.db,
    content: state.content,
    locals: { context: options.contextDir },
    cacheMountsDir: join(state.dir, "cache-mounts", deps.snapshotter.name),
    sameOwner: deps.sameOwner,
    fetchImage: async (ref) => {
      const at = ref.lastIndexOf("@");
      const digest = ref.slice(at + 1) as Digest;
      if (!(await state.content.has(digest))) {
        await pull(deps.registry, parseReference(ref), state.content, {
          choose: platformChooser(options.platform),
        });
      }
      return parseManifest(await state.content.read(digest), `Manifest ${digest}`);
    },
  });
  const solved = await solver.solve(definition.graph, {
    noCache: options.noCache,
    progress,
    signal: options.signal,
  });

  const layerDeps = { snapshotter: deps.snapshotter, cache: solver.cache, content: state.content };
  const made = new Map<string, Promise<ResultLayer[]>>();
  const pushed: Reference[] = [];
  const ctx: ExportContext = {
    content: state.content,
    progress,
    stateDir: state.dir,
    images: state.images,
    push: async (name, descriptor) => {
      await push(deps.registry, parseReference(name), descriptor, state.content);
      pushed.push(parseReference(name));
    },
  };
  // --cache-to type=inline: the final stage's cache records go into the image's config.
  let steps: Promise<SolvedStep[]> | undefined;
  const solvedSteps = () => steps ??= solved.steps?.() ?? Promise.resolve([]);
  const config: ImageConfig = options.cacheTo?.some((s) => s.type === "inline")
    ? {
      ...definition.config,
      [INLINE_CACHE_FIELD]: await inlineCache(
        await solvedSteps(),
        async (snapshot) => (await snapshotChain(deps.snapshotter, snapshot)).length,
      ),
    } as ImageConfig
    : definition.config;
  const responses: ExportResponse[] = [];
  // The final root filesystem stays visible (a read-only view) while the exporters run.
  const view = `export-${crypto.randomUUID()}`;
  const mounts = await deps.snapshotter.view(view, solved.snapshot);
  try {
    await withMountedDir(mounts, async (rootfs) => {
      const result: ExportResult = {
        config,
        names: options.names,
        rootfs,
        ...(definition.sourceDateEpoch !== undefined
          ? { sourceDateEpoch: definition.sourceDateEpoch }
          : {}),
        layers: (layerOptions = {}) => {
          const o = layerOptions;
          const key = JSON.stringify([
            o.compression ?? "gzip",
            o.level,
            o.sourceDateEpoch,
            o.forceCompression === true,
          ]);
          let p = made.get(key);
          if (!p) {
            p = snapshotLayers(layerDeps, solved.snapshot, layerOptions);
            made.set(key, p);
          }
          return p;
        },
      };
      for (const exporter of deps.exporters) responses.push(await exporter.export(result, ctx));
    });
  } finally {
    await deps.snapshotter.remove(view).catch(() => {});
  }
  // --cache-to: after the image push, so the cache's layers are already in the registry.
  if (options.cacheTo?.length) {
    await exportBuildCache(options.cacheTo, await solvedSteps(), {
      content: state.content,
      registry: deps.registry,
      progress,
      imports,
      pushed,
      // The layers made for the image are recorded, so the same blobs come back here.
      layersOf: (snapshot, compression) => snapshotLayers(layerDeps, snapshot, { compression }),
    });
  }
  return { config: definition.config, responses };
}
