/**
 * `img rm IMAGE...`: remove image names.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `rm` command's options. */
export type RmOptions = { force?: true };

/** The `rm` command. */
export function rmCommand(): Command<[string[]], RmOptions> {
  return new Command("rm")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .description("Remove one or more images")
    .argument("<image...>")
    .option("-f, --force", "remove an image ID that several repositories name")
    .action((names, opts, cmd) =>
      loadAction(import("./_rm_action.ts")).then((m) => m.rmAction(names, opts, cmd))
    );
}
