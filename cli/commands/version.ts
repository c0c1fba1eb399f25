/**
 * `img version`: img's version, Deno's, the platform and the plugins.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { formatPlatform, hostPlatform } from "@img/core";
import { contextOf } from "../program.ts";
import { VERSION } from "../version.ts";

/** The `version` command. */
export function versionCommand(): Command {
  return new Command("version")
    .description("Show the version information")
    .action(async (_opts, cmd) => {
      const ctx = contextOf(cmd);
      const loader = await ctx.plugins();
      const lines = [
        ["version", VERSION],
        ["deno version", Deno.version.deno],
        ["v8 version", Deno.version.v8],
        ["typescript", Deno.version.typescript],
        ["platform", formatPlatform(hostPlatform())],
      ];
      for (const { plugin, source } of await loader.list()) {
        lines.push([
          `${plugin.kind} plugin`,
          `${plugin.name} ${plugin.version}${source === "builtin" ? "" : ` (${source})`}`,
        ]);
      }
      const width = Math.max(...lines.map(([k]) => k.length));
      console.log(lines.map(([k, v]) => `${k.padEnd(width)} : ${v}`).join("\n"));
    });
}
