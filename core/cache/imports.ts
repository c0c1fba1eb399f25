/**
 * `--cache-from`: the records of every readable cache source, for the solver to look keys up
 * in. A source that cannot be reached or read is a warning: the build goes on without it.
 * With the state database, the records a build uses are kept (see `imported_records.ts`), and
 * those kept by earlier builds are looked up after this build's sources.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import type { ProgressWriter } from "../progress.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { RemoteBlobStore } from "../registry/transfer.ts";
import type { Descriptor } from "../schemas.ts";
import type { CacheImports, CacheLayer, ImportedCacheRecord } from "../solver.ts";
import type { StateDB } from "../state/db.ts";
import { asVertex } from "./_vertex.ts";
import {
  describeCacheSource,
  rememberImportedRecord,
  useImportedRecord,
} from "./imported_records.ts";
import { loadLocalCache } from "./local_cache.ts";
import { type CacheSource, loadRegistryCache } from "./registry_cache.ts";
import type { CacheImportSpec } from "./spec.ts";

/** What reading cache sources needs. */
export interface CacheImportDeps {
  /** Where fetched blobs go. */
  content: ContentStore;
  /** Talks to registries. */
  registry: RegistryClient;
  /** Where progress and warnings go. */
  progress: ProgressWriter;
  /** The state database: keeps the records a build uses, and gives those kept before. */
  db?: StateDB;
  /**
   * Where the layers of registry sources are recorded as remote blobs (of the cache's
   * repository), so an image made of them is stored and pushed without downloading them.
   */
  remote?: RemoteBlobStore;
}

/** Opens the cache source `spec` (its manifest and config; no layer). */
export type CacheSourceOpener = (spec: CacheImportSpec) => Promise<CacheSource>;

/** The records of the cache sources of one build; the first source with a key wins. */
export class BuildCacheImports implements CacheImports {
  #records = new Map<string, { record: ImportedCacheRecord; spec?: CacheImportSpec }>();
  #sources = new Map<string, CacheSource>();
  // Blobs of kept records whose source this build has not opened (yet), by digest.
  #pending = new Map<string, CacheImportSpec>();
  #opened = new Map<string, Promise<CacheSource>>();
  #content: ContentStore;
  #db?: StateDB;
  #open?: CacheSourceOpener;

  /**
   * An empty set over `content`. With `db`, the records used are kept and those kept before
   * are found too, their source opened with `open` when a layer is first needed.
   */
  constructor(content: ContentStore, options: { db?: StateDB; open?: CacheSourceOpener } = {}) {
    this.#content = content;
    this.#db = options.db;
    this.#open = options.open;
  }

  /** Adds the records of `source` (read from `spec`). */
  add(source: CacheSource, spec?: CacheImportSpec): void {
    for (const record of source.records) {
      if (this.#records.has(record.key)) continue;
      this.#records.set(record.key, { record, spec });
      for (const l of record.layers) {
        if (!this.#sources.has(l.descriptor.digest)) this.#sources.set(l.descriptor.digest, source);
      }
    }
  }

  /** How many records this build's sources have. */
  get size(): number {
    return this.#records.size;
  }

  /** The record for `key`: from this build's sources, else one an earlier build kept. */
  lookup(key: string): ImportedCacheRecord | undefined {
    const found = this.#records.get(key);
    if (found) {
      if (this.#db && found.spec) rememberImportedRecord(this.#db, found.record, found.spec);
      return found.record;
    }
    const kept = this.#db && useImportedRecord(this.#db, key);
    if (!kept) return undefined;
    const record = { key: kept.key, description: kept.description, layers: kept.layers };
    this.#records.set(key, { record });
    for (const l of kept.layers) {
      const d = l.descriptor.digest;
      if (!this.#sources.has(d) && !this.#pending.has(d)) this.#pending.set(d, kept.source);
    }
    return record;
  }

  /** Brings the blobs of `layers` into the content store. */
  async fetchLayers(layers: CacheLayer[]): Promise<void> {
    for (const l of layers) await this.fetchBlob(l.descriptor);
  }

  /** Brings the blob `d` into the content store from the source that names it. */
  async fetchBlob(d: Descriptor): Promise<void> {
    if (await this.#content.has(d.digest as Digest)) return;
    const source = this.#sources.get(d.digest) ?? await this.#openPending(d.digest);
    if (!source) throw new Error(`No cache source has blob ${d.digest}`);
    await source.fetch(d);
  }

  async #openPending(digest: string): Promise<CacheSource | undefined> {
    const spec = this.#pending.get(digest);
    if (!spec || !this.#open) return undefined;
    const id = describeCacheSource(spec);
    let opening = this.#opened.get(id);
    if (!opening) {
      opening = this.#open(spec);
      this.#opened.set(id, opening);
    }
    return await opening;
  }
}

/** Opens cache sources with `deps`. */
function opener(deps: CacheImportDeps): CacheSourceOpener {
  return (spec) =>
    spec.type === "registry"
      ? loadRegistryCache(deps.registry, spec.ref, deps.content)
      : loadLocalCache(spec.src, spec.tag, deps.content);
}

/** Reads every source of `specs`; those that fail are warnings. */
export async function importBuildCache(
  specs: CacheImportSpec[],
  deps: CacheImportDeps,
): Promise<BuildCacheImports> {
  const open = opener(deps);
  const imports = new BuildCacheImports(deps.content, { db: deps.db, open });
  for (const spec of specs) {
    const name = describeCacheSource(spec);
    try {
      const source = await asVertex(
        deps.progress,
        `importing cache manifest from ${name}`,
        () => open(spec),
      );
      if (spec.type === "registry") {
        deps.remote?.record(
          source.records.flatMap((r) => r.layers.map((l) => l.descriptor.digest)),
          spec.ref,
        );
      }
      imports.add(source, spec);
    } catch (e) {
      deps.progress.write({
        type: "warning",
        message: `Cache source ${name} could not be read, building without it: ${
          e instanceof Error ? e.message : String(e)
        }`,
        time: Date.now(),
      });
    }
  }
  return imports;
}
