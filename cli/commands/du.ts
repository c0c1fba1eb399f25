/**
 * `img du`: disk usage of the build cache.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { ImgError } from "@img/core";
import { diskUsage, type UsageRecord } from "@img/core/gc";
import { ensureRootless } from "@img/core/rootless";
import { contextOf } from "../program.ts";
import { collect } from "../ui/options.ts";
import { bytesSize } from "../ui/units.ts";
import { formatRecords, formatRecordsVerbose, openBackends, sortRecords } from "./_cache.ts";
import { parseFilters } from "./ls.ts";

/** The `du` command. */
export function duCommand(): Command<[], { filter: string[] }> {
  return new Command("du")
    .usage("[OPTIONS]")
    .description("Show image disk usage")
    .option(
      "-f, --filter <filter>",
      "filter output based on conditions provided (type=, id=)",
      collect,
      [] as string[],
    )
    .action(async (opts, cmd) => {
      const ctx = contextOf(cmd);
      // Snapshot trees hold files of subordinate ids: read them from the user namespace.
      await ensureRootless({ debug: ctx.debug });
      try {
        const filters = parseFilters(opts.filter, ["type", "id"]);
        for (const t of filters.get("type") ?? []) {
          if (t !== "regular" && t !== "exec.cachemount") {
            throw new ImgError(`Invalid type filter "${t}": use regular or exec.cachemount`);
          }
        }
        const state = ctx.state;
        let records: UsageRecord[] = [];
        for (const b of await openBackends(ctx)) {
          records.push(
            ...await diskUsage({
              ...b,
              db: state.db,
              images: state.images,
              content: state.content,
            }),
          );
        }
        const types = filters.get("type");
        const ids = filters.get("id");
        records = sortRecords(
          records.filter((r) =>
            (!types || types.includes(r.type)) && (!ids || ids.some((id) => r.id.startsWith(id)))
          ),
        );
        const out = ctx.options.debug ? formatRecordsVerbose(records) : formatRecords(records);
        const reclaimable = records.filter((r) => !r.inUse).reduce((n, r) => n + r.size, 0);
        const total = records.reduce((n, r) => n + r.size, 0);
        console.log(`${out}Reclaimable:\t${bytesSize(reclaimable)}\nTotal:\t\t${bytesSize(total)}`);
      } finally {
        ctx.close();
      }
    });
}
