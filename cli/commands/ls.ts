/**
 * `img ls`: list images.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `ls` command's options. */
export type LsOptions = { filter: string[]; quiet?: true; format?: string };

/** The `ls` command. */
export function lsCommand(): Command<[], LsOptions> {
  return new Command("ls")
    .usage("[OPTIONS]")
    .description("List images and digests")
    .option(
      "-f, --filter <filter>",
      "filter output based on conditions provided (reference=, label=, before=, since=, dangling=)",
      (v, p: string[]) => [...p, v],
      [] as string[],
    )
    .option("-q, --quiet", "only show image IDs")
    .option(
      "--format <format>",
      "table, json, or a Go template ({{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.Size}}, {{.CreatedAt}}, {{.CreatedSince}})",
    )
    .action((opts, cmd) =>
      loadAction(import("./_ls_action.ts")).then((m) => m.lsAction(opts, cmd))
    );
}
