/**
 * The action of `img save IMAGE... [--format NAME] [-o FILE]`: images as an archive, written by the
 * exporter plugin `NAME` (`docker`, the default, or `oci`; any exporter that implements
 * `saveImages`, a third-party one too).
 *
 * Loaded by `save.ts` only when the command runs (flags and help need none of it).
 *
 * @module
 */
import {
  type ExportContext,
  type Exporter,
  findImage,
  ImgError,
  isIndexMediaType,
  NotFoundError,
  parsePlatform,
  parseReference,
  type PluginContext,
  ProgressWriter,
  type StoredImage,
} from "@img/core";
import { guardExporter } from "@img/core/export";
import { loadImage, RemoteBlobs } from "@img/core/image";
import type { PluginLoader } from "@img/core/loader";
import { push } from "@img/core/registry";
import { type ActionCommand, contextOf } from "../context.ts";
import { normalizeName } from "./_names.ts";
import type { SaveOptions } from "./save.ts";

type SaveImages = NonNullable<Exporter["saveImages"]>;

/**
 * The `saveImages` of the exporter plugin `format`, its errors attributed to it; refuses a
 * name that is no exporter or one that cannot save, naming the exporters that can.
 */
async function saverOf(
  loader: PluginLoader,
  format: string,
  pluginCtx: PluginContext,
): Promise<SaveImages> {
  const names = loader.names("exporter");
  if (names.includes(format)) {
    const exporter = await guardExporter(await loader.get("exporter", format), pluginCtx);
    if (exporter.saveImages) return exporter.saveImages;
  }
  const able: string[] = [];
  for (const name of names) {
    if (name === format) continue;
    try {
      const exporter = await (await loader.get("exporter", name)).create(pluginCtx);
      if (typeof exporter?.saveImages === "function") able.push(name);
    } catch {
      // An exporter that cannot even be created cannot save either.
    }
  }
  const what = names.includes(format)
    ? `The ${format} exporter cannot save images`
    : `There is no exporter named ${format}`;
  throw new ImgError(`${what}: use --format with one of ${able.join(", ") || "(none)"}`);
}

/** The `save` command's action. */
export async function saveAction(
  inputs: string[],
  opts: SaveOptions,
  cmd: ActionCommand,
): Promise<void> {
  const ctx = contextOf(cmd);
  try {
    if (!opts.output && Deno.stdout.isTerminal()) {
      throw new ImgError(
        "Cowardly refusing to save to a terminal. Use the -o flag or redirect",
      );
    }
    const saveImages = await saverOf(await ctx.plugins(), opts.format, ctx.pluginContext);
    const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
    const images: StoredImage[] = await Promise.all(inputs.map(async (input) => {
      const rec = findImage(ctx.state.images, input, normalizeName);
      if (!rec) throw new NotFoundError(`No such image: ${input}`);
      const byName = (() => {
        try {
          return normalizeName(input) === rec.name;
        } catch {
          return false;
        }
      })();
      // With --platform, an index gives way to that platform's manifest.
      const manifest = platform && isIndexMediaType(rec.target.mediaType)
        ? (await loadImage(ctx.state.content, rec.target, platform)).descriptor
        : rec.target;
      return { names: byName ? [rec.name] : [], manifest };
    }));
    const state = ctx.state;
    // Layers a build left in a registry (remote blobs) are fetched first.
    const remote = new RemoteBlobs(state, () => ctx.registry());
    for (const image of images) await remote.fetchImage(image.manifest);
    const progress = new ProgressWriter();
    progress.listen((e) => {
      if (e.type === "warning") console.error(`warning: ${e.message}`);
    });
    const exportCtx: ExportContext = {
      content: state.content,
      progress,
      stateDir: state.dir,
      images: state.images,
      push: async (name, descriptor) => {
        await push(await ctx.registry(), parseReference(name), descriptor, state.content);
      },
    };
    // The exporter writes as it does for a build: a file next to the target renamed into
    // place when complete (a failed save leaves no partial file), or standard output.
    await saveImages({ images, dest: opts.output }, exportCtx);
  } finally {
    ctx.close();
  }
}
