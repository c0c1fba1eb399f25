/**
 * `--cache-to`: the steps of a build as a cache artifact in a registry or a local directory.
 * A failed export fails the build unless `ignore-error=true`, as buildx does.
 *
 * @module
 */
import type { ContentStore } from "../content/store.ts";
import { ImgError } from "../errors.ts";
import type { ResultLayer } from "../exporter.ts";
import type { LayerCompression } from "../media_types.ts";
import type { ProgressWriter } from "../progress.ts";
import { formatReference, type Reference } from "../reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { RemoteBlobStore } from "../registry/transfer.ts";
import type { Descriptor } from "../schemas.ts";
import type { SolvedStep } from "../solver.ts";
import { asVertex } from "./_vertex.ts";
import { buildCacheArtifact, type CacheExportRecord, type InlineCache } from "./format.ts";
import type { BuildCacheImports } from "./imports.ts";
import { saveLocalCache } from "./local_cache.ts";
import { saveRegistryCache } from "./registry_cache.ts";
import type { CacheExportSpec } from "./spec.ts";
import { isNamespaceNeeded } from "../rootless/without_namespace.ts";

/** What exporting the cache needs. */
export interface CacheExportDeps {
  /** The content store with the layer blobs. */
  content: ContentStore;
  /** Talks to registries. */
  registry: RegistryClient;
  /** Where progress and warnings go. */
  progress: ProgressWriter;
  /** The layers of a snapshot's chain in `compression` (the same blobs the images use). */
  layersOf(snapshot: string, compression: LayerCompression): Promise<ResultLayer[]>;
  /** The imported cache, for blobs of records that were never needed locally. */
  imports?: BuildCacheImports;
  /** Repositories this build pushed to, to mount blobs from instead of uploading them. */
  pushed: Reference[];
  /** Remote blobs: repositories known to have a layer, to mount it from. */
  remote?: Pick<RemoteBlobStore, "mountSource">;
}

async function records(
  spec: CacheExportSpec,
  steps: SolvedStep[],
  deps: CacheExportDeps,
): Promise<CacheExportRecord[]> {
  const out: CacheExportRecord[] = [];
  for (const step of steps) {
    if (spec.mode === "min" && !step.final) continue;
    const layers = step.snapshot !== undefined
      ? (await deps.layersOf(step.snapshot, spec.compression)).map((l) => ({
        descriptor: l.descriptor,
        diffID: l.diffID,
      }))
      : step.layers ?? [];
    if (layers.length) out.push({ key: step.key, description: step.description, layers });
  }
  return out;
}

/** Exports `steps` to every target of `specs`. */
export async function exportBuildCache(
  specs: CacheExportSpec[],
  steps: SolvedStep[],
  deps: CacheExportDeps,
): Promise<void> {
  // Blobs of imported records that their source no longer has (a record saved in the state
  // by an earlier build): such records are left out of the export, with a warning.
  const unavailable = new Map<string, string>();
  const ensure = async (d: Descriptor) => {
    if (!deps.imports) throw new ImgError(`Layer ${d.digest} is not in the content store`);
    try {
      await deps.imports.fetchBlob(d);
    } catch (e) {
      unavailable.set(d.digest, e instanceof Error ? e.message : String(e));
      throw e;
    }
  };
  const available = (r: CacheExportRecord) =>
    r.layers.every((l) => !unavailable.has(l.descriptor.digest));
  for (const spec of specs) {
    // An inline cache is in the image's config already (see inlineCache).
    if (spec.type === "inline") continue;
    const name = spec.type === "registry"
      ? `exporting cache to ${formatReference(spec.ref)}`
      : `exporting cache to ${spec.dest} (tag ${spec.tag})`;
    try {
      await asVertex(deps.progress, name, async () => {
        const all = await records(spec, steps, deps);
        while (true) {
          const known = unavailable.size;
          const kept = all.filter(available);
          const artifact = buildCacheArtifact(kept);
          try {
            if (spec.type === "registry") {
              const mountFrom = deps.pushed.find((r) =>
                r.domain === spec.ref.domain && r.path !== spec.ref.path
              );
              await saveRegistryCache(deps.registry, spec.ref, artifact, deps.content, {
                mountFrom,
                remote: {
                  mountSource: (digest, target) => deps.remote?.mountSource(digest, target),
                  fetch: async (descriptors) => {
                    for (const d of descriptors) await ensure(d);
                  },
                },
              });
            } else {
              await saveLocalCache(spec.dest, spec.tag, artifact, deps.content, ensure);
            }
            if (kept.length < all.length) {
              deps.progress.write({
                type: "warning",
                message: `${
                  all.length - kept.length
                } imported cache record(s) left out of ${name}: ${[...unavailable.values()][0]}`,
                time: Date.now(),
              });
            }
            return;
          } catch (e) {
            // Again without the records whose blobs turned out to be gone, while that helps.
            if (unavailable.size === known) throw e;
          }
        }
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (isNamespaceNeeded(e)) throw e; // not a failure: the build goes on in the namespace
      if (!spec.ignoreError) {
        throw new ImgError(
          `Exporting the build cache failed: ${message} (add ignore-error=true to --cache-to to build anyway)`,
          { cause: e },
        );
      }
      deps.progress.write({
        type: "warning",
        message: `Exporting the build cache failed, ignored: ${message}`,
        time: Date.now(),
      });
    }
  }
}

/**
 * The inline cache of an image (`--cache-to type=inline`): the steps of its final stage, each
 * as the number of the image's layers its result is. `chainLength` counts a snapshot's chain.
 */
export async function inlineCache(
  steps: SolvedStep[],
  chainLength: (snapshot: string) => Promise<number>,
): Promise<InlineCache> {
  const records: InlineCache["records"] = [];
  for (const step of steps) {
    if (!step.final) continue;
    const layers = step.snapshot !== undefined
      ? await chainLength(step.snapshot)
      : step.layers?.length ?? 0;
    if (layers > 0) records.push({ key: step.key, description: step.description, layers });
  }
  return { records };
}
