/**
 * `img save IMAGE... [--format NAME] [-o FILE]`: images as an archive, written by the exporter
 * plugin `NAME` (`docker`, the default, or `oci`; any exporter that implements
 * `saveImages`, a third-party one too).
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `save` command's options. */
export type SaveOptions = { format: string; output?: string; platform?: string };

/** The `save` command. */
export function saveCommand(): Command<[string[]], SaveOptions> {
  return new Command("save")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .description("Save one or more images to a tar archive (streamed to STDOUT by default)")
    .argument("<image...>")
    .option(
      "--format <format>",
      "format of the archive, an exporter that can save images: docker (docker load) or oci (OCI image layout)",
      "docker",
    )
    .option("-o, --output <file>", "write to a file, instead of STDOUT")
    .option(
      "--platform <platform>",
      "save only this platform of a multi-platform image (default: the whole index)",
    )
    .action((inputs, opts, cmd) =>
      loadAction(import("./_save_action.ts")).then((m) => m.saveAction(inputs, opts, cmd))
    );
}
