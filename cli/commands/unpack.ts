/**
 * `img unpack IMAGE [-o DIR]`: an image's root filesystem as a directory.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `unpack` command's options. */
export type UnpackOptions = { output: string; platform?: string };

/** The `unpack` command. */
export function unpackCommand(): Command<[string], UnpackOptions> {
  return new Command("unpack")
    .usage("[OPTIONS] IMAGE")
    .description("Unpack an image to a rootfs directory")
    .argument("<image>")
    .option("-o, --output <dir>", "directory to unpack the rootfs to", "rootfs")
    .option(
      "--platform <platform>",
      "the platform to unpack from a multi-platform image (default: the host's)",
    )
    .action((input, opts, cmd) =>
      loadAction(import("./_unpack_action.ts")).then((m) => m.unpackAction(input, opts, cmd))
    );
}
