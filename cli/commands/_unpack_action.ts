/**
 * The action of `img unpack IMAGE [-o DIR]`: an image's root filesystem as a directory.
 *
 * Loaded by `unpack.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import {
  configMatchesPlatform,
  type Digest,
  familiarReference,
  findImage,
  formatPlatform,
  hostPlatform,
  ImgError,
  layerCompression,
  NotFoundError,
  parsePlatform,
  parseReference,
} from "@img/core";
import { loadImage, RemoteBlobs } from "@img/core/image";
import { applyLayer, decompressInWorker, decompressStream } from "@img/core/layer";
import { ensureRootless } from "@img/core/rootless";
import { libc } from "@img/core/sys";
import { type ActionCommand, contextOf } from "../context.ts";
import { normalizeName } from "./_names.ts";
import type { UnpackOptions } from "./unpack.ts";

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    if (e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/** The `unpack` command's action. */
export async function unpackAction(
  input: string,
  opts: UnpackOptions,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  // Ownership and device nodes need root of a user namespace; everything after this line
  // runs inside it.
  await ensureRootless({ debug: ctx.debug });
  try {
    const target = resolve(opts.output);
    if (!(await isEmptyOrMissing(target))) {
      throw new ImgError(
        `${opts.output} already exists and is not empty: remove it or pass -o DIR`,
      );
    }
    const rec = findImage(ctx.state.images, input, normalizeName);
    if (!rec) throw new NotFoundError(`No such image: ${input}: pull it first`);
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    const image = await loadImage(ctx.state.content, rec.target, platform);
    if (opts.platform && !configMatchesPlatform(image.config, platform)) {
      throw new ImgError(
        `Image ${input} is for ${image.config.os}/${image.config.architecture}, not ${
          formatPlatform(platform)
        }: pull it with --platform ${formatPlatform(platform)}`,
      );
    }
    // Layers a build left in a registry (remote blobs) are fetched first.
    await new RemoteBlobs(ctx.state, () => ctx.registry()).fetch(image.manifest.layers);
    // Unpack next to the target and rename at the end: a failure leaves no half tree.
    const work = join(
      dirname(target),
      `.${basename(target)}.${crypto.randomUUID().slice(0, 8)}.partial`,
    );
    await Deno.mkdir(work, { mode: 0o755 });
    try {
      const sameOwner = Deno.uid() === 0;
      const xattrs = { lset: (p: string, n: string, v: Uint8Array) => libc.lsetxattr(p, n, v) };
      const diffIDs = image.config.rootfs.diff_ids;
      if (diffIDs.length !== image.manifest.layers.length) {
        throw new ImgError(
          `Image ${input} has ${image.manifest.layers.length} layers but ${diffIDs.length} diff_ids in its config; the image is corrupt, pull it again`,
        );
      }
      for (const [i, layer] of image.manifest.layers.entries()) {
        ctx.debug(`applying layer ${layer.digest}`);
        const blob = await ctx.state.content.open(layer.digest as Digest);
        const compression = layerCompression(layer.mediaType);
        // A big layer is inflated and hashed on another core.
        const inWorker = decompressInWorker(blob, compression, layer.size);
        const tar = inWorker?.stream ?? decompressStream(blob, compression, { reuseChunks: true });
        await applyLayer(work, tar, {
          sameOwner,
          xattrs,
          diffID: diffIDs[i],
          streamDigest: inWorker?.digest,
          layer: layer.digest,
          onWarning: (m) => console.error(`warning: ${m}`),
        });
      }
      await Deno.remove(target).catch(() => {});
      await Deno.rename(work, target);
    } catch (e) {
      await Deno.remove(work, { recursive: true }).catch(() => {});
      throw e;
    }
    const name = rec.name === normalizeName(input)
      ? familiarReference(parseReference(rec.name))
      : input;
    console.log(`Successfully unpacked rootfs for image ${name} to: ${target}`);
  } finally {
    ctx.close();
  }
}
