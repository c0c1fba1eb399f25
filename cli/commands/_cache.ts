/**
 * What `du` and `prune` share: opening each snapshotter backend of the state dir and
 * printing build-cache records as img does.
 *
 * @module
 */
import { join } from "node:path";
import { ImgError, type Snapshotter } from "@img/core";
import { RECORD_TYPES, type RecordType, type UsageRecord } from "@img/core/gc";
import type { CliContext } from "../context.ts";
import { formatTable } from "../ui/table.ts";
import { bytesSize } from "../ui/units.ts";

/** A snapshotter backend with its cache-mount directory. */
export interface Backend {
  /** The snapshotter. */
  snapshotter: Snapshotter;
  /** Where its cache mounts live. */
  cacheMountsDir: string;
}

/** Opens the snapshotter `name` on its directory of the state dir. */
export async function openBackend(ctx: CliContext, name: string): Promise<Backend> {
  const plugin = await (await ctx.plugins()).get("snapshotter", name);
  const snapshotter = await plugin.create({
    ...ctx.pluginContext,
    root: ctx.state.snapshotsDir(name),
  });
  return { snapshotter, cacheMountsDir: join(ctx.state.dir, "cache-mounts", name) };
}

/** Opens every backend that has snapshots in the state dir (`--backend` limits it to one). */
export async function openBackends(ctx: CliContext): Promise<Backend[]> {
  const chosen = ctx.options.backend;
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(ctx.state.dir, "snapshots"))) {
      if (e.isDirectory) names.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const wanted = chosen === "auto" ? names.sort() : names.filter((n) => n === chosen);
  const loader = await ctx.plugins();
  const out: Backend[] = [];
  for (const name of wanted) {
    if (!loader.has("snapshotter", name)) {
      throw new ImgError(
        `The state dir has snapshots of the ${name} backend, but no such snapshotter plugin is loaded`,
      );
    }
    out.push(await openBackend(ctx, name));
  }
  return out;
}

/** The one-line description of a record, cut to 50 characters. */
function shortDescription(r: UsageRecord): string {
  return r.description.length > 50 ? `${r.description.slice(0, 47)}...` : r.description;
}

/** Prints records as img's `du` table: `ID RECLAIMABLE SIZE DESCRIPTION`. */
export function formatRecords(records: UsageRecord[]): string {
  const rows = [["ID", "RECLAIMABLE", "SIZE", "DESCRIPTION"]];
  for (const r of records) {
    rows.push([
      `${r.id}${r.mutable ? "*" : ""}`,
      String(!r.inUse),
      bytesSize(r.size),
      shortDescription(r),
    ]);
  }
  return formatTable(rows);
}

/** Prints every field of each record, for `--debug`. */
export function formatRecordsVerbose(records: UsageRecord[]): string {
  return records.map((r) =>
    [
      ["ID", `${r.id}${r.mutable ? "*" : ""}`],
      ["Parent", r.parent ?? ""],
      ["Backend", r.backend],
      ["Type", r.type],
      ["Created at", r.createdAt.toISOString()],
      ["Last used", r.lastUsedAt?.toISOString() ?? ""],
      ["Mutable", String(r.mutable)],
      ["Reclaimable", String(!r.inUse)],
      ["In use", String(r.inUse)],
      ["Used by an image", String(r.usedByImage)],
      ["Size", bytesSize(r.size)],
      ...(r.remoteSize === undefined ? [] : [["Remote size", bytesSize(r.remoteSize)]]),
      ["Description", r.description],
    ].map(([k, v]) => `${`${k}:`.padEnd(18)}${v}`).join("\n") + "\n"
  ).join("\n");
}

/** Sorts records as `du` lists them: reclaimable last, biggest first. */
export function sortRecords(records: UsageRecord[]): UsageRecord[] {
  return [...records].sort((a, b) =>
    Number(!a.inUse) - Number(!b.inUse) || b.size - a.size || a.id.localeCompare(b.id)
  );
}

/** Checks `type=` filter values against the record types. */
export function checkRecordTypes(types: string[] | undefined): RecordType[] | undefined {
  for (const t of types ?? []) {
    if (!(RECORD_TYPES as readonly string[]).includes(t)) {
      throw new ImgError(`Invalid type filter "${t}": use ${RECORD_TYPES.join(", ")}`);
    }
  }
  return types as RecordType[] | undefined;
}
