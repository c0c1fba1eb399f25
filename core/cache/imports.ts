/**
 * `--cache-from`: the records of every readable cache source, for the solver to look keys up
 * in. A source that cannot be reached or read is a warning: the build goes on without it.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { formatReference } from "../reference.ts";
import type { ProgressWriter } from "../progress.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { RemoteBlobStore } from "../registry/transfer.ts";
import type { Descriptor } from "../schemas.ts";
import type { CacheImports, CacheLayer, ImportedCacheRecord } from "../solver.ts";
import { asVertex } from "./_vertex.ts";
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
  /**
   * Where the layers of registry sources are recorded as remote blobs (of the cache's
   * repository), so an image made of them is stored and pushed without downloading them.
   */
  remote?: RemoteBlobStore;
}

/** The records of the cache sources of one build; the first source with a key wins. */
export class BuildCacheImports implements CacheImports {
  #records = new Map<string, ImportedCacheRecord>();
  #sources = new Map<string, CacheSource>();
  #content: ContentStore;

  /** An empty set over `content`. */
  constructor(content: ContentStore) {
    this.#content = content;
  }

  /** Adds the records of `source`. */
  add(source: CacheSource): void {
    for (const r of source.records) {
      if (this.#records.has(r.key)) continue;
      this.#records.set(r.key, r);
      for (const l of r.layers) {
        if (!this.#sources.has(l.descriptor.digest)) this.#sources.set(l.descriptor.digest, source);
      }
    }
  }

  /** How many records there are. */
  get size(): number {
    return this.#records.size;
  }

  /** The record for `key`. */
  lookup(key: string): ImportedCacheRecord | undefined {
    return this.#records.get(key);
  }

  /** Brings the blobs of `layers` into the content store. */
  async fetchLayers(layers: CacheLayer[]): Promise<void> {
    for (const l of layers) await this.fetchBlob(l.descriptor);
  }

  /** Brings the blob `d` into the content store from the source that names it. */
  async fetchBlob(d: Descriptor): Promise<void> {
    if (await this.#content.has(d.digest as Digest)) return;
    const source = this.#sources.get(d.digest);
    if (!source) throw new Error(`No cache source has blob ${d.digest}`);
    await source.fetch(d);
  }
}

function describe(spec: CacheImportSpec): string {
  return spec.type === "registry" ? formatReference(spec.ref) : `${spec.src} (tag ${spec.tag})`;
}

/** Reads every source of `specs`; those that fail are warnings. */
export async function importBuildCache(
  specs: CacheImportSpec[],
  deps: CacheImportDeps,
): Promise<BuildCacheImports> {
  const imports = new BuildCacheImports(deps.content);
  for (const spec of specs) {
    const name = describe(spec);
    try {
      const source = await asVertex(
        deps.progress,
        `importing cache manifest from ${name}`,
        () =>
          spec.type === "registry"
            ? loadRegistryCache(deps.registry, spec.ref, deps.content)
            : loadLocalCache(spec.src, spec.tag, deps.content),
      );
      if (spec.type === "registry") {
        deps.remote?.record(
          source.records.flatMap((r) => r.layers.map((l) => l.descriptor.digest)),
          spec.ref,
        );
      }
      imports.add(source);
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
