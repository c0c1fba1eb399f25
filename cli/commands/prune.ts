/**
 * `img prune`: remove unused build cache.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { collect } from "../ui/options.ts";
import { RECORD_TYPE_NAMES } from "./_record_types.ts";
import { loadAction } from "./_load_action.ts";

/** The `prune` command's options. */
export type PruneOptions = { filter: string[]; keepStorage?: string; all?: boolean; force?: true };

/** The `prune` command. */
export function pruneCommand(): Command<[], PruneOptions> {
  return new Command("prune")
    .usage("[OPTIONS]")
    .description("Prune and clean up the build cache")
    .option("-a, --all", "remove all unused build cache, not just what no image uses")
    .option("-f, --force", "do not prompt for confirmation")
    .option(
      "--filter <filter>",
      `provide filter values (until=24h, type=${RECORD_TYPE_NAMES.join("|")})`,
      collect,
      [] as string[],
    )
    .option("--keep-storage <size>", "amount of disk space to keep for cache (e.g. 10GB)")
    .action((opts, cmd) =>
      loadAction(import("./_prune_action.ts")).then((m) => m.pruneAction(opts, cmd))
    );
}
