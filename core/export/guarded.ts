/**
 * Keeping a plugin's failures the plugin's: {@linkcode guardExporter} wraps an exporter plugin
 * so that whatever its `create`, `resolve`, `export` or `saveImages` throws (an `ImgError`, a plain
 * `Error`, even a string) reaches the user as one line naming the plugin,
 * `img: exporter listing: <message>`, with the original error kept as the `cause` (shown
 * with `--debug`), instead of as img crashing.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { ExportContext, Exporter, ExporterInstance, SaveRequest } from "../exporter.ts";
import type { ExporterPlugin, PluginContext, PluginKind } from "../plugin.ts";

/** An error raised inside a plugin, reported as `<kind> <name>: <message>`. */
export class PluginError extends ImgError {
  /** The plugin's kind. */
  readonly kind: PluginKind;
  /** The plugin's name. */
  readonly plugin: string;

  /** Wraps `cause`, thrown by the plugin `kind`/`name`. */
  constructor(kind: PluginKind, plugin: string, cause: unknown) {
    super(`${kind} ${plugin}: ${messageOf(cause)}`, { cause });
    this.name = "PluginError";
    this.kind = kind;
    this.plugin = plugin;
  }
}

/** The first line of an error's message (the whole value for a non-Error). */
function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split("\n")[0].trim();
  return line || (e instanceof Error ? e.name : "failed without a message");
}

async function attributed<T>(plugin: ExporterPlugin, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PluginError && e.kind === "exporter" && e.plugin === plugin.name) throw e;
    throw new PluginError("exporter", plugin.name, e);
  }
}

/**
 * Creates the exporter of `plugin` with `ctx`; every error its `create`, `resolve`, `export`
 * and `saveImages` throw becomes a {@linkcode PluginError} naming the plugin. The guarded
 * exporter has `saveImages` exactly when the plugin's has.
 */
export async function guardExporter(
  plugin: ExporterPlugin,
  ctx: PluginContext,
): Promise<Exporter> {
  const exporter = await attributed(plugin, () => plugin.create(ctx));
  const saveImages = exporter.saveImages;
  return {
    ...(typeof saveImages === "function"
      ? {
        saveImages: (request: SaveRequest, exportCtx: ExportContext) =>
          attributed(plugin, async () => {
            const response = await saveImages.call(exporter, request, exportCtx);
            return response ?? {};
          }),
      }
      : {}),
    resolve: (attrs) =>
      attributed(plugin, async (): Promise<ExporterInstance> => {
        const instance = await exporter.resolve(attrs);
        if (typeof instance?.export !== "function") {
          throw new ImgError("resolve() did not return an object with an export() method");
        }
        const exportPlatforms = instance.exportPlatforms;
        return {
          ...(instance.usesRootfs === false ? { usesRootfs: false } : {}),
          export: (result, exportCtx) =>
            attributed(plugin, async () => {
              const response = await instance.export(result, exportCtx);
              return response ?? {};
            }),
          ...(typeof exportPlatforms === "function"
            ? {
              exportPlatforms: (results, exportCtx) =>
                attributed(plugin, async () => {
                  const response = await exportPlatforms.call(instance, results, exportCtx);
                  return response ?? {};
                }),
            }
            : {}),
        };
      }),
  };
}
