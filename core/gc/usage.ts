/**
 * Disk usage of the build cache (`img du`): one record per snapshot of a snapshotter, one per
 * cache-mount directory, and one per cache record imported with `--cache-from`, with what uses
 * it.
 *
 * @module
 */
import * as exact from "../fs/exact.ts";
import { join } from "node:path";
import type { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import type { ImageStore } from "../image/store.ts";
import { loadImage } from "../image/image.ts";
import { isIndexMediaType } from "../media_types.ts";
import { parseIndex } from "../image/image.ts";
import type { Descriptor } from "../schemas.ts";
import type { Snapshotter } from "../snapshotter.ts";
import type { StateDB } from "../state/db.ts";
import { describeCacheSource, listImportedRecords } from "../cache/imported_records.ts";
import { processAlive } from "./leases.ts";

/**
 * The type of a cache record, as BuildKit names them; `cache.imported` is a step's result
 * imported with `--cache-from`, whose layers are downloaded only when a build needs them.
 */
export type RecordType = "regular" | "exec.cachemount" | "cache.imported";

/** Every record type, for filters. */
export const RECORD_TYPES: readonly RecordType[] = ["regular", "exec.cachemount", "cache.imported"];

/** One build-cache record. */
export interface UsageRecord {
  /** The snapshot key (or `cachemount:<dir>`). */
  id: string;
  /** The record's type. */
  type: RecordType;
  /** An active (writable) snapshot. */
  mutable: boolean;
  /** Held by a running build. */
  inUse: boolean;
  /** A layer of an image in the image store. */
  usedByImage: boolean;
  /** Bytes on disk (for an imported record, its layer blobs downloaded so far). */
  size: number;
  /** An imported record: the bytes of its layer blobs in the cache source. */
  remoteSize?: number;
  /** What made it (`mount / from exec /bin/sh -c make`, `pulled from docker.io/...`). */
  description: string;
  /** The parent snapshot. */
  parent?: string;
  /** When it was made. */
  createdAt: Date;
  /** When a build last used it. */
  lastUsedAt?: Date;
  /** The snapshotter backend (`""` for an imported record, which belongs to none). */
  backend: string;
}

/** Every blob digest the images of `images` need (index, manifests, configs, layers). */
export async function imageBlobDigests(
  images: ImageStore,
  content: ContentStore,
): Promise<Set<string>> {
  const out = new Set<string>();
  const visit = async (target: { digest: string; mediaType: string }) => {
    out.add(target.digest);
    if (!(await content.has(target.digest as Digest))) return;
    if (isIndexMediaType(target.mediaType)) {
      const index = parseIndex(
        await content.read(target.digest as Digest),
        `Index ${target.digest}`,
      );
      for (const m of index.manifests) await visit(m);
      return;
    }
    try {
      const image = await loadImage(content, target as never);
      out.add(image.manifest.config.digest);
      for (const l of image.manifest.layers) out.add(l.digest);
    } catch {
      // A manifest whose blobs are gone still keeps its own digest.
    }
  };
  for (const rec of images.list()) await visit(rec.target);
  return out;
}

async function dirSize(path: string): Promise<number> {
  let size = 0;
  const seen = new Set<number>();
  const walk = async (p: string) => {
    for (const name of await exact.readDirNames(p)) {
      const full = join(p, name);
      const st = await exact.lstatAsync(full);
      if (st.ino !== null && seen.has(st.ino)) continue;
      if (st.ino !== null) seen.add(st.ino);
      size += (st.blocks ?? 0) * 512;
      if (st.isDirectory) await walk(full);
    }
  };
  await walk(path).catch(() => {});
  return size;
}

/** What {@linkcode diskUsage} reads. */
export interface UsageDeps {
  /** The snapshotter whose snapshots are listed. */
  snapshotter: Snapshotter;
  /** The state database (cache and layer records, leases). */
  db: StateDB;
  /** The image store. */
  images: ImageStore;
  /** The content store. */
  content: ContentStore;
  /** The directory of this backend's cache mounts. */
  cacheMountsDir: string;
}

/** Lists the build-cache records of one snapshotter backend. */
export async function diskUsage(deps: UsageDeps): Promise<UsageRecord[]> {
  const backend = deps.snapshotter.name;
  const leased = new Set(
    deps.db.all<{ kind: string; ref: string; pid: number }>(
      "SELECT kind, ref, leases.pid AS pid FROM lease_refs JOIN leases ON leases.id = lease_refs.lease",
    ).filter((r) => processAlive(r.pid, deps.db)).map((r) => `${r.kind}:${r.ref}`),
  );
  const imageBlobs = await imageBlobDigests(deps.images, deps.content);
  const layerOf = new Map(
    deps.db.all<{ snapshot: string; digest: string }>(
      "SELECT snapshot, digest FROM layers WHERE backend = ?",
      backend,
    )
      .map((r) => [r.snapshot, r.digest]),
  );
  const lastUsed = new Map(
    deps.db.all<{ snapshot: string; last_used: number }>(
      "SELECT snapshot, last_used FROM cache WHERE backend = ?",
      backend,
    )
      .map((r) => [r.snapshot, r.last_used]),
  );
  const infos = [];
  for await (const info of deps.snapshotter.walk()) infos.push(info);
  // A snapshot an image uses keeps its ancestors in use too.
  const byKey = new Map(infos.map((i) => [i.key, i]));
  const usedByImage = new Set<string>();
  for (const info of infos) {
    const digest = layerOf.get(info.key);
    if (digest && imageBlobs.has(digest)) {
      for (
        let k: string | undefined = info.key;
        k && !usedByImage.has(k);
        k = byKey.get(k)?.parent
      ) usedByImage.add(k);
    }
  }
  const records: UsageRecord[] = [];
  for (const info of infos) {
    if (info.kind === "view") continue;
    const usage = await deps.snapshotter.usage(info.key).catch(() => ({ size: 0, inodes: 0 }));
    const used = lastUsed.get(info.key);
    records.push({
      id: info.key,
      type: "regular",
      mutable: info.kind === "active",
      inUse: leased.has(`snapshot:${info.key}`),
      usedByImage: usedByImage.has(info.key),
      size: usage.size,
      description: info.labels?.["img.description"] ?? "",
      ...(info.parent ? { parent: info.parent } : {}),
      createdAt: info.created,
      ...(used ? { lastUsedAt: new Date(used) } : {}),
      backend,
    });
  }
  try {
    for await (const e of Deno.readDir(deps.cacheMountsDir)) {
      if (!e.isDirectory) continue;
      const path = join(deps.cacheMountsDir, e.name);
      const st = await Deno.stat(path);
      records.push({
        id: `cachemount:${e.name}`,
        type: "exec.cachemount",
        mutable: true,
        inUse: leased.has(`cachemount:${e.name}`),
        usedByImage: false,
        size: await dirSize(path),
        description: `cache mount ${e.name}`,
        createdAt: st.birthtime ?? st.mtime ?? new Date(0),
        ...(st.mtime ? { lastUsedAt: st.mtime } : {}),
        backend,
      });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return records;
}

/** What {@linkcode importedCacheUsage} reads. */
export interface ImportedUsageDeps {
  /** The state database. */
  db: StateDB;
  /** The image store. */
  images: ImageStore;
  /** The content store. */
  content: ContentStore;
}

/**
 * The cache records imported with `--cache-from` that builds used (`cache.imported`). Each
 * layer blob is counted once, in the record with the shortest chain that has it (a step's
 * record shares its base layers with the steps before it); its size is what is downloaded.
 */
export async function importedCacheUsage(deps: ImportedUsageDeps): Promise<UsageRecord[]> {
  const kept = listImportedRecords(deps.db);
  if (kept.length === 0) return [];
  const imageBlobs = await imageBlobDigests(deps.images, deps.content);
  const counted = new Set<string>();
  const own = new Map<string, Descriptor[]>();
  for (const r of [...kept].sort((a, b) => a.layers.length - b.layers.length)) {
    const mine: Descriptor[] = [];
    for (const l of r.layers) {
      if (counted.has(l.descriptor.digest)) continue;
      counted.add(l.descriptor.digest);
      mine.push(l.descriptor);
    }
    own.set(r.key, mine);
  }
  const records: UsageRecord[] = [];
  for (const r of kept) {
    let size = 0;
    let remoteSize = 0;
    for (const d of own.get(r.key) ?? []) {
      remoteSize += d.size;
      if (await deps.content.has(d.digest as Digest)) size += d.size;
    }
    records.push({
      id: `imported:${r.key}`,
      type: "cache.imported",
      mutable: false,
      inUse: false,
      usedByImage: r.layers.length > 0 &&
        r.layers.every((l) => imageBlobs.has(l.descriptor.digest)),
      size,
      remoteSize,
      description: `imported from ${describeCacheSource(r.source)}: ${r.description}`,
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
      backend: "",
    });
  }
  return records;
}
