/**
 * `img pull NAME[:TAG|@DIGEST]`: fetch an image from a registry into the local store;
 * `-a/--all-tags`: every tag the registry lists for the repository.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { insecureRegistryOption } from "../ui/options.ts";
import { loadAction } from "./_load_action.ts";

/** The `pull` command's options. */
export type PullOptions = {
  platform?: string;
  allPlatforms?: boolean;
  insecureRegistry: string[];
  allTags?: true;
};

/** The `pull` command. */
export function pullCommand(): Command<[string], PullOptions> {
  return new Command("pull")
    .usage("[OPTIONS] NAME[:TAG|@DIGEST]")
    .description("Pull an image or a repository from a registry")
    .argument("<name>")
    .option(
      "--platform <platform>",
      "set platform if server is multi-platform capable (e.g. linux/arm64)",
    )
    .option("-a, --all-tags", "download all tagged images in the repository")
    .option("--all-platforms", "pull every platform of a multi-platform image (its index)")
    .addOption(insecureRegistryOption())
    .action((name, opts, cmd) =>
      loadAction(import("./_pull_action.ts")).then((m) => m.pullAction(name, opts, cmd))
    );
}
