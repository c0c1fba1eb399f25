/**
 * `@img/export-oci`: the `oci` exporter, `-o type=oci,dest=image.tar[,name=...][,tar=false]`.
 * It writes the built image as an OCI image layout
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md): a tarball that
 * `skopeo`, `podman load`, `docker load` and `umoci` read, or with `tar=false` the layout as
 * a directory. It takes the image attributes of `@img/core` (`compression`, `compression-level`,
 * `force-compression`, `rewrite-timestamp`, `annotation.<key>=<value>` on the manifest,
 * `annotation-index.<key>=<value>` on `index.json`, `annotation-manifest-descriptor.<key>=...`
 * on the manifest's entry in it); media types are always OCI. Without `dest` (or with `dest=-`) the tarball goes to standard output, which
 * must not be a terminal.
 *
 * `index.json` names the image with each of `name=` (default: the `-t` names) as BuildKit
 * does: `io.containerd.image.name` holds the full name and `org.opencontainers.image.ref.name`
 * the tag, so `skopeo copy oci-archive:image.tar:latest ...` finds it. The archive is written
 * by {@linkcode writeOciArchive} into a temporary file renamed into place when complete.
 *
 * With `--provenance`/`--sbom`, `index.json` points at an image index of the image manifest and
 * its attestation manifest, as BuildKit's OCI exporter writes it.
 *
 * `img save --format oci IMAGE...` is this exporter applied to stored images
 * ({@linkcode ociExporter}'s `saveImages`): the same writer, with default attributes
 * (Docker manifests converted to OCI media types, no index annotations).
 *
 * ```sh
 * img build -t app -o type=oci,dest=app.tar .
 * img build -o type=oci,dest=layout,tar=false .
 * SOURCE_DATE_EPOCH=0 img build -o type=oci,dest=app.tar,rewrite-timestamp=true .
 * img build -o type=oci . | skopeo copy oci-archive:/dev/stdin ...
 * img save --format oci -o app.tar app
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import * as z from "zod/mini";
import {
  API_VERSION,
  booleanAttribute,
  type Descriptor,
  type ExportContext,
  ExportDestination,
  type Exporter,
  type ExporterInstance,
  type ExporterPlugin,
  type ExportResponse,
  imageNamesAttribute,
  ImgError,
  RESPONSE_STDOUT,
  STDOUT_DEST,
} from "@img/core";
import { exportImage, exportImageIndex, parseImageOutputAttributes } from "@img/core/export";
import { writeOciArchive, writeOciLayout } from "./oci_layout.ts";

export {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  type OciArchiveOptions,
  type OciLayoutOptions,
  type OciLayoutResult,
  writeOciArchive,
  writeOciLayout,
} from "./oci_layout.ts";

const attributes = {
  dest: z.optional(z.string()),
  name: z.optional(z.string()),
  tar: booleanAttribute(true),
};

/** The `oci` exporter. */
export const ociExporter: Exporter = {
  resolve(input: Record<string, string>): ExporterInstance {
    const { attrs: opts, image } = parseImageOutputAttributes(input, attributes, {
      ociLayout: true,
    });
    let dir: string | undefined;
    let dest: ExportDestination | undefined;
    if (opts.tar) {
      dest = ExportDestination.resolve(opts.dest);
    } else {
      if (opts.dest === undefined || opts.dest === "" || opts.dest === STDOUT_DEST) {
        throw new ImgError(
          "tar=false writes an OCI layout directory: give its path with dest=DIR",
        );
      }
      dir = opts.dest;
    }
    const write = async (
      ctx: ExportContext,
      names: string[],
      manifest: Descriptor,
      annotations: Record<string, string>,
    ): Promise<ExportResponse> => {
      const images = [{ names, manifest }];
      const layout = { annotations };
      if (dir !== undefined) await writeOciLayout(images, ctx.content, dir, layout);
      else await dest!.write((out) => writeOciArchive(images, ctx.content, out, layout));
      return {
        "containerimage.digest": manifest.digest,
        ...(names.length ? { "image.name": names.join(",") } : {}),
        ...(dest?.isStdout ? { [RESPONSE_STDOUT]: "true" } : {}),
      };
    };
    return {
      // The layers' blobs, not the root filesystem.
      usesRootfs: false,
      async export(result, ctx): Promise<ExportResponse> {
        const names = imageNamesAttribute(opts.name, result.names);
        // With attestations (--provenance, --sbom) the target is an index holding them.
        const { target } = await exportImage(result, ctx, image, { names });
        return await write(ctx, names, target, image.indexAnnotations);
      },
      // Several platforms: the layout's index.json points at one image index over them.
      async exportPlatforms(results, ctx): Promise<ExportResponse> {
        // annotation-index.* go into the image index, as BuildKit puts them, not index.json.
        const names = imageNamesAttribute(opts.name, results[0].result.names);
        const { index } = await exportImageIndex(results, ctx, image, { names });
        return await write(ctx, names, index, {});
      },
    };
  },
  async saveImages({ images, dest }, ctx): Promise<ExportResponse> {
    const out = ExportDestination.resolve(dest);
    await out.write((stream) => writeOciArchive(images, ctx.content, stream));
    return out.isStdout ? { [RESPONSE_STDOUT]: "true" } : {};
  },
};

/** The plugin. */
const plugin: ExporterPlugin = {
  kind: "exporter",
  name: "oci",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Writes the image as an OCI image layout tarball (or directory with tar=false)",
  create: () => ociExporter,
};

export default plugin;
