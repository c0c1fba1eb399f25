/**
 * The action of `img du`: disk usage of the build cache: snapshots, cache mounts, and the cache
 * records imported with `--cache-from` (`cache.imported`).
 *
 * Loaded by `du.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { diskUsage, importedCacheUsage, type UsageRecord } from "@img/core/gc";
import { ensureRootless } from "@img/core/rootless";
import { type ActionCommand, contextOf } from "../context.ts";
import { type FormatFields, formatListing } from "../ui/format.ts";
import { bytesSize } from "../ui/units.ts";
import {
  checkRecordTypes,
  formatRecords,
  formatRecordsVerbose,
  openBackends,
  sortRecords,
} from "./_cache.ts";
import { goTime, parseFilters } from "./_ls_action.ts";
import type { DuOptions } from "./du.ts";

/** A record's `--format` fields, named as `docker buildx du --format` names them. */
export function recordFields(r: UsageRecord): FormatFields {
  return {
    ID: r.id,
    Parents: r.parent ?? "",
    Type: r.type,
    Description: r.description,
    CreatedAt: goTime(r.createdAt),
    LastUsedAt: r.lastUsedAt ? goTime(r.lastUsedAt) : "",
    Mutable: String(r.mutable),
    Reclaimable: String(!r.inUse),
    InUse: String(r.inUse),
    UsedByImage: String(r.usedByImage),
    Size: bytesSize(r.size),
    RemoteSize: r.remoteSize === undefined ? "" : bytesSize(r.remoteSize),
    Backend: r.backend,
  };
}

const HEADERS: Record<string, string> = {
  ID: "ID",
  Parents: "PARENTS",
  Type: "TYPE",
  Description: "DESCRIPTION",
  CreatedAt: "CREATED AT",
  LastUsedAt: "LAST ACCESSED",
  Mutable: "MUTABLE",
  Reclaimable: "RECLAIMABLE",
  InUse: "IN USE",
  UsedByImage: "USED BY IMAGE",
  Size: "SIZE",
  RemoteSize: "REMOTE SIZE",
  Backend: "BACKEND",
};

/** The `du` command's action. */
export async function duAction(opts: DuOptions, cmd: ActionCommand): Promise<void> {
  const ctx = contextOf(cmd);
  // Snapshot trees hold files of subordinate ids: read them from the user namespace.
  await ensureRootless({ debug: ctx.debug });
  try {
    const filters = parseFilters(opts.filter, ["type", "id"]);
    const types = checkRecordTypes(filters.get("type"));
    const state = ctx.state;
    const deps = { db: state.db, images: state.images, content: state.content };
    let records: UsageRecord[] = [];
    for (const b of await openBackends(ctx)) {
      records.push(...await diskUsage({ ...b, ...deps }));
    }
    records.push(...await importedCacheUsage(deps));
    const ids = filters.get("id");
    records = sortRecords(
      records.filter((r) =>
        (!types || types.includes(r.type)) && (!ids || ids.some((id) => r.id.startsWith(id)))
      ),
    );
    const format = opts.format?.trim();
    const table = format === undefined || format === "table";
    if (!table) {
      const out = formatListing(format, records.map(recordFields), [], HEADERS);
      await Deno.stdout.write(new TextEncoder().encode(out));
      if (!format.startsWith("table ")) return;
    } else {
      const out = ctx.options.debug ? formatRecordsVerbose(records) : formatRecords(records);
      await Deno.stdout.write(new TextEncoder().encode(out));
    }
    const reclaimable = records.filter((r) => !r.inUse).reduce((n, r) => n + r.size, 0);
    const total = records.reduce((n, r) => n + r.size, 0);
    console.log(`Reclaimable:\t${bytesSize(reclaimable)}\nTotal:\t\t${bytesSize(total)}`);
  } finally {
    ctx.close();
  }
}
