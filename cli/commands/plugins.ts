/**
 * `img plugins ls`: every plugin img has, built-in and external (`--plugin`, `IMG_PLUGINS`,
 * the config file), with its kind, name, version, plugin API version and where it was
 * loaded from.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import type { LoadedPlugin } from "@img/core";
import { contextOf } from "../program.ts";
import { formatTable } from "../ui/table.ts";

/** Formats plugins as the `plugins ls` table: `KIND NAME VERSION API SOURCE`. */
export function formatPlugins(plugins: readonly LoadedPlugin[]): string {
  const rows = [["KIND", "NAME", "VERSION", "API", "SOURCE"]];
  for (const { plugin, source } of plugins) {
    rows.push([plugin.kind, plugin.name, plugin.version, String(plugin.apiVersion), source]);
  }
  return formatTable(rows);
}

/** The `plugins` command and its `ls` subcommand. */
export function pluginsCommand(): Command {
  const plugins = new Command("plugins")
    .usage("COMMAND")
    .description("Manage plugins")
    .helpCommand(false);
  plugins.addCommand(
    new Command("ls")
      .alias("list")
      .description("List the plugins: built-in and loaded with --plugin, IMG_PLUGINS or the config")
      .action(async (_opts, cmd) => {
        const ctx = contextOf(cmd);
        const loader = await ctx.plugins();
        Deno.stdout.writeSync(new TextEncoder().encode(formatPlugins(await loader.list())));
      }),
  );
  return plugins as unknown as Command;
}
