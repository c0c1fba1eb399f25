/**
 * `img push NAME[:TAG]`: upload an image to its registry.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { findImage, formatReference, NotFoundError, parseReference } from "@img/core";
import { push } from "@img/core/registry";
import { contextOf } from "../program.ts";
import { TransferReporter } from "../ui/transfer.ts";
import { insecureRegistryOption } from "../ui/options.ts";
import { normalizeName } from "./tag.ts";

/** The `push` command. */
export function pushCommand(): Command<[string], { insecureRegistry: string[] }> {
  return new Command("push")
    .usage("[OPTIONS] NAME[:TAG]")
    .description("Push an image or a repository to a registry")
    .argument("<name>")
    .addOption(insecureRegistryOption())
    .action(async (name, opts, cmd) => {
      const ctx = contextOf(cmd);
      try {
        const ref = parseReference(name);
        const full = formatReference(ref);
        const image = findImage(ctx.state.images, name, normalizeName);
        if (!image) throw new NotFoundError(`No such image: ${name}: build, pull or tag it first`);
        console.log(`Pushing ${full}...`);
        const client = await ctx.registry(opts.insecureRegistry);
        // Blobs of an image that came from another repository of the same registry are mounted.
        const sources = ctx.state.images.namesFor(image.target.digest)
          .map((n) => parseReference(n))
          .filter((r) => r.domain === ref.domain && r.path !== ref.path);
        const reporter = new TransferReporter("Pushing", ctx.debug);
        await push(client, ref, image.target, ctx.state.content, {
          mountFrom: sources[0],
          onProgress: reporter.update,
        });
        reporter.done();
        console.log(`Successfully pushed ${full}`);
      } finally {
        ctx.close();
      }
    });
}
