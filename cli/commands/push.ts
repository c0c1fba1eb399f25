/**
 * `img push NAME[:TAG]`: upload an image to its registry.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { insecureRegistryOption } from "../ui/options.ts";
import { loadAction } from "./_load_action.ts";

/** The `push` command's options. */
export type PushOptions = { insecureRegistry: string[]; allTags?: true };

/** The `push` command. */
export function pushCommand(): Command<[string], PushOptions> {
  return new Command("push")
    .usage("[OPTIONS] NAME[:TAG]")
    .description("Push an image or a repository to a registry")
    .argument("<name>")
    .option("-a, --all-tags", "push every local tag of the repository")
    .addOption(insecureRegistryOption())
    .action((name, opts, cmd) =>
      loadAction(import("./_push_action.ts")).then((m) => m.pushAction(name, opts, cmd))
    );
}
