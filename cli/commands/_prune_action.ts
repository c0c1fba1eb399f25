/**
 * The action of `img prune`: remove unused build cache.
 *
 * Loaded by `prune.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { ImgError } from "@img/core";
import { diskUsage, importedCacheUsage, prune } from "@img/core/gc";
import { ensureRootless } from "@img/core/rootless";
import { type ActionCommand, contextOf } from "../context.ts";
import { readLine } from "../ui/prompt.ts";
import { bytesSize, parseDuration, parseSize } from "../ui/units.ts";
import { checkRecordTypes, formatRecords, openBackends } from "./_cache.ts";
import { parseFilters } from "./_ls_action.ts";
import type { PruneOptions } from "./prune.ts";

/** The `prune` command's action. */
export async function pruneAction(opts: PruneOptions, cmd: ActionCommand): Promise<void> {
  const ctx = contextOf(cmd);
  await ensureRootless({ debug: ctx.debug });
  try {
    const filters = parseFilters(opts.filter, ["until", "type"]);
    let until: Date | undefined;
    for (const u of filters.get("until") ?? []) {
      const ms = /^\d{4}-\d\d-\d\d/.test(u) ? Date.now() - Date.parse(u) : parseDuration(u);
      if (Number.isNaN(ms)) {
        throw new ImgError(`Invalid until filter "${u}": use a duration (24h) or a date`);
      }
      until = new Date(Date.now() - ms);
    }
    const types = checkRecordTypes(filters.get("type"));
    let keepStorage: number | undefined;
    if (opts.keepStorage !== undefined) {
      try {
        keepStorage = parseSize(opts.keepStorage);
      } catch (e) {
        throw new ImgError((e as Error).message);
      }
    }
    // As docker, a terminal is asked first; -f skips the question (pipes never block on it).
    if (!opts.force && Deno.stdin.isTerminal()) {
      const what = opts.all ? "all build cache" : "all dangling build cache";
      const answer = await readLine(
        `WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `,
      );
      if (!/^y(es)?$/i.test(answer.trim())) return;
    }
    const state = ctx.state;
    const backends = await openBackends(ctx);
    const result = await prune(
      { backends, db: state.db, images: state.images, content: state.content },
      { all: opts.all, until, types, keepStorage },
    );
    const deps = { db: state.db, images: state.images, content: state.content };
    let total = (await importedCacheUsage(deps)).reduce((n, r) => n + r.size, 0);
    for (const b of backends) {
      total += (await diskUsage({ ...b, ...deps })).reduce((n, r) => n + r.size, 0);
    }
    if (result.removed.length) {
      await Deno.stdout.write(new TextEncoder().encode(formatRecords(result.removed)));
    }
    if (result.blobsKept) {
      console.error("Blobs were kept: a build or pull is running in this state dir.");
    }
    console.log(`Reclaimed:\t${bytesSize(result.reclaimed)}\nTotal:\t\t${bytesSize(total)}`);
  } finally {
    ctx.close();
  }
}
