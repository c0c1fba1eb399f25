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
  normalizePlatform,
  parsePlatform,
  parseReference,
} from "@img/core";
import { Lease } from "@img/core/gc";
import { platformChooser, pull, pullAllPlatforms } from "@img/core/registry";
import { contextOf } from "../program.ts";
import { TransferReporter } from "../ui/transfer.ts";
import { bytesSize } from "../ui/units.ts";
import { insecureRegistryOption } from "../ui/options.ts";

/** The `pull` command. */
export function pullCommand(): Command<
  [string],
  { platform?: string; allPlatforms?: boolean; insecureRegistry: string[]; allTags?: true }
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
    .option("--all-platforms", "pull every platform of a multi-platform image (its index)")
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
        if (opts.allPlatforms && opts.platform) {
          throw new ImgError("--all-platforms and --platform cannot be combined: use one of them");
        }
        const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
        console.log(`Pulling ${formatReference(ref)}...`);
        const client = await ctx.registry(opts.insecureRegistry);
        const state = ctx.state;
        const reporter = new TransferReporter("Pulling", ctx.debug);
        // A prune running meanwhile keeps the blobs this pull is storing.
        using _lease = Lease.acquire(state.db);
        if (opts.allPlatforms) {
          const all = await pullAllPlatforms(client, ref, state.content, {
            onProgress: reporter.update,
          });
          reporter.done();
          state.images.put(formatReference(ref), all.descriptor);
          const size = all.images.reduce(
            (n, r) =>
              n + r.manifest.size + r.config.size + r.layers.reduce((m, l) => m + l.size, 0),
            all.images.length > 1 ? all.descriptor.size : 0,
          );
          const platforms = all.images.map((r) => r.manifest.platform)
            .filter((p) => p !== undefined).map((p) => formatPlatform(normalizePlatform(p)));
          console.log(`Digest: ${all.descriptor.digest}`);
          console.log(`Platforms: ${platforms.join(", ") || "(not given)"}`);
          console.log(`Size: ${bytesSize(size)}`);
          return;
        }
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
