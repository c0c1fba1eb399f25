/**
 * The action of `img pull NAME[:TAG|@DIGEST]`: fetch an image from a registry into the local store;
 * `-a/--all-tags`: every tag the registry lists for the repository.
 *
 * Loaded by `pull.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import {
  formatPlatform,
  formatReference,
  hostPlatform,
  ImgError,
  normalizePlatform,
  parsePlatform,
  parseReference,
  repositoryName,
  withTag,
} from "@img/core";
import { Lease } from "@img/core/gc";
import { platformChooser, pull, pullAllPlatforms } from "@img/core/registry";
import { type ActionCommand, contextOf } from "../context.ts";
import { TransferReporter } from "../ui/transfer.ts";
import { bytesSize } from "../ui/units.ts";
import type { PullOptions } from "./pull.ts";

/** The `pull` command's action. */
export async function pullAction(
  name: string,
  opts: PullOptions,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  try {
    const ref = parseReference(name);
    if (opts.allPlatforms && opts.platform) {
      throw new ImgError("--all-platforms and --platform cannot be combined: use one of them");
    }
    if (opts.allTags && (ref.digest || /:[^/]+$/.test(name))) {
      // docker's words.
      throw new ImgError("tag can't be used with --all-tags/-a");
    }
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    const client = await ctx.registry(opts.insecureRegistry);
    const state = ctx.state;
    // A prune running meanwhile keeps the blobs this pull is storing.
    using _lease = Lease.acquire(state.db);
    const refs = opts.allTags
      ? (await client.listTags(ref)).sort().map((tag) => withTag(ref, tag))
      : [ref];
    if (opts.allTags && refs.length === 0) {
      throw new ImgError(`Repository ${repositoryName(ref)} has no tags: push one first`);
    }
    if (opts.allTags) {
      console.log(`Pulling ${refs.length} tags of ${repositoryName(ref)}...`);
    }
    for (const r of refs) {
      console.log(`Pulling ${formatReference(r)}...`);
      const reporter = new TransferReporter("Pulling", ctx.debug);
      if (opts.allPlatforms) {
        const all = await pullAllPlatforms(client, r, state.content, {
          onProgress: reporter.update,
        });
        reporter.done();
        state.images.put(formatReference(r), all.descriptor);
        const size = all.images.reduce(
          (n, i) => n + i.manifest.size + i.config.size + i.layers.reduce((m, l) => m + l.size, 0),
          all.images.length > 1 ? all.descriptor.size : 0,
        );
        const platforms = all.images.map((i) => i.manifest.platform)
          .filter((p) => p !== undefined).map((p) => formatPlatform(normalizePlatform(p)));
        console.log(`Digest: ${all.descriptor.digest}`);
        console.log(`Platforms: ${platforms.join(", ") || "(not given)"}`);
        console.log(`Size: ${bytesSize(size)}`);
        continue;
      }
      const result = await pull(client, r, state.content, {
        choose: platformChooser(platform),
        onProgress: reporter.update,
      });
      reporter.done();
      const manifest = { ...result.manifest };
      if (!manifest.platform && result.index === undefined) delete manifest.platform;
      state.images.put(formatReference(r), manifest);
      const size = result.manifest.size + result.config.size +
        result.layers.reduce((n, l) => n + l.size, 0);
      console.log(`Digest: ${result.manifest.digest}`);
      console.log(`Platform: ${formatPlatform(platform)}`);
      console.log(`Size: ${bytesSize(size)}`);
    }
  } finally {
    ctx.close();
  }
}
