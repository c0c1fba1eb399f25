/**
 * `@img/export-image`: the `image` exporter (`-o type=image,name=a,b[,push=true]`, and what
 * `-t` does): stores the built image under each name in the local image store, and pushes it
 * when asked.
 *
 * @module
 */
import {
  API_VERSION,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  formatReference,
  ImgError,
  parseReference,
  writeImage,
} from "@img/core";

function bool(value: string | undefined, key: string): boolean {
  if (value === undefined || value === "" || value === "true") return value !== undefined;
  if (value === "false") return false;
  throw new ImgError(`Invalid value "${value}" for ${key}: use true or false`);
}

/** The `image` exporter. */
export const imageExporter: Exporter = {
  resolve(attrs: Record<string, string>): ExporterInstance {
    const known = new Set(["name", "push", "type"]);
    for (const k of Object.keys(attrs)) {
      if (!known.has(k) && !k.startsWith("annotation.")) {
        throw new ImgError(`Unknown attribute "${k}" for the image exporter: use name= and push=`);
      }
    }
    const names = (attrs.name ?? "").split(",").map((n) => n.trim()).filter(Boolean)
      .map((n) => formatReference(parseReference(n)));
    const push = bool(attrs.push, "push");
    if (push && names.length === 0) {
      throw new ImgError("push=true needs a name: add name=... or -t NAME");
    }
    const annotations = Object.fromEntries(
      Object.entries(attrs).filter(([k]) => k.startsWith("annotation.")).map((
        [k, v],
      ) => [k.slice(11), v]),
    );
    return {
      async export(result, ctx) {
        const { manifest } = await writeImage(ctx.content, result.config, await result.layers(), {
          annotations,
        });
        for (const name of names) ctx.images.put(name, manifest);
        if (push) { for (const name of names) await ctx.push(name, manifest); }
        return {
          "containerimage.digest": manifest.digest,
          ...(names.length ? { "image.name": names.join(",") } : {}),
        };
      },
    };
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "image",
  version: "0.1.0",
  apiVersion: API_VERSION,
  description: "Stores the image in the local image store and pushes it with push=true",
  create: () => imageExporter,
};

export default plugin;
