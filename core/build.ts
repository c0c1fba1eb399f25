/**
 * The build engine: wires a frontend, the solver, a snapshotter, an executor and exporters
 * into one build, as `img build` runs it.
 *
 * @module
 */
import { join } from "node:path";
import type { Digest } from "./digest.ts";
import { checkEmulation, runsNatively } from "./binfmt.ts";
import { ImgError } from "./errors.ts";
import type {
  ExportContext,
  ExporterInstance,
  ExportResponse,
  ExportResult,
  LayerOptions,
  PlatformExportResult,
  ResultLayer,
} from "./exporter.ts";
import { withMountedDir } from "./mounts.ts";
import { Lease } from "./gc/leases.ts";
import type { Executor } from "./executor.ts";
import type { BuildDefinition, Frontend, FrontendClient, ResolveImageOptions } from "./frontend.ts";
import type { LoadedImage } from "./image/image.ts";
import { RemoteBlobs } from "./image/remote_blobs.ts";
import { resolveBaseImage } from "./image/base_image.ts";
import { formatPlatform, type Platform, platformMatches } from "./platform.ts";
import type { ProgressWriter } from "./progress.ts";
import { formatReference, parseReference, repositoryName } from "./reference.ts";
import type { RegistryClient } from "./registry/client.ts";
import { platformChooser, pull, push } from "./registry/transfer.ts";
import { parseManifest } from "./image/image.ts";
import { layerCompression } from "./media_types.ts";
import type { ImageConfig, Manifest } from "./schemas.ts";
import { importOciLayoutImage } from "./archive/oci_layout.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { SolvedStep } from "./solver.ts";
import type { State } from "./state/state_dir.ts";
import { GraphSolver, type LazySolveResult } from "./solver/solver.ts";
import { snapshotChain, snapshotLayers } from "./solver/layers.ts";
import type { SecretStore } from "./solver/secrets.ts";
import type { SshAgents } from "./solver/ssh.ts";
import { HTTP_RECORDS_DIR } from "./solver/http_source.ts";
import {
  type BuildCacheImports,
  type CacheExportSpec,
  type CacheImportSpec,
  exportBuildCache,
  importBuildCache,
  INLINE_CACHE_FIELD,
  inlineCache,
} from "./cache/mod.ts";
import { span } from "./trace.ts";
import type { Attestation, AttestationRequest } from "./attest/attestation.ts";
import { provenanceAttestation, type ProvenanceMaterial } from "./attest/provenance.ts";
import { sbomAttestation } from "./attest/sbom.ts";
import type { Reference } from "./reference.ts";
import {
  executorWithoutNamespace,
  snapshotterWithoutNamespace,
} from "./rootless/without_namespace.ts";

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
  /**
   * Build without the user namespace (`core/rootless/without_namespace.ts`): only a build
   * whose every step is cached completes; any other throws `NamespaceNeeded` before it
   * changes anything but content-addressed data, and is then run again inside it.
   */
  withoutNamespace?: boolean;
}

/** What to build. */
export interface BuildOptions {
  /** The build context directory. */
  contextDir: string;
  /**
   * Named local directories besides the context (`--build-context NAME=DIR`), by the local
   * name the frontend option `context:NAME` (`local:LOCAL`) gives them.
   */
  locals?: Record<string, string>;
  /**
   * OCI layout directories (`--build-context NAME=oci-layout://DIR`), by the store ID the
   * frontend option `context:NAME` (`oci-layout://STORE:TAG@DIGEST`) names.
   */
  ociStores?: Record<string, string>;
  /** The directory of the Dockerfile (`-f`), and its text when it came from stdin. */
  dockerfileDir: string;
  /** The Dockerfile's text when it came from stdin (`-f -`). */
  dockerfileText?: Uint8Array;
  /** Frontend options: `filename`, `target`, `build-arg:NAME`, `label:NAME`, ... */
  frontendOptions: Record<string, string>;
  /** The platform to build for (when `platforms` is not given). */
  platform: Platform;
  /**
   * The platforms to build for (`--platform linux/amd64,linux/arm64`): one solve each,
   * sharing what does not depend on the platform; with more than one, the exporters get
   * every platform's result at once (an image index). Duplicates are dropped.
   */
  platforms?: Platform[];
  /** Ignore the build cache. */
  noCache?: boolean;
  /** Re-resolve base images from their registry even when the image store has them. */
  pull?: boolean;
  /** Names the result is known by (`-t`). */
  names: string[];
  /** Aborts the build. */
  signal?: AbortSignal;
  /** The secrets steps may mount (`--secret`). */
  secrets?: SecretStore;
  /** The SSH agents steps may mount (`--ssh`); those it started are stopped after the solve. */
  ssh?: SshAgents;
  /**
   * Only run the frontend (`img build --check`): its warnings and errors are reported, nothing
   * is solved or exported, and the result has no responses.
   */
  evaluateOnly?: boolean;
  /** Caches to import (`--cache-from`). */
  cacheFrom?: CacheImportSpec[];
  /** Caches to export (`--cache-to`), after the exporters. */
  cacheTo?: CacheExportSpec[];
  /**
   * Attestations to make (`--provenance`, `--sbom`): each platform's result carries them to the
   * exporters, which attach them beside the image (none when not asked, as img's default).
   */
  attest?: AttestationRequest;
}

/** What a build produced. */
export interface BuildResult {
  /** The image config (of the first platform). */
  config: ImageConfig;
  /** The image config of each platform, in order. */
  configs: ImageConfig[];
  /** The exporters' responses. */
  responses: ExportResponse[];
  /** The identifiers of the build's sources (`docker-image://...`, `local://context`, ...). */
  sources: string[];
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
  using _build = span("build (runBuild)");
  // Everything the build uses is leased, so a prune in another process leaves it alone.
  using lease = Lease.acquire(deps.state.db);
  return await build(deps, options, lease);
}

async function build(deps: BuildDeps, options: BuildOptions, lease: Lease): Promise<BuildResult> {
  if (deps.withoutNamespace) {
    deps = {
      ...deps,
      snapshotter: snapshotterWithoutNamespace(deps.snapshotter),
      executor: executorWithoutNamespace(),
    };
  }
  const { state, progress } = deps;
  const filename = options.frontendOptions.filename ?? "Dockerfile";
  const time = () => Date.now();
  const startedOn = new Date();
  const invocationId = crypto.randomUUID();
  // Layers the build reads about but may never need: base images until a step unpacks them,
  // imported cache records until a step or an exporter needs their files.
  const remote = new RemoteBlobs(state, () => Promise.resolve(deps.registry));

  const resolveImage = async (
    input: string,
    platform: Platform,
    resolveOptions: ResolveImageOptions = {},
  ): Promise<{ ref: string; digest: string; manifest: Manifest; config: ImageConfig }> => {
    const ref = parseReference(input);
    const name = formatReference(ref);
    const vertex = `resolve:${name}`;
    const store = resolveOptions.ociStore;
    const vname = `[internal] load metadata for ${name}${store ? " (OCI layout)" : ""}`;
    const started = time();
    progress.write({ type: "vertex.started", vertex, name: vname, time: started });
    try {
      let image: LoadedImage;
      if (store) {
        const dir = options.ociStores?.[store];
        if (dir === undefined) throw new ImgError(`The build has no OCI layout store "${store}"`);
        if (!ref.digest) throw new ImgError(`An OCI layout image needs a digest: ${input}`);
        image = await importOciLayoutImage(dir, ref.digest, platform, state.content);
      } else {
        // The config is all the frontend needs: the layers stay remote blobs until a step
        // unpacks the image (fetchImage below). A docker-image:// named context comes from its
        // registry, as BuildKit's container driver resolves it, and leaves the store alone.
        const named = resolveOptions.resolveMode === "pull";
        image = await resolveBaseImage(
          { state, registry: deps.registry, remote },
          input,
          platform,
          {
            pull: options.pull || named,
            keepName: !named,
          },
        );
      }
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
  // The base images by platform, for the provenance's materials.
  const bases: { input: string; platform: Platform; image: ReturnType<typeof resolveImage> }[] = [];
  const resolveOnce = (ref: string, platform: Platform, o: ResolveImageOptions = {}) => {
    const key = `${ref}|${platform.os}/${platform.architecture}/${platform.variant ?? ""}|${
      o.resolveMode ?? ""
    }|${o.ociStore ?? ""}`;
    let p = resolved.get(key);
    if (!p) {
      p = resolveImage(ref, platform, o);
      resolved.set(key, p);
      bases.push({ input: ref, platform, image: p });
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
      const local = options.locals?.[input];
      if (local !== undefined) return readOptional(join(local, path));
      return Promise.resolve(undefined);
    },
    resolveImageConfig: async (ref, platform, o) => {
      const r = await resolveOnce(ref, platform, o);
      return { ref: r.ref, digest: r.digest, config: r.config };
    },
    warn: (message) => {
      // Each platform's solve reads the same Dockerfile: warn once.
      if (warned.has(message)) return;
      warned.add(message);
      progress.write({ type: "warning", message, time: time() });
    },
  };
  const warned = new Set<string>();

  const platforms = uniquePlatforms(
    options.platforms?.length ? options.platforms : [
      options.platform,
    ],
  );
  const multi = platforms.length > 1;
  if (multi && deps.exporters.some((e) => typeof e.exportPlatforms !== "function")) {
    throw new ImgError(
      `An --output cannot hold ${platforms.length} platforms: use type=oci or type=image for an image index, or one --platform`,
    );
  }
  if (multi && options.cacheTo?.some((s) => s.type === "inline")) {
    throw new ImgError(
      `--cache-to type=inline cannot hold the cache of ${platforms.length} platforms: use type=registry or type=local, or one --platform`,
    );
  }
  const frontendSpan = span("frontend (Dockerfile to graph, base resolve)");
  const definitions: BuildDefinition[] = await Promise.all(
    platforms.map((platform) =>
      deps.frontend.solve(
        {
          options: {
            ...options.frontendOptions,
            ...(options.noCache ? { "no-cache": "" } : {}),
            // As BuildKit's frontend option: step names then say which platform they are for.
            ...(multi ? { "multi-platform": "true" } : {}),
          },
          platforms: [platform],
        },
        client,
      )
    ),
  );
  frontendSpan.end();
  const sources = [
    ...new Set(
      definitions.flatMap((d) =>
        [...d.graph.vertices.values()].flatMap((v) =>
          v.op.type === "source" ? [v.op.identifier] : []
        )
      ),
    ),
  ];
  if (options.evaluateOnly) {
    const configs = definitions.map((d) => d.config);
    return { config: configs[0], configs, responses: [], sources };
  }
  // Foreign RUN steps need a qemu-user handler: say so before anything runs.
  const foreign = new Map<string, Platform>();
  for (const d of definitions) {
    for (const v of d.graph.vertices.values()) {
      if (v.op.type === "exec" && v.platform && !runsNatively(v.platform)) {
        foreign.set(formatPlatform(v.platform), v.platform);
      }
    }
  }
  for (const p of foreign.values()) await checkEmulation(p);
  // --cache-from: a source that cannot be read is a warning. Records earlier builds imported
  // into this state are found too.
  let imports: BuildCacheImports | undefined;
  if (!options.noCache) {
    imports = await importBuildCache(options.cacheFrom ?? [], {
      content: state.content,
      registry: deps.registry,
      progress,
      db: state.db,
      remote,
    });
  }
  // Base image layers download in the background into the content store while the solver
  // goes on; the unpack applies each as it arrives (`ContentStore.follow`), overlapping the
  // download with decompression and file writes.
  const layerDownloads = new Map<string, Promise<void>>();
  const downloads: Promise<void>[] = [];
  const solver = new GraphSolver({
    imports,
    lease,
    snapshotter: deps.snapshotter,
    executor: deps.executor,
    db: state.db,
    content: state.content,
    locals: { ...options.locals, context: options.contextDir },
    cacheMountsDir: join(state.dir, "cache-mounts", deps.snapshotter.name),
    httpRecordsDir: join(state.dir, HTTP_RECORDS_DIR),
    sameOwner: deps.sameOwner,
    secrets: options.secrets,
    ssh: options.ssh,
    fetchImage: async (ref, vertex) => {
      const at = ref.lastIndexOf("@");
      const digest = ref.slice(at + 1) as Digest;
      const store = vertex.op.type === "source" && vertex.op.identifier.startsWith("oci-layout://")
        ? vertex.op.attrs?.["oci.store"]
        : undefined;
      if (store !== undefined) {
        if (!(await state.content.has(digest))) {
          // Copied in when its config was resolved; again if a prune took it meanwhile.
          const dir = options.ociStores?.[store];
          if (dir === undefined) {
            throw new ImgError(`The build has no OCI layout store "${store}"`);
          }
          await importOciLayoutImage(dir, digest, vertex.platform ?? platforms[0], state.content);
        }
        return parseManifest(await state.content.read(digest), `Manifest ${digest}`);
      }
      const reference = parseReference(ref);
      using _pull = span("base image pull");
      if (!(await state.content.has(digest))) {
        await pull(deps.registry, reference, state.content, {
          choose: platformChooser(vertex.platform ?? platforms[0]),
          deferLayers: remote,
        });
      }
      const manifest = parseManifest(await state.content.read(digest), `Manifest ${digest}`);
      const downloadSpan = span("base layer download (in the background)");
      const download = remote.fetch(manifest.layers, reference).finally(() => downloadSpan.end());
      download.catch(() => {}); // awaited after the solve; meanwhile, by whoever follows it
      downloads.push(download);
      for (const layer of manifest.layers) layerDownloads.set(layer.digest, download);
      return manifest;
    },
    openLayer: (layer) =>
      Promise.resolve(
        state.content.follow(
          layer.digest as Digest,
          layerDownloads.get(layer.digest) ?? Promise.resolve(),
        ),
      ),
  });
  const solveSpan = span("solve (graph)");
  const solved = await solver.solveAll(definitions.map((d) => d.graph), {
    noCache: options.noCache,
    progress,
    signal: options.signal,
  }).finally(async () => {
    options.ssh?.close();
    // No download outlives the build, even a failed one.
    await Promise.allSettled(downloads);
  });
  // A layer no step unpacked (its snapshot was there) is still in the content store, as before.
  await Promise.all(downloads);
  solveSpan.end();

  const layerDeps = { snapshotter: deps.snapshotter, cache: solver.cache, content: state.content };
  const pushed: Reference[] = [];
  const ctx: ExportContext = {
    content: state.content,
    progress,
    stateDir: state.dir,
    images: state.images,
    push: async (name, descriptor) => {
      // Layers left in the registry are mounted there (or fetched to go elsewhere).
      await push(deps.registry, parseReference(name), descriptor, state.content, { remote });
      pushed.push(parseReference(name));
    },
  };
  // The steps of every platform, for --cache-to (computed only when one asks).
  let steps: Promise<SolvedStep[]> | undefined;
  const solvedSteps = () => steps ??= allSteps(solved);
  // --cache-to type=inline (one platform only, refused above otherwise): the final stage's
  // cache records go into the image's config.
  const inline = options.cacheTo?.some((s) => s.type === "inline")
    ? await inlineCache(
      await solvedSteps(),
      async (snapshot) => (await snapshotChain(deps.snapshotter, snapshot)).length,
    )
    : undefined;
  const responses: ExportResponse[] = [];
  // The final root filesystems stay visible (read-only views) while the exporters run, when
  // one of them reads files: a result from an imported cache is not even downloaded otherwise.
  // (Without the user namespace, making a snapshot or a view throws NamespaceNeeded.)
  // The SBOM (--sbom) reads the final root filesystem too.
  const usesRootfs = deps.exporters.some((e) => e.usesRootfs !== false) ||
    options.attest?.sbom === true;
  const snapshots = usesRootfs ? await Promise.all(solved.map((s) => s.snapshot())) : [];
  await withViews(deps.snapshotter, snapshots, async (rootfses) => {
    const attestations = options.attest
      ? await Promise.all(
        platforms.map((platform, i) =>
          makeAttestations(options, options.attest!, {
            platform,
            platforms,
            rootfs: rootfses[i],
            bases,
            startedOn,
            invocationId,
            sourceDateEpoch: definitions[i].sourceDateEpoch,
            graph: definitions[i].graph,
          })
        ),
      )
      : undefined;
    const results: PlatformExportResult[] = definitions.map((definition, i) => {
      const layers = resultLayers(solved[i], { layerDeps, imports, remote }, snapshots[i]);
      const config = definition.sourceDateEpoch === undefined
        ? createdWithResult(definition.config, solver.cache.createdAt(solved[i].cacheKey))
        : definition.config;
      const result: ExportResult = {
        config: inline ? { ...config, [INLINE_CACHE_FIELD]: inline } as ImageConfig : config,
        names: options.names,
        get rootfs(): string {
          if (!usesRootfs) {
            throw new Error("The exporter said usesRootfs: false, but read the result's rootfs");
          }
          return rootfses[i];
        },
        ...(definition.sourceDateEpoch !== undefined
          ? { sourceDateEpoch: definition.sourceDateEpoch }
          : {}),
        ...(attestations?.[i].length ? { attestations: attestations[i] } : {}),
        layers: (layerOptions = {}) => layers(layerOptions),
      };
      return { platform: platforms[i], result };
    });
    using _trace = span("export");
    for (const exporter of deps.exporters) {
      responses.push(
        multi
          ? await exporter.exportPlatforms!(results, ctx)
          : await exporter.export(results[0].result, ctx),
      );
    }
  });
  // --cache-to: after the image push, so the cache's layers are already in the registry.
  if (options.cacheTo?.length) {
    await exportBuildCache(options.cacheTo, await solvedSteps(), {
      content: state.content,
      registry: deps.registry,
      progress,
      imports,
      pushed,
      remote,
      // The layers made for the image are recorded, so the same blobs come back here.
      layersOf: (snapshot, compression) => snapshotLayers(layerDeps, snapshot, { compression }),
    });
  }
  const configs = definitions.map((d) => d.config);
  return { config: configs[0], configs, responses, sources };
}

/** What {@linkcode makeAttestations} needs of one platform's build. */
interface AttestationInput {
  platform: Platform;
  platforms: readonly Platform[];
  rootfs: string;
  bases: { input: string; platform: Platform; image: Promise<{ digest: string }> }[];
  startedOn: Date;
  invocationId: string;
  sourceDateEpoch?: number;
  /** The platform's build graph (the secret and SSH mounts of its RUN steps). */
  graph: BuildDefinition["graph"];
}

/** The secret or SSH mounts of the RUN steps of `graph`, by ID (BuildKit's `optional`). */
function mountIds(graph: BuildDefinition["graph"], type: "secret" | "ssh") {
  const ids = new Map<string, boolean>();
  for (const v of graph.vertices.values()) {
    if (v.op.type !== "exec") continue;
    for (const m of v.op.mounts) {
      if (m.type !== type) continue;
      // Optional only if every mount of the ID is.
      ids.set(m.id, (ids.get(m.id) ?? true) && m.required !== true);
    }
  }
  return [...ids].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, optional]) => ({
    id,
    optional,
  }));
}

/**
 * The attestations of one platform's result: SLSA provenance (its materials are the base
 * images resolved for this platform, or for a platform that is not a target, such as
 * `$BUILDPLATFORM`) and the SBOM of its final root filesystem.
 */
async function makeAttestations(
  options: BuildOptions,
  request: AttestationRequest,
  input: AttestationInput,
): Promise<Attestation[]> {
  const out: Attestation[] = [];
  if (request.provenance) {
    const materials: ProvenanceMaterial[] = [];
    for (const base of input.bases) {
      const forThis = platformMatches(base.platform, input.platform);
      const forBuild = !input.platforms.some((p) => platformMatches(p, base.platform));
      if (!forThis && !forBuild) continue;
      const ref = parseReference(base.input);
      const { digest } = await base.image;
      const material = {
        repository: repositoryName(ref),
        ...(ref.tag ? { tag: ref.tag } : {}),
        digest,
        platform: formatPlatform(base.platform),
      };
      if (!materials.some((m) => m.digest === digest && m.platform === material.platform)) {
        materials.push(material);
      }
    }
    out.push(provenanceAttestation({
      mode: request.provenance.mode,
      frontend: request.frontend ?? "dockerfile.v0",
      frontendOptions: options.frontendOptions,
      platform: formatPlatform(input.platform),
      materials,
      invocationId: input.invocationId,
      ...(request.provenance.builderId ? { builderId: request.provenance.builderId } : {}),
      ...(request.configSource ? { configSource: request.configSource } : {}),
      secrets: mountIds(input.graph, "secret"),
      ssh: mountIds(input.graph, "ssh"),
      startedOn: input.startedOn,
      finishedOn: new Date(),
    }));
  }
  if (request.sbom) {
    out.push(
      await sbomAttestation(input.rootfs, {
        ...(options.names[0] ? { imageName: options.names[0] } : {}),
        created: input.sourceDateEpoch !== undefined
          ? new Date(input.sourceDateEpoch * 1000)
          : new Date(),
        tool: `Tool: ${request.tool ?? "img"}`,
      }),
    );
  }
  return out;
}

/**
 * `config` with the time of this build (its `created`, and that of the history entries the
 * build added) replaced by `resultCreated`, when the result's cache record was made. As
 * BuildKit: a rebuild with nothing changed makes the same image (the same ID), not a new one
 * that differs only in its time; with SOURCE_DATE_EPOCH the times are already fixed.
 */
function createdWithResult(config: ImageConfig, resultCreated?: Date): ImageConfig {
  const now = config.created;
  if (!resultCreated || !now) return config;
  const created = resultCreated.toISOString();
  return {
    ...config,
    created,
    ...(config.history
      ? { history: config.history.map((h) => (h.created === now ? { ...h, created } : h)) }
      : {}),
  };
}

/**
 * The layers of a solved result, made once per set of options and reused. A result from an
 * imported cache is its record's layers as they are (what unpacking them into snapshots and
 * taking those would give: pulled layers are kept as they are), each blob fetched unless
 * `options.remote` lets it stay a remote blob of the registry the cache came from. Once its
 * snapshot is made (an exporter read the files, or forced another compression on them), the
 * snapshot's layers are used instead, so every export of the build agrees: a download that
 * fails then warns and runs the step. A download that fails after layers were handed out as
 * they are is an error, not an image that differs between exporters. `made` is the snapshot,
 * when it was made before the exports.
 */
function resultLayers(
  solved: LazySolveResult,
  deps: {
    layerDeps: Parameters<typeof snapshotLayers>[0];
    imports?: BuildCacheImports;
    remote: RemoteBlobs;
  },
  made?: string,
): (options: LayerOptions) => Promise<ResultLayer[]> {
  const cached = new Map<string, Promise<ResultLayer[]>>();
  let handedOut = false;
  let snapshot = made === undefined ? undefined : Promise.resolve(made);
  const make = async (options: LayerOptions): Promise<ResultLayer[]> => {
    const layers = solved.remote;
    const compression = options.compression ?? "gzip";
    const recompress = options.forceCompression &&
      layers?.some((l) => layerCompression(l.descriptor.mediaType) !== compression);
    if (layers && deps.imports && !snapshot && !recompress) {
      try {
        for (const l of layers) {
          if (options.remote && deps.remote.sources(l.descriptor.digest).length > 0) continue;
          await deps.imports.fetchBlob(l.descriptor);
        }
        handedOut = true;
        return layers.map((l) => ({
          descriptor: {
            mediaType: l.descriptor.mediaType,
            digest: l.descriptor.digest,
            size: l.descriptor.size,
          },
          diffID: l.diffID,
        }));
      } catch (e) {
        if (handedOut) {
          throw new ImgError(
            `A layer of the imported cache could not be fetched: ${
              e instanceof Error ? e.message : String(e)
            }; build again (with --no-cache if the cache source stays broken)`,
            { cause: e },
          );
        }
        // The snapshot below tries again, and runs the step if that fails too.
      }
    }
    snapshot ??= solved.snapshot();
    return await snapshotLayers(deps.layerDeps, await snapshot, options);
  };
  return (options) => {
    const key = JSON.stringify([
      options.compression ?? "gzip",
      options.level,
      options.sourceDateEpoch,
      options.forceCompression === true,
      options.remote === true,
    ]);
    let p = cached.get(key);
    if (!p) {
      p = make(options);
      cached.set(key, p);
    }
    return p;
  };
}

/**
 * The steps of every platform's solve, once each (a step two platforms share, as a
 * `--platform=$BUILDPLATFORM` stage, is in the final stage if it is in either's).
 */
async function allSteps(solved: readonly LazySolveResult[]): Promise<SolvedStep[]> {
  const byKey = new Map<string, SolvedStep>();
  for (const s of solved) {
    for (const step of await s.steps?.() ?? []) {
      const seen = byKey.get(step.key);
      if (!seen) byKey.set(step.key, step);
      else if (step.final && !seen.final) byKey.set(step.key, { ...seen, final: true });
    }
  }
  return [...byKey.values()];
}

/** The platforms without duplicates, in order. */
function uniquePlatforms(platforms: readonly Platform[]): Platform[] {
  const out: Platform[] = [];
  for (const p of platforms) if (!out.some((q) => platformMatches(q, p))) out.push(p);
  return out;
}

/** Runs `fn` with a read-only view of each snapshot mounted, in order. */
async function withViews<T>(
  snapshotter: Snapshotter,
  snapshots: readonly string[],
  fn: (dirs: string[]) => Promise<T>,
  dirs: string[] = [],
): Promise<T> {
  if (dirs.length === snapshots.length) return await fn(dirs);
  const view = `export-${crypto.randomUUID()}`;
  const mounts = await snapshotter.view(view, snapshots[dirs.length]);
  try {
    return await withMountedDir(
      mounts,
      (dir) => withViews(snapshotter, snapshots, fn, [...dirs, dir]),
    );
  } finally {
    await snapshotter.remove(view).catch(() => {});
  }
}
