/**
 * The action of `img plugins ls`: the table of every plugin img has, built-in and external.
 *
 * Loaded by `plugins.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import type { LoadedPlugin } from "@img/core/loader";
import { type ActionCommand, contextOf } from "../context.ts";
import { formatTable } from "../ui/table.ts";

/** Formats plugins as the `plugins ls` table: `KIND NAME VERSION API SOURCE`. */
export function formatPlugins(plugins: readonly LoadedPlugin[]): string {
  const rows = [["KIND", "NAME", "VERSION", "API", "SOURCE"]];
  for (const { plugin, source } of plugins) {
    rows.push([plugin.kind, plugin.name, plugin.version, String(plugin.apiVersion), source]);
  }
  return formatTable(rows);
}

/** The `plugins ls` command's action. */
export async function pluginsLsAction(_opts: unknown, cmd: ActionCommand): Promise<void> {
  const ctx = contextOf(cmd);
  const loader = await ctx.plugins();
  Deno.stdout.writeSync(new TextEncoder().encode(formatPlugins(await loader.list())));
}
