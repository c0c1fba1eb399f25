/**
 * The graph solver: runs a build graph's vertices as their inputs become ready, so
 * independent stages run at the same time, and reuses cached results.
 *
 * A vertex's cache key is computed before anything runs: the digest of its op, its inputs'
 * cache keys and the content checksums of the local files it reads. A rebuild whose keys are
 * all in the cache therefore runs nothing and does not even unpack the base image. An image
 * source is keyed by its digest alone, so keys agree between machines that name the same image
 * through different registries or mirrors.
 *
 * @module
 */
import {
  type BuildGraph,
  canonicalJSON,
  type ExecOp,
  type FileOp,
  type Op,
  type SourceOp,
  type Vertex,
} from "../build_graph.ts";
import type { ContentStore } from "../content/store.ts";
import { type Digest, sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import type { Executor } from "../executor.ts";
import { withMountedDir } from "../mounts.ts";
import type { ProgressWriter } from "../progress.ts";
import type { Descriptor, Manifest } from "../schemas.ts";
import type { Mount, Snapshotter } from "../snapshotter.ts";
import type {
  CacheImports,
  CacheLayer,
  ImportedCacheRecord,
  SolvedStep,
  SolveOptions,
  Solver,
  SolveResult,
} from "../solver.ts";
import type { StateDB } from "../state/db.ts";
import { BuildCache } from "./cache.ts";
import type { Lease } from "../gc/leases.ts";
import { checksumPath, checksumSources } from "./checksum.ts";
import { ContextHashCache } from "./hash_cache.ts";
import { applyFileActions } from "./file_actions.ts";
import { HttpSources, isHttpSource } from "./http_source.ts";
import { unpackImage, unpackLayers } from "./image_source.ts";
import { prepareRunMounts } from "./run_mounts.ts";
import type { SecretStore } from "./secrets.ts";
import type { SshAgents } from "./ssh.ts";
import { span } from "../trace.ts";
import { gitCacheKey, GitClient, gitSpecOf, isGitSourceOp } from "../source/git.ts";
import { isNamespaceNeeded } from "../rootless/without_namespace.ts";

/** What the solver works with. */
export interface SolverDeps {
  /** Where results live. */
  snapshotter: Snapshotter;
  /** Runs exec ops; needed only when the graph has some. */
  executor?: Executor;
  /** The state database (cache records). */
  db: StateDB;
  /** The content store (image layers). */
  content: ContentStore;
  /**
   * Makes sure the image `ref` (pinned by digest) of a `docker-image://` or `oci-layout://`
   * source is in the content store and returns its manifest.
   */
  fetchImage(ref: string, vertex: Vertex): Promise<Manifest>;
  /**
   * The blob of a layer of an image `fetchImage` returned, as a stream; by default the content
   * store's. `fetchImage` may return before the layers are downloaded when this follows the
   * downloads.
   */
  openLayer?: (layer: Descriptor) => Promise<ReadableStream<Uint8Array>>;
  /** The local directories a build may read, by name (`context`). */
  locals: Record<string, string>;
  /** Where cache mounts (`RUN --mount=type=cache`) keep their contents. */
  cacheMountsDir: string;
  /** Whether files may be owned by other users (root of a user namespace, or real root). */
  sameOwner: boolean;
  /** The build's lease: every snapshot it uses is recorded, so a prune leaves it alone. */
  lease?: Lease;
  /** The build's secrets (`--secret`), read when a step mounts one. */
  secrets?: SecretStore;
  /** The build's SSH agents (`--ssh`). */
  ssh?: SshAgents;
  /** Cache records imported with `--cache-from`, used where the local cache has no record. */
  imports?: CacheImports;
  /** Where http sources record their URLs' ETags; none: every build downloads them again. */
  httpRecordsDir?: string;
}

/**
 * One graph's result from {@linkcode GraphSolver.solveAll}: a {@linkcode SolveResult} whose
 * files are made only when asked for. When the root step hit an imported cache record
 * (`--cache-from`), `remote` holds its layers and nothing has been downloaded: an export that
 * needs only the layers (an image to store or push) uses them as they are, and `snapshot()`
 * downloads and unpacks them for one that needs the files.
 */
export interface LazySolveResult {
  /** The cache key of the root vertex. */
  cacheKey: Digest;
  /** Every step of the graph with a result, for cache export (see {@linkcode SolveResult}). */
  steps: () => Promise<SolvedStep[]>;
  /** The result's layers, base first, when it is an imported cache record not unpacked here. */
  remote?: CacheLayer[];
  /**
   * The committed snapshot with the result's files: for a `remote` result, made on the first
   * call (its layers fetched and unpacked; if that fails, a warning, and the step runs).
   */
  snapshot(): Promise<string>;
}

/** The output of a solved vertex. */
type Result =
  | { kind: "snapshot"; snapshot: string }
  | { kind: "local"; dir: string; excludes: string[] }
  | { kind: "scratch" }
  // An imported cache record, unpacked into snapshots only when something needs its files.
  | { kind: "remote"; record: ImportedCacheRecord; vertex: Vertex; snapshot?: Promise<string> };

/** A result whose files are here: what a step's inputs are once {@linkcode SolveRun.need}ed. */
type Ready = Exclude<Result, { kind: "remote" }>;

const SCRATCH = "scratch";

/** How `img du` describes a vertex's snapshot, as BuildKit does. */
function describe(v: Vertex): string {
  if (v.op.type === "exec") return `mount / from exec ${v.op.args.join(" ")}`;
  return v.name.replace(/^\[[^\]]*\] /, "");
}

/** The `.dockerignore` patterns a local source carries in its `excludes` attribute. */
function localExcludes(op: SourceOp): string[] {
  const raw = op.attrs?.excludes;
  return raw ? JSON.parse(raw) as string[] : [];
}

/**
 * The cache key of a source: an image pinned by digest is keyed by that digest alone, so the
 * same image reached through another registry name or mirror (another machine) shares the
 * cache; any other source by its op.
 */
function sourceKey(v: Vertex, op: SourceOp): Digest {
  const at = op.identifier.lastIndexOf("@");
  if (imageSourceRef(op) !== undefined && at > 0) {
    // An OCI layout's store is where this build reads it from, not part of the image.
    const { "oci.store": _store, ...attrs } = op.attrs ?? {};
    return sha256(canonicalJSON({ image: op.identifier.slice(at + 1), attrs }));
  }
  return v.digest;
}

/**
 * The image reference of a `docker-image://REF` or `oci-layout://REF` source (an OCI layout's
 * image is in the content store once its config is resolved), else `undefined`.
 */
function imageSourceRef(op: SourceOp): string | undefined {
  const m = /^(docker-image|oci-layout):\/\//.exec(op.identifier);
  return m ? op.identifier.slice(m[0].length) : undefined;
}

/** Solves build graphs with a snapshotter and an executor. */
export class GraphSolver implements Solver {
  #deps: SolverDeps;
  #cache: BuildCache;

  /** Creates a solver. */
  constructor(deps: SolverDeps) {
    this.#deps = deps;
    this.#cache = new BuildCache(deps.db, deps.snapshotter.name);
  }

  /** The cache records this solver uses. */
  get cache(): BuildCache {
    return this.#cache;
  }

  /** Solves `graph` and returns the snapshot holding its root's output. */
  async solve(graph: BuildGraph, options: SolveOptions): Promise<SolveResult> {
    const [result] = await this.solveAll([graph], options);
    return { snapshot: await result.snapshot(), cacheKey: result.cacheKey, steps: result.steps };
  }

  /**
   * Solves several graphs (one per platform of a multi-platform build) at once, as one run:
   * a vertex they share (same digest: a context transfer, a `--platform=$BUILDPLATFORM`
   * step) runs once. Returns each graph's result, in order; a result from an imported cache
   * is not downloaded until its `snapshot()` is asked for.
   */
  async solveAll(
    graphs: readonly BuildGraph[],
    options: SolveOptions,
  ): Promise<LazySolveResult[]> {
    const vertices = new Map<Digest, Vertex>();
    for (const g of graphs) for (const [d, v] of g.vertices) vertices.set(d, v);
    const union: BuildGraph = { vertices, root: graphs[0].root };
    const run = new SolveRun(this.#deps, this.#cache, union, options);
    return await Promise.all(graphs.map(async (graph) => {
      const result = await run.solve(graph.root);
      if (result.kind !== "snapshot" && result.kind !== "remote") {
        throw new ImgError(
          "The build result has no file system: the final stage must start FROM an image or scratch",
        );
      }
      const snapshot = async () => {
        const ready = await run.need(result);
        if (ready.kind !== "snapshot") throw new Error("An imported cache record has no snapshot");
        return ready.snapshot;
      };
      return {
        cacheKey: await run.cacheKey(graph.root),
        steps: () => run.steps(graph.root),
        ...(result.kind === "remote" ? { remote: result.record.layers } : {}),
        snapshot,
      };
    }));
  }
}

class SolveRun {
  #keys = new Map<Digest, Promise<Digest>>();
  #results = new Map<Digest, Promise<Result>>();
  readonly #http: HttpSources;
  #git?: GitClient;
  /** Digests of local files, kept in the state database across builds. */
  #hashes: ContextHashCache;

  constructor(
    readonly deps: SolverDeps,
    readonly cache: BuildCache,
    readonly graph: BuildGraph,
    readonly options: SolveOptions,
  ) {
    this.#http = new HttpSources({
      content: deps.content,
      recordsDir: deps.httpRecordsDir,
      signal: options.signal,
      ...(deps.secrets ? { secret: (id) => deps.secrets!.get(id) } : {}),
    });
    this.#hashes = new ContextHashCache(deps.db);
  }

  get progress(): ProgressWriter {
    return this.options.progress;
  }

  vertex(d: Digest): Vertex {
    const v = this.graph.vertices.get(d);
    if (!v) throw new Error(`Unknown vertex ${d}`);
    return v;
  }

  cacheKey(d: Digest): Promise<Digest> {
    let p = this.#keys.get(d);
    if (!p) {
      p = this.#computeKey(this.vertex(d));
      this.#keys.set(d, p);
    }
    return p;
  }

  async #computeKey(v: Vertex): Promise<Digest> {
    if (v.op.type === "source" && isGitSourceOp(v.op)) return await this.#gitKey(v, v.op);
    if (v.op.type === "source") {
      const op = v.op;
      // An http source is keyed by its content: asking the server is part of the key.
      return isHttpSource(op)
        ? await this.#located(v, () => this.#http.cacheKey(op))
        : sourceKey(v, op);
    }
    const inputs = await Promise.all(v.inputs.map((i) => this.cacheKey(i)));
    const content = await this.#contentChecksums(v);
    // The op itself, not its vertex digest: that covers the inputs' digests, which name base
    // images by reference; their cache keys stand in for them.
    return sha256(
      canonicalJSON({ op: keyedOp(v.op), platform: v.platform ?? null, inputs, content }),
    );
  }

  /** Checksums of the local files `v` reads: COPY sources and bind mounts of local inputs. */
  async #contentChecksums(v: Vertex): Promise<string[]> {
    const local = (index: number): { dir: string; excludes: string[] } | undefined => {
      const input = v.inputs[index];
      if (input === undefined) return undefined;
      const op = this.vertex(input).op;
      return op.type === "source" && op.identifier.startsWith("local://")
        ? { dir: this.#localDir(op), excludes: localExcludes(op) }
        : undefined;
    };
    const sums: string[] = [];
    if (v.op.type === "file") {
      for (const action of v.op.actions) {
        if (action.action !== "copy") continue;
        const src = local(action.input);
        if (src === undefined) continue;
        sums.push(
          await this.#located(v, () =>
            checksumSources(src.dir, action.src, {
              allowWildcard: action.options?.allowWildcard,
              allowEmptyWildcard: action.options?.allowEmptyWildcard,
              followSymlinks: action.options?.followSymlinks,
              exclude: action.options?.exclude,
              ignore: src.excludes,
              hashCache: this.#hashes,
            })),
        );
      }
    } else if (v.op.type === "exec") {
      for (const m of v.op.mounts) {
        if (m.type !== "bind" || m.input === undefined) continue;
        const src = local(m.input);
        if (src !== undefined) {
          const path = m.source ? `${src.dir}/${m.source}` : src.dir;
          sums.push(await checksumPath(path, this.#hashes));
        }
      }
    }
    return sums;
  }

  #localDir(op: SourceOp): string {
    const name = op.identifier.slice("local://".length);
    const dir = this.deps.locals[name];
    if (dir === undefined) throw new ImgError(`The build has no local input named "${name}"`);
    return dir;
  }

  /** Runs `fn`, prefixing a user-facing error with the vertex's Dockerfile location. */
  async #located<T>(v: Vertex, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ImgError && v.location && !e.message.startsWith(`${v.location}:`)) {
        throw new ImgError(`${v.location}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  // --- cache import/export (--cache-from, --cache-to) ---

  /** `r`, with an imported record unpacked into snapshots (once). */
  async need(r: Result): Promise<Ready> {
    if (r.kind !== "remote") return r;
    r.snapshot ??= this.#materialize(r.record).catch(async (e) => {
      if (isNamespaceNeeded(e)) throw e;
      // A cache source that fails now is a warning: the step runs instead.
      this.progress.write({
        type: "warning",
        vertex: r.vertex.digest,
        message: `The cached result of ${r.vertex.name} could not be fetched, running the step: ${
          e instanceof Error ? e.message : String(e)
        }`,
        time: Date.now(),
      });
      // Shown as a vertex of its own: the first was shown CACHED already.
      const rerun = { ...r.vertex, digest: sha256(`${r.vertex.digest} run`) };
      const ran = await this.#execute(rerun, r.record.key as Digest);
      if (ran.kind !== "snapshot") throw e;
      return ran.snapshot;
    });
    return { kind: "snapshot", snapshot: await r.snapshot };
  }

  async #materialize(record: ImportedCacheRecord): Promise<string> {
    await this.deps.imports!.fetchLayers(record.layers);
    const snapshot = await unpackLayers(record.layers, {
      snapshotter: this.deps.snapshotter,
      content: this.deps.content,
      cache: this.cache,
      sameOwner: this.deps.sameOwner,
      lease: this.deps.lease,
      ref: "build cache",
    });
    if (snapshot === undefined) throw new ImgError(`Cache record ${record.key} has no layers`);
    return snapshot;
  }

  /**
   * Every step of the graph with a result: solved in this run, or (for steps that were not
   * visited because a later step was cached) found in the local or imported cache. Those of
   * the final stage (`root`'s chain) are marked.
   */
  async steps(root: Digest): Promise<SolvedStep[]> {
    const final = new Set<Digest>();
    for (let d: Digest | undefined = root; d !== undefined;) {
      const v = this.vertex(d);
      if (v.op.type === "source") break;
      final.add(d);
      d = v.inputs[0];
    }
    const reachable = new Set<Digest>();
    const walk = (d: Digest) => {
      if (reachable.has(d)) return;
      reachable.add(d);
      for (const i of this.vertex(d).inputs) walk(i);
    };
    walk(root);
    const out: SolvedStep[] = [];
    for (const d of reachable) {
      const v = this.vertex(d);
      if (v.op.type === "source") continue;
      const key = await this.cacheKey(d).catch(() => undefined);
      if (key === undefined) continue;
      const step = { key, description: v.name, final: final.has(d) };
      const p = this.#results.get(d);
      const r = p ? await p.catch(() => undefined) : await this.#cachedResult(v, key);
      if (r?.kind === "snapshot") out.push({ ...step, snapshot: r.snapshot });
      else if (r?.kind === "remote") {
        const snapshot = r.snapshot && await r.snapshot.catch(() => undefined);
        out.push(snapshot ? { ...step, snapshot } : { ...step, layers: r.record.layers });
      }
    }
    return out;
  }

  /** The result cached for `key` (local first, then imported), without running anything. */
  async #cachedResult(v: Vertex, key: Digest): Promise<Result | undefined> {
    const local = this.cache.lookup(key);
    if (local !== undefined && (this.deps.lease?.add("snapshot", local) ?? true)) {
      if ((await this.deps.snapshotter.stat(local))?.kind === "committed") {
        return { kind: "snapshot", snapshot: local };
      }
    }
    const imported = this.deps.imports?.lookup(key);
    return imported && { kind: "remote", record: imported, vertex: v };
  }

  // --- end of cache import/export ---

  solve(d: Digest): Promise<Result> {
    let p = this.#results.get(d);
    if (!p) {
      p = this.#solveVertex(this.vertex(d));
      this.#results.set(d, p);
    }
    return p;
  }

  readonly #ignoring = new Map<Digest, boolean>();

  /**
   * Whether `v` must run: it ignores the cache, or one of its inputs does (`--no-cache-filter`
   * re-runs a stage, so what is built on it cannot come from the cache either).
   */
  #ignoresCache(v: Vertex): boolean {
    let r = this.#ignoring.get(v.digest);
    if (r === undefined) {
      r = (v.ignoreCache ?? false) || v.inputs.some((i) => this.#ignoresCache(this.vertex(i)));
      this.#ignoring.set(v.digest, r);
    }
    return r;
  }

  async #solveVertex(v: Vertex): Promise<Result> {
    if (v.op.type === "source" && !isHttpSource(v.op)) return await this.#solveSource(v, v.op);
    const key = await this.cacheKey(v.digest);
    const lookup = span("cache lookup");
    if (!this.options.noCache && !this.#ignoresCache(v)) {
      const cached = this.cache.lookup(key);
      // A prune removing the snapshot right now makes it a miss.
      if (cached !== undefined && (this.deps.lease?.add("snapshot", cached) ?? true)) {
        const info = await this.deps.snapshotter.stat(cached);
        if (info?.kind === "committed") {
          this.#event("vertex.cached", v);
          lookup.end();
          return { kind: "snapshot", snapshot: cached };
        }
        this.cache.forget(key);
      }
      const imported = this.deps.imports?.lookup(key);
      if (imported !== undefined) {
        lookup.end();
        this.#event("vertex.cached", v);
        return { kind: "remote", record: imported, vertex: v };
      }
    }
    lookup.end();
    return await this.#execute(v, key);
  }

  /** Runs step `v` (its inputs first) and commits its result for `key`. */
  async #execute(v: Vertex, key: Digest): Promise<Result> {
    const inputs = await Promise.all(
      v.inputs.map(async (i) => await this.need(await this.solve(i))),
    );
    this.options.signal?.throwIfAborted();
    const started = Date.now();
    this.#event("vertex.started", v);
    try {
      const snapshot = await this.#located(
        v,
        () =>
          v.op.type === "exec"
            ? this.#exec(v, v.op as ExecOp, inputs, key)
            : v.op.type === "source"
            ? this.#httpFile(v, v.op, key)
            : this.#file(v, v.op as FileOp, inputs, key),
      );
      this.progress.write({
        type: "vertex.done",
        vertex: v.digest,
        name: v.name,
        time: Date.now(),
        started,
      });
      return { kind: "snapshot", snapshot };
    } catch (e) {
      this.progress.write({
        type: "vertex.errored",
        vertex: v.digest,
        name: v.name,
        time: Date.now(),
        error: e instanceof Error ? e.message : String(e),
      });
      throw e;
    }
  }

  #event(type: "vertex.started" | "vertex.cached", v: Vertex): void {
    this.progress.write({ type, vertex: v.digest, name: v.name, time: Date.now() });
  }

  async #solveSource(v: Vertex, op: SourceOp): Promise<Result> {
    if (op.identifier === SCRATCH) return { kind: "scratch" };
    if (op.identifier.startsWith("local://")) {
      return { kind: "local", dir: this.#localDir(op), excludes: localExcludes(op) };
    }
    const ref = imageSourceRef(op);
    if (ref !== undefined) {
      const started = Date.now();
      this.#event("vertex.started", v);
      const manifest = await this.deps.fetchImage(ref, v);
      const snapshot = await unpackImage(manifest, {
        ref,
        lease: this.deps.lease,
        snapshotter: this.deps.snapshotter,
        content: this.deps.content,
        cache: this.cache,
        sameOwner: this.deps.sameOwner,
        openLayer: this.deps.openLayer,
      });
      this.progress.write({
        type: "vertex.done",
        vertex: v.digest,
        name: v.name,
        time: Date.now(),
        started,
      });
      return snapshot ? { kind: "snapshot", snapshot } : { kind: "scratch" };
    }
    if (isGitSourceOp(op)) return { kind: "snapshot", snapshot: await this.#gitSource(v, op) };
    throw new ImgError(`Unsupported build source ${op.identifier}`);
  }

  // --- git sources (core/source/git.ts) ---

  get #gitClient(): GitClient {
    return this.#git ??= new GitClient({
      sshSocket: () => this.deps.ssh?.socket("default") ?? Promise.resolve(undefined),
      secret: (id) => this.deps.secrets?.get(id) ?? Promise.resolve(undefined),
      signal: this.options.signal,
    });
  }

  /** A git source's key: its ref resolved to a commit on the remote (a cache hit costs that). */
  #gitKey(v: Vertex, op: SourceOp): Promise<Digest> {
    const spec = gitSpecOf(op);
    return this.#located(
      v,
      async () => gitCacheKey(spec, (await this.#gitClient.resolve(spec)).commit),
    );
  }

  /** Checks a git source out into a snapshot of its own, kept in the cache by commit. */
  async #gitSource(v: Vertex, op: SourceOp): Promise<string> {
    const key = await this.cacheKey(v.digest);
    const cached = this.options.noCache || this.#ignoresCache(v)
      ? undefined
      : this.cache.lookup(key);
    if (cached !== undefined && (this.deps.lease?.add("snapshot", cached) ?? true)) {
      if ((await this.deps.snapshotter.stat(cached))?.kind === "committed") return cached;
    }
    const spec = gitSpecOf(op);
    const started = Date.now();
    this.#event("vertex.started", v);
    try {
      const snapshot = await this.#located(v, async () => {
        const resolved = await this.#gitClient.resolve(spec);
        return await this.#commitNew(
          v,
          undefined,
          key,
          (mounts) =>
            withMountedDir(mounts, (dir) => this.#gitClient.checkout(spec, resolved, dir)),
        );
      });
      this.progress.write({
        type: "vertex.done",
        vertex: v.digest,
        name: v.name,
        time: Date.now(),
        started,
      });
      return snapshot;
    } catch (e) {
      if (isNamespaceNeeded(e)) throw e;
      this.progress.write({
        type: "vertex.errored",
        vertex: v.digest,
        name: v.name,
        time: Date.now(),
        error: e instanceof Error ? e.message : String(e),
      });
      throw e;
    }
  }

  // --- end of git sources ---

  /** Prepares a writable snapshot over `parent`, runs `fn` on it and commits it as the result for `key`. */
  async #commitNew(
    v: Vertex,
    parent: Ready | undefined,
    key: Digest,
    fn: (mounts: Mount[]) => Promise<void>,
  ): Promise<string> {
    const sn = this.deps.snapshotter;
    const parentKey = parent?.kind === "snapshot" ? parent.snapshot : undefined;
    const active = `active-${crypto.randomUUID()}`;
    const description = describe(v);
    this.deps.lease?.add("snapshot", active);
    const prep = span("snapshot prepare");
    const mounts = await sn.prepare(active, parentKey, { "img.description": description });
    prep.end();
    try {
      await fn(mounts);
    } catch (e) {
      await sn.remove(active).catch(() => {});
      throw e;
    }
    const name = `build-${key.slice(7, 23)}-${crypto.randomUUID().slice(0, 8)}`;
    this.deps.lease?.add("snapshot", name);
    await sn.commit(name, active, { "img.description": description, "img.cache-key": key });
    const winner = this.cache.record(key, name, v.name);
    if (winner !== name) {
      // Another build made the same result first: use theirs.
      await sn.remove(name).catch(() => {});
    }
    return winner;
  }

  /** Runs `fn` with a directory for each input (undefined for scratch). */
  async #withInputDirs<T>(
    inputs: Ready[],
    fn: (dirs: (string | undefined)[]) => Promise<T>,
  ): Promise<T> {
    const dirs: (string | undefined)[] = [];
    const views: string[] = [];
    const sn = this.deps.snapshotter;
    const go = async (i: number): Promise<T> => {
      if (i === inputs.length) return await fn(dirs);
      const r = inputs[i];
      if (r.kind === "local") {
        dirs[i] = r.dir;
        return await go(i + 1);
      }
      if (r.kind === "scratch") {
        dirs[i] = undefined;
        return await go(i + 1);
      }
      const view = `view-${crypto.randomUUID()}`;
      views.push(view);
      const mounts = await sn.view(view, r.snapshot);
      return await withMountedDir(mounts, async (dir) => {
        dirs[i] = dir;
        return await go(i + 1);
      });
    };
    try {
      return await go(0);
    } finally {
      for (const view of views) await sn.remove(view).catch(() => {});
    }
  }

  #file(v: Vertex, op: FileOp, inputs: Ready[], key: Digest): Promise<string> {
    return this.#commitNew(v, inputs[0], key, async (mounts) => {
      await this.#withInputDirs(inputs, async (dirs) => {
        await withMountedDir(mounts, async (dest) => {
          using _trace = span("file actions (COPY, ...)");
          await applyFileActions(op.actions, {
            dest,
            inputs: dirs,
            sameOwner: this.deps.sameOwner,
            // Files from a local context belong to root in the image, as BuildKit makes them.
            rootOwnedInputs: inputs.map((r) => r.kind === "local"),
            inputIgnores: inputs.map((r) => (r.kind === "local" ? r.excludes : undefined)),
            onWarning: (message) =>
              this.progress.write({ type: "warning", vertex: v.digest, message, time: Date.now() }),
          });
        });
      });
    });
  }

  /** An http source: a snapshot holding the downloaded file alone. */
  #httpFile(v: Vertex, op: SourceOp, key: Digest): Promise<string> {
    return this.#commitNew(v, undefined, key, async (mounts) => {
      await withMountedDir(mounts, (dir) => this.#http.writeFile(op, dir));
    });
  }

  #exec(v: Vertex, op: ExecOp, inputs: Ready[], key: Digest): Promise<string> {
    const executor = this.deps.executor;
    if (!executor) throw new ImgError("This build runs commands, but no executor is configured");
    return this.#commitNew(v, inputs[0], key, async (rootfs) => {
      const seedKeys = await Promise.all(v.inputs.map((i) => this.cacheKey(i)));
      const prepared = await prepareRunMounts(this.deps, op.mounts, inputs, seedKeys);
      const extra = prepared.mounts;
      try {
        using _trace = span("RUN (executor)");
        const code = await executor.run(
          rootfs,
          {
            args: op.args,
            // Secrets exposed as variables are added here: they are not part of the op.
            env: [...op.env, ...prepared.env],
            cwd: op.cwd,
            // The executor resolves the user through the rootfs's /etc/passwd, as BuildKit's does.
            uid: 0,
            gid: 0,
            ...(op.user ? { user: op.user } : {}),
            network: op.network ?? "default",
            ...(op.security ? { security: op.security } : {}),
            ...(op.extraHosts?.length ? { extraHosts: op.extraHosts } : {}),
            ...(op.shmSize !== undefined ? { shmSize: op.shmSize } : {}),
            ...(op.ulimits?.length ? { ulimits: op.ulimits } : {}),
          },
          extra,
          {
            stdout: (data) =>
              this.progress.write({
                type: "log",
                vertex: v.digest,
                stream: 1,
                data,
                time: Date.now(),
              }),
            stderr: (data) =>
              this.progress.write({
                type: "log",
                vertex: v.digest,
                stream: 2,
                data,
                time: Date.now(),
              }),
          },
          this.options.signal,
        );
        if (code !== 0) {
          throw new ImgError(
            `process "${op.args.join(" ")}" did not complete successfully: exit code: ${code}`,
          );
        }
      } finally {
        await prepared.cleanup();
      }
    });
  }
}

/**
 * The op as its cache key covers it: an exec op's extra hosts without their addresses, as
 * BuildKit's exec op `CacheMap` clears them (the same step with another address for a host
 * reuses the cache); everything else as it is.
 */
function keyedOp(op: Op): Op {
  if (op.type !== "exec" || !op.extraHosts?.length) return op;
  return { ...op, extraHosts: op.extraHosts.map((h) => ({ host: h.host, ip: "" })) };
}
