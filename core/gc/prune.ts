/**
 * `img prune`: removes build cache that nothing needs. It never removes what an image
 * references or what a running build holds (see leases): each removal is claimed in a
 * transaction that a build's lease would have blocked. Imported cache records (`--cache-from`)
 * are forgotten, and the blobs they downloaded removed with the other unneeded blobs; a later
 * build then misses on them and runs the step (or imports it again).
 *
 * @module
 */
import { join } from "node:path";
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import type { ImageStore } from "../image/store.ts";
import type { Snapshotter } from "../snapshotter.ts";
import type { StateDB } from "../state/db.ts";
import { clearContextHashes } from "../solver/hash_cache.ts";
import { anyLiveLease, doom, dropDeadLeases, releaseDoomed } from "./leases.ts";
import { forgetImportedRecord, listImportedRecords } from "../cache/imported_records.ts";
import {
  diskUsage,
  imageBlobDigests,
  importedCacheUsage,
  type RecordType,
  type UsageRecord,
} from "./usage.ts";

/** What to prune. */
export interface PruneOptions {
  /** Also remove cache that images use (their blobs stay), and unreferenced blobs. */
  all?: boolean;
  /** Only records last used before this time. */
  until?: Date;
  /** Only records of these types. */
  types?: RecordType[];
  /** Keep this many bytes of cache: remove least recently used records until under it. */
  keepStorage?: number;
}

/** What a prune did. */
export interface PruneResult {
  /** The records removed. */
  removed: UsageRecord[];
  /** Bytes freed by removed records (and blobs). */
  reclaimed: number;
  /** Blobs removed. */
  blobs: number;
  /** Blobs kept because a build was running. */
  blobsKept: boolean;
}

/** What a prune works on. */
export interface PruneDeps {
  /** Each snapshotter backend present in the state dir, with its cache-mount dir. */
  backends: { snapshotter: Snapshotter; cacheMountsDir: string }[];
  /** The state database. */
  db: StateDB;
  /** The image store. */
  images: ImageStore;
  /** The content store. */
  content: ContentStore;
}

/** Removes unused build cache, and with `all`, every blob no image references. */
export async function prune(deps: PruneDeps, options: PruneOptions = {}): Promise<PruneResult> {
  dropDeadLeases(deps.db);
  const result: PruneResult = { removed: [], reclaimed: 0, blobs: 0, blobsKept: false };
  const quiet = !anyLiveLease(deps.db);
  // Every record of every backend, and the imported ones (which belong to no backend).
  const records: UsageRecord[] = [];
  const backendOf = new Map<string, PruneDeps["backends"][number]>();
  for (const b of deps.backends) {
    // Views left by killed builds would keep their parents; with no build running, none is in use.
    if (quiet) {
      for await (const info of b.snapshotter.walk()) {
        if (info.kind === "view") await b.snapshotter.remove(info.key).catch(() => {});
      }
    }
    backendOf.set(b.snapshotter.name, b);
    records.push(
      ...await diskUsage({
        snapshotter: b.snapshotter,
        db: deps.db,
        images: deps.images,
        content: deps.content,
        cacheMountsDir: b.cacheMountsDir,
      }),
    );
  }
  records.push(...await importedCacheUsage(deps));
  const lastUse = (r: UsageRecord) => (r.lastUsedAt ?? r.createdAt).getTime();
  let candidates = records.filter((r) =>
    !r.inUse && (options.all || !r.usedByImage) &&
    (!options.types?.length || options.types.includes(r.type)) &&
    (!options.until || lastUse(r) < options.until.getTime())
  );
  if (options.keepStorage !== undefined) {
    // Least recently used first, until what is left fits.
    let total = records.reduce((n, r) => n + r.size, 0);
    const chosen: UsageRecord[] = [];
    for (const r of [...candidates].sort((a, b) => lastUse(a) - lastUse(b))) {
      if (total <= options.keepStorage) break;
      chosen.push(r);
      total -= r.size;
    }
    candidates = chosen;
  }
  const id = (backend: string, key: string) => `${backend}\0${key}`;
  const children = new Map<string, number>();
  for (const r of records) {
    if (r.parent) {
      children.set(id(r.backend, r.parent), (children.get(id(r.backend, r.parent)) ?? 0) + 1);
    }
  }
  const pending = new Set(candidates.map((r) => id(r.backend, r.id)));
  // Remove leaves first; a parent goes once all its children have.
  let progress = true;
  while (progress) {
    progress = false;
    for (const r of candidates) {
      const rid = id(r.backend, r.id);
      if (!pending.has(rid) || (children.get(rid) ?? 0) > 0) continue;
      pending.delete(rid);
      if (r.type === "cache.imported") {
        // Only the record: its blobs go below with the others no record or image needs.
        if (!forgetImportedRecord(deps.db, r.id.slice("imported:".length))) continue;
        result.removed.push(r);
        progress = true;
        continue;
      }
      const { snapshotter, cacheMountsDir } = backendOf.get(r.backend)!;
      if (r.type === "exec.cachemount") {
        const name = r.id.slice("cachemount:".length);
        if (!doom(deps.db, "cachemount", name)) continue;
        await Deno.remove(join(cacheMountsDir, name), { recursive: true }).catch(() => {});
        releaseDoomed(deps.db, "cachemount", name);
      } else {
        if (!doom(deps.db, "snapshot", r.id)) continue;
        try {
          deps.db.run("DELETE FROM cache WHERE backend = ? AND snapshot = ?", r.backend, r.id);
          deps.db.run("DELETE FROM layers WHERE backend = ? AND snapshot = ?", r.backend, r.id);
          await snapshotter.remove(r.id);
        } finally {
          releaseDoomed(deps.db, "snapshot", r.id);
        }
        if (r.parent) {
          const p = id(r.backend, r.parent);
          children.set(p, (children.get(p) ?? 1) - 1);
        }
      }
      result.removed.push(r);
      result.reclaimed += r.size;
      progress = true;
    }
  }
  // Digests of context files: only a cache of what the files hold (a build reads them again).
  clearContextHashes(deps.db, options.all ? undefined : options.until);
  // Blobs: those images reference stay, and those the remaining layer records name (a cache of
  // built layers) stay unless `all`. Blobs are left alone while a build runs.
  if (!quiet || anyLiveLease(deps.db)) {
    result.blobsKept = true;
    return result;
  }
  const keep = await imageBlobDigests(deps.images, deps.content);
  if (!options.all) {
    for (const r of deps.db.all<{ digest: string }>("SELECT digest FROM layers")) {
      keep.add(r.digest);
    }
  }
  // The imported records left keep the blobs they downloaded.
  for (const r of listImportedRecords(deps.db)) {
    for (const l of r.layers) keep.add(l.descriptor.digest);
  }
  if (
    options.all || !options.types?.length || options.types.includes("regular") ||
    options.types.includes("cache.imported")
  ) {
    for await (const blob of deps.content.list()) {
      if (keep.has(blob.digest)) continue;
      if (
        !options.all && options.until &&
        (await Deno.stat(deps.content.path(blob.digest as Digest))).mtime! >= options.until
      ) {
        continue;
      }
      await deps.content.delete(blob.digest as Digest);
      deps.db.run("DELETE FROM layers WHERE digest = ?", blob.digest);
      result.blobs++;
      result.reclaimed += blob.size;
    }
  }
  // Partial downloads of killed processes (a running pull holds a lease, so none is running).
  await deps.content.cleanIngest(60_000);
  return result;
}
