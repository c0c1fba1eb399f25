/**
 * `img pull NAME[:TAG|@DIGEST]`: fetch an image from a registry into the local store.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  formatPlatform,
  formatReference,
  hostPlatform,
  ImgError,
  parsePlatform,
  parseReference,
} from "@img/core";
import { Lease } from "@img/core/gc";
import { platformChooser, pull } from "@img/core/registry";
import { contextOf } from "../program.ts";
import { TransferReporter } from "../ui/transfer.ts";
import { bytesSize } from "../ui/units.ts";
import { insecureRegistryOption } from "../ui/options.ts";

/** The `pull` command. */
export function pullCommand(): Command<
  [string],
  { platform?: string; insecureRegistry: string[]; allTags?: true }
> {
  return new Command("pull")
    .usage("[OPTIONS] NAME[:TAG|@DIGEST]")
    .description("Pull an image or a repository from a registry")
    .argument("<name>")
    .option(
      "--platform <platform>",
      "set platform if server is multi-platform capable (e.g. linux/arm64)",
    )
    .option("-a, --all-tags", "download all tagged images in the repository (not supported yet)")
    .addOption(insecureRegistryOption())
    .action(async (name, opts, cmd) => {
      if (opts.allTags) {
        throw new ImgError(
          "img pull --all-tags is not supported yet: img cannot list a repository's tags; pull each tag by name",
        );
      }
      const ctx = contextOf(cmd);
      try {
        const ref = parseReference(name);
        const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
        console.log(`Pulling ${formatReference(ref)}...`);
        const client = await ctx.registry(opts.insecureRegistry);
        const state = ctx.state;
        const reporter = new TransferReporter("Pulling", ctx.debug);
        // A prune running meanwhile keeps the blobs this pull is storing.
        using _lease = Lease.acquire(state.db);
        const result = await pull(client, ref, state.content, {
          choose: platformChooser(platform),
          onProgress: reporter.update,
        });
        reporter.done();
        const manifest = { ...result.manifest };
        if (!manifest.platform && result.index === undefined) delete manifest.platform;
        state.images.put(formatReference(ref), manifest);
        const size = result.manifest.size + result.config.size +
          result.layers.reduce((n, l) => n + l.size, 0);
        console.log(`Digest: ${result.manifest.digest}`);
        console.log(`Platform: ${formatPlatform(platform)}`);
        console.log(`Size: ${bytesSize(size)}`);
      } finally {
        ctx.close();
      }
    });
}
