/**
 * The action of `img version [--format F]`: img's version, Deno's, the platform and the plugins.
 *
 * `--format` is `docker version --format`'s: `json` (the whole data on one line) or a Go
 * template over it (`{{.Client.Version}}`, `{{json .Client.Plugins}}`). img has no server:
 * `Server` is `null`, as docker prints it without a daemon.
 *
 * Loaded by `version.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { formatPlatform, hostPlatform } from "@img/core";
import { type ActionCommand, contextOf } from "../context.ts";
import { renderTemplate } from "../ui/format.ts";
import { VERSION } from "../version.ts";
import type { VersionOptions } from "./version.ts";

/** The `version` command's action. */
export async function versionAction(opts: VersionOptions, cmd: ActionCommand): Promise<void> {
  const ctx = contextOf(cmd);
  const loader = await ctx.plugins();
  const plugins = await loader.list();
  const platform = hostPlatform();
  if (opts.format !== undefined) {
    const data = {
      Client: {
        Version: VERSION,
        DenoVersion: Deno.version.deno,
        V8Version: Deno.version.v8,
        TypeScriptVersion: Deno.version.typescript,
        Os: platform.os,
        Arch: platform.architecture,
        Platform: formatPlatform(platform),
        Plugins: plugins.map(({ plugin, source }) => ({
          Kind: plugin.kind,
          Name: plugin.name,
          Version: plugin.version,
          Source: source,
        })),
      },
      Server: null,
    };
    const format = opts.format.trim();
    console.log(format === "json" ? JSON.stringify(data) : renderTemplate(opts.format, data));
    return;
  }
  const lines = [
    ["version", VERSION],
    ["deno version", Deno.version.deno],
    ["v8 version", Deno.version.v8],
    ["typescript", Deno.version.typescript],
    ["platform", formatPlatform(platform)],
  ];
  for (const { plugin, source } of plugins) {
    lines.push([
      `${plugin.kind} plugin`,
      `${plugin.name} ${plugin.version}${source === "builtin" ? "" : ` (${source})`}`,
    ]);
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  console.log(lines.map(([k, v]) => `${k.padEnd(width)} : ${v}`).join("\n"));
}
