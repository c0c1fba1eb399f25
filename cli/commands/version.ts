/**
 * `img version [--format F]`: img's version, Deno's, the platform and the plugins.
 *
 * `--format` is `docker version --format`'s: `json` (the whole data on one line) or a Go
 * template over it (`{{.Client.Version}}`, `{{json .Client.Plugins}}`). img has no server:
 * `Server` is `null`, as docker prints it without a daemon.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `version` command's options. */
export type VersionOptions = { format?: string };

/** The `version` command. */
export function versionCommand(): Command<[], VersionOptions> {
  return new Command("version")
    .description("Show the version information")
    .option(
      "-f, --format <format>",
      "json, or a Go template ({{.Client.Version}}, {{.Client.DenoVersion}}, {{.Client.Os}}, {{.Client.Arch}}, {{json .Client.Plugins}})",
    )
    .action((opts, cmd) =>
      loadAction(import("./_version_action.ts")).then((m) => m.versionAction(opts, cmd))
    );
}
