/**
 * `@img/export-image`: the `image` exporter (`-o type=image,name=a,b[,push=true]`, and what
 * `-t` does): stores the built image under each name in the local image store, and pushes it
 * when asked. It takes the image attributes of `@img/core` (`compression=gzip|zstd|uncompressed`,
 * `compression-level`, `force-compression`, `oci-mediatypes=false` for a Docker schema 2
 * manifest, `rewrite-timestamp`, `annotation.<key>=<value>`). With `--provenance`/`--sbom` the
 * stored and pushed image is an index of the image manifest and its attestation manifest, as
 * buildx pushes it (`@img/core/export`'s `exportImage`).
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import * as z from "zod/mini";
import {
  API_VERSION,
  booleanAttribute,
  type Descriptor,
  type Digest,
  type ExportContext,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  type ExportResponse,
  imageNamesAttribute,
  ImgError,
} from "@img/core";
import { exportImage, exportImageIndex, parseImageOutputAttributes } from "@img/core/export";

const attributes = {
  name: z.optional(z.string()),
  push: booleanAttribute(false),
};

/** The `image` exporter. */
export const imageExporter: Exporter = {
  resolve(input: Record<string, string>): ExporterInstance {
    const { attrs, image } = parseImageOutputAttributes(input, attributes);
    const names = attrs.name === undefined ? [] : imageNamesAttribute(attrs.name, []);
    if (attrs.push && names.length === 0) {
      throw new ImgError("push=true needs a name: add name=... or -t NAME");
    }
    const store = async (
      ctx: ExportContext,
      target: Descriptor,
      extra: ExportResponse = {},
    ): Promise<ExportResponse> => {
      for (const name of names) ctx.images.put(name, target);
      if (attrs.push) { for (const name of names) await ctx.push(name, target); }
      return {
        "containerimage.digest": target.digest,
        ...extra,
        ...(names.length ? { "image.name": names.join(",") } : {}),
      };
    };
    return {
      // Layers only, and not even their bytes: layers of an imported cache stay in the
      // registry (a push there mounts them), fetched when something needs their content.
      usesRootfs: false,
      async export(result, ctx) {
        // With attestations (--provenance, --sbom) the target is an index holding them.
        const { manifest, target } = await exportImage(result, ctx, image, {
          remoteLayers: true,
          names,
        });
        const stored = await ctx.content.readJSON(manifest.digest as Digest);
        const configDigest = (stored as { config: { digest: string } }).config.digest;
        return await store(ctx, target, { "containerimage.config.digest": configDigest });
      },
      // Several platforms: one image index, stored and pushed under the names.
      async exportPlatforms(results, ctx) {
        const { index } = await exportImageIndex(results, ctx, image, {
          remoteLayers: true,
          names,
        });
        return await store(ctx, index);
      },
    };
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "image",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Stores the image in the local image store and pushes it with push=true",
  create: () => imageExporter,
};

export default plugin;
