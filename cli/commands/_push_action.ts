/**
 * The action of `img push NAME[:TAG]`: upload an image to its registry.
 *
 * Loaded by `push.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { findImage, formatReference, ImgError, NotFoundError, parseReference } from "@img/core";
import { RemoteBlobs } from "@img/core/image";
import { push } from "@img/core/registry";
import { type ActionCommand, contextOf } from "../context.ts";
import { TransferReporter } from "../ui/transfer.ts";
import { normalizeName } from "./_names.ts";
import type { PushOptions } from "./push.ts";

async function pushOne(
  ctx: ReturnType<typeof contextOf>,
  client: Awaited<ReturnType<ReturnType<typeof contextOf>["registry"]>>,
  name: string,
): Promise<void> {
  const ref = parseReference(name);
  const full = formatReference(ref);
  const image = findImage(ctx.state.images, name, normalizeName);
  if (!image) throw new NotFoundError(`No such image: ${name}: build, pull or tag it first`);
  console.log(`Pushing ${full}...`);
  // Blobs of an image that came from another repository of the same registry are mounted.
  const sources = ctx.state.images.namesFor(image.target.digest)
    .map((n) => parseReference(n))
    .filter((r) => r.domain === ref.domain && r.path !== ref.path);
  const reporter = new TransferReporter("Pushing", ctx.debug);
  await push(client, ref, image.target, ctx.state.content, {
    mountFrom: sources[0],
    // Layers a build left in a registry are mounted from there, or fetched to be uploaded.
    remote: new RemoteBlobs(ctx.state, () => Promise.resolve(client)),
    onProgress: reporter.update,
  });
  reporter.done();
  console.log(`Successfully pushed ${full}`);
}

/** The `push` command's action. */
export async function pushAction(
  name: string,
  opts: PushOptions,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  try {
    const client = await ctx.registry(opts.insecureRegistry);
    let names = [name];
    if (opts.allTags) {
      const ref = parseReference(name);
      if (name.includes("@") || name.slice(name.lastIndexOf("/") + 1).includes(":")) {
        throw new ImgError(`--all-tags takes a repository without a tag: ${name}`);
      }
      names = ctx.state.images.list().map((r) => r.name).filter((n) => {
        const r = parseReference(n);
        return r.domain === ref.domain && r.path === ref.path && r.tag && !r.digest;
      });
      if (names.length === 0) {
        throw new NotFoundError(`No tag of ${name} is stored: build, pull or tag it first`);
      }
    }
    for (const n of names) await pushOne(ctx, client, n);
  } finally {
    ctx.close();
  }
}
