/**
 * `img du`: disk usage of the build cache: snapshots, cache mounts, and the cache records
 * imported with `--cache-from` (`cache.imported`).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { collect } from "../ui/options.ts";
import { RECORD_TYPE_NAMES } from "./_record_types.ts";
import { loadAction } from "./_load_action.ts";

/** The `du` command's options. */
export type DuOptions = { filter: string[]; format?: string };

/** The `du` command. */
export function duCommand(): Command<[], DuOptions> {
  return new Command("du")
    .usage("[OPTIONS]")
    .description("Show image disk usage")
    .option(
      "-f, --filter <filter>",
      `filter output based on conditions provided (type=${RECORD_TYPE_NAMES.join("|")}, id=)`,
      collect,
      [] as string[],
    )
    .option(
      "--format <format>",
      "table, json, or a Go template ({{.ID}}, {{.Type}}, {{.Size}}, {{.LastUsedAt}}, {{.Description}}, ...)",
    )
    .action((opts, cmd) =>
      loadAction(import("./_du_action.ts")).then((m) => m.duAction(opts, cmd))
    );
}
