/**
 * `img plugins ls`: every plugin img has, built-in and external (`--plugin`, `IMG_PLUGINS`,
 * the config file), with its kind, name, version, plugin API version and where it was
 * loaded from.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

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
      .action((opts, cmd) =>
        loadAction(import("./_plugins_action.ts")).then((m) => m.pluginsLsAction(opts, cmd))
      ),
  );
  return plugins as unknown as Command;
}
