/**
 * `img tag SOURCE TARGET`: another name for an image.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { loadAction } from "./_load_action.ts";

/** The `tag` command. */
export function tagCommand(): Command<[string, string]> {
  return new Command("tag")
    .usage("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    .description("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .argument("<source>")
    .argument("<target>")
    .action((source, target, _opts, cmd) =>
      loadAction(import("./_tag_action.ts")).then((m) => m.tagAction(source, target, _opts, cmd))
    );
}
