/**
 * The `--output` attributes shared by the exporters that write an image (`image`, `oci`,
 * `docker`), as BuildKit names them:
 *
 * | attribute                                    | effect                                                        |
 * | -------------------------------------------- | ------------------------------------------------------------- |
 * | `compression=gzip\|zstd\|uncompressed`       | compression of the layers the build made (default gzip)       |
 * | `compression-level=N`                        | gzip 0-9, zstd 1-22                                           |
 * | `force-compression=true`                     | also recompress base-image layers pulled in another one       |
 * | `oci-mediatypes=false`                       | a Docker schema 2 manifest and media types (not for `oci`)    |
 * | `rewrite-timestamp=true`                     | clamp file mtimes in new layers to `SOURCE_DATE_EPOCH`        |
 * | `annotation.<key>=<value>`                   | an annotation of the manifest (also `annotation-manifest.`)   |
 * | `annotation-index.<key>=<value>`             | an annotation of the index (`oci`: `index.json`)              |
 * | `annotation-manifest-descriptor.<key>=<v>`   | an annotation of the manifest's descriptor in the index (`oci`) |
 *
 * ```ts
 * import * as z from "zod";
 * import { exportImage, parseImageOutputAttributes } from "@img/core/export";
 *
 * const { attrs, image } = parseImageOutputAttributes({ compression: "zstd" }, {
 *   dest: z.string().optional(),
 * });
 * // later, in export(result, ctx):
 * // const { manifest } = await exportImage(result, ctx, image);
 * ```
 *
 * @module
 */
import * as z from "../_zod.ts";
import { ImgError } from "../errors.ts";
import type {
  ExportContext,
  ExportResult,
  LayerOptions,
  PlatformExportResult,
} from "../exporter.ts";
import { writeImage, writeImageIndex } from "../image/build_image.ts";
import type { LayerCompression } from "../media_types.ts";
import type { Descriptor, ImageConfig } from "../schemas.ts";
import { formatPlatform, type Platform } from "../platform.ts";
import { writeAttestationManifest } from "./attestation_manifest.ts";
import { booleanAttribute, parseExporterAttributes } from "./attributes.ts";

/** How an image exporter writes the image, from its `--output` attributes. */
export interface ImageOutputOptions {
  /** Compression of the layers (default gzip). */
  compression: LayerCompression;
  /** Compression level, when one was given. */
  level?: number;
  /** Recompress base-image layers pulled in another compression. */
  forceCompression: boolean;
  /** Media types of the manifest, config and layers. */
  mediaTypes: "oci" | "docker";
  /** Clamp file mtimes in new layers to the build's `SOURCE_DATE_EPOCH`. */
  rewriteTimestamp: boolean;
  /** Annotations of the manifest. */
  annotations: Record<string, string>;
  /** Annotations of the index (`oci`: `index.json`). */
  indexAnnotations: Record<string, string>;
  /** Annotations of the manifest's descriptor in the index (`oci`). */
  descriptorAnnotations: Record<string, string>;
}

/** Options of {@linkcode parseImageOutputAttributes}. */
export interface ImageOutputAttributeOptions {
  /**
   * The exporter writes an OCI layout: `oci-mediatypes=false` is refused, and the index
   * annotations (`annotation-index.`, `annotation-manifest-descriptor.`) are accepted.
   */
  ociLayout?: boolean;
}

const MANIFEST_PREFIXES = ["annotation.", "annotation-manifest."] as const;
const INDEX_PREFIX = "annotation-index.";
const DESCRIPTOR_PREFIX = "annotation-manifest-descriptor.";

/** The attributes every image exporter takes, built on first use (not at module load). */
function imageShape() {
  return {
    compression: z.optional(
      z.enum(["gzip", "zstd", "uncompressed"], { error: "use gzip, zstd or uncompressed" }),
    ),
    "compression-level": z.optional(z.string().check(z.regex(/^\d+$/, "use a whole number"))),
    "force-compression": booleanAttribute(false),
    "oci-mediatypes": booleanAttribute(true),
    "rewrite-timestamp": booleanAttribute(false),
  };
}

/**
 * Validates `attrs` against the exporter's own attributes `shape` plus the image attributes
 * of this module, and returns both: the exporter's parsed values as `attrs`, and how to write
 * the image as `image`.
 *
 * @throws {ImgError} for an unknown attribute or an invalid value, naming the attribute.
 */
export function parseImageOutputAttributes<S extends Record<string, unknown>>(
  attrs: Record<string, string>,
  shape: S,
  options: ImageOutputAttributeOptions = {},
): { attrs: { [K in keyof S]: z.output<S[K]> }; image: ImageOutputOptions } {
  const prefixes: string[] = [...MANIFEST_PREFIXES];
  if (options.ociLayout) prefixes.push(INDEX_PREFIX, DESCRIPTOR_PREFIX);
  const common = imageShape();
  const parsed = parseExporterAttributes(attrs, z.object({ ...shape, ...common }), {
    prefixes,
  }) as Record<string, unknown>;
  const compression = (parsed.compression as LayerCompression | undefined) ?? "gzip";
  let level: number | undefined;
  const levelText = parsed["compression-level"] as string | undefined;
  if (levelText !== undefined && compression !== "uncompressed") {
    level = Number(levelText);
    const [min, max] = compression === "gzip" ? [0, 9] : [1, 22];
    if (level < min || level > max) {
      throw new ImgError(
        `Invalid value "${levelText}" for compression-level=: ${compression} takes ${min} to ${max}`,
      );
    }
  }
  const ociMediaTypes = parsed["oci-mediatypes"] as boolean;
  if (options.ociLayout && !ociMediaTypes) {
    throw new ImgError(
      "An OCI layout always has OCI media types: remove oci-mediatypes=false, or use type=docker",
    );
  }
  const image: ImageOutputOptions = {
    compression,
    ...(level !== undefined ? { level } : {}),
    forceCompression: parsed["force-compression"] as boolean,
    mediaTypes: ociMediaTypes ? "oci" : "docker",
    rewriteTimestamp: parsed["rewrite-timestamp"] as boolean,
    annotations: prefixed(attrs, MANIFEST_PREFIXES),
    indexAnnotations: options.ociLayout ? prefixed(attrs, [INDEX_PREFIX]) : {},
    descriptorAnnotations: options.ociLayout ? prefixed(attrs, [DESCRIPTOR_PREFIX]) : {},
  };
  if (image.mediaTypes === "docker" && Object.keys(image.annotations).length > 0) {
    throw new ImgError(
      "Annotations need OCI media types: remove oci-mediatypes=false or the annotation.* attributes",
    );
  }
  const own = Object.fromEntries(
    Object.entries(parsed).filter(([k]) => !(k in common)),
  ) as { [K in keyof S]: z.output<S[K]> };
  return { attrs: own, image };
}

function prefixed(
  attrs: Record<string, string>,
  prefixes: readonly string[],
): Record<string, string> {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(attrs)) {
    const p = prefixes.find((p) => key.startsWith(p));
    if (p === undefined) continue;
    const name = key.slice(p.length);
    if (name === "") throw new ImgError(`Attribute "${key}" needs a key: use ${p}<key>=<value>`);
    out.push([name, value]);
  }
  return Object.fromEntries(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The layer options for `result` under `image`: its compression, and with
 * `rewrite-timestamp=true` the build's `SOURCE_DATE_EPOCH` (a warning goes to `ctx.progress`
 * when the build has none, and mtimes are kept).
 */
export function imageLayerOptions(
  result: ExportResult,
  ctx: Pick<ExportContext, "progress">,
  image: ImageOutputOptions,
): LayerOptions {
  const options: LayerOptions = { compression: image.compression };
  if (image.level !== undefined) options.level = image.level;
  if (image.forceCompression) options.forceCompression = true;
  if (image.rewriteTimestamp) {
    if (result.sourceDateEpoch === undefined) {
      ctx.progress.write({
        type: "warning",
        message:
          "rewrite-timestamp=true does nothing without SOURCE_DATE_EPOCH: set it in the environment or with --build-arg SOURCE_DATE_EPOCH=<seconds>",
        time: Date.now(),
      });
    } else {
      options.sourceDateEpoch = result.sourceDateEpoch;
    }
  }
  return options;
}

/** Options of {@linkcode exportImage} and {@linkcode exportImageIndex}. */
export interface ExportImageOptions {
  /**
   * The exporter stores or pushes the image but does not write its layers' bytes: layers of
   * an imported cache stay remote blobs (see {@linkcode LayerOptions.remote}).
   */
  remoteLayers?: boolean;
  /**
   * The image's names, for the subjects of its attestations (default: the result's `names`,
   * of the first result for an index).
   */
  names?: readonly string[];
}

/**
 * The media types of an image with `attestations`: as BuildKit, an image index holding
 * attestation manifests has OCI media types, so `oci-mediatypes=false` gives way with a warning.
 */
function attestedMediaTypes(
  ctx: Pick<ExportContext, "progress">,
  mediaTypes: "oci" | "docker",
  attested: boolean,
): "oci" | "docker" {
  if (!attested || mediaTypes === "oci") return mediaTypes;
  ctx.progress.write({
    type: "warning",
    message:
      "Attestations need OCI media types: the image gets them (oci-mediatypes=true); drop --provenance and --sbom to keep Docker media types",
    time: Date.now(),
  });
  return "oci";
}

/** Makes the layers and writes config and manifest, without attestations. */
async function writeResultImage(
  result: ExportResult,
  ctx: Pick<ExportContext, "content" | "progress">,
  image: ImageOutputOptions,
  mediaTypes: "oci" | "docker",
  options: ExportImageOptions,
): Promise<{ manifest: Descriptor; config: ImageConfig }> {
  if (mediaTypes === "docker" && image.compression === "zstd") {
    // As BuildKit: Docker schema 2 has no standard zstd layer type.
    ctx.progress.write({
      type: "warning",
      message: "compression=zstd needs OCI media types: the image gets them (oci-mediatypes=true)",
      time: Date.now(),
    });
    mediaTypes = "oci";
  }
  const layers = await result.layers({
    ...imageLayerOptions(result, ctx, image),
    ...(options.remoteLayers ? { remote: true } : {}),
  });
  return await writeImage(ctx.content, result.config, layers, {
    annotations: image.annotations,
    mediaTypes,
  });
}

function configPlatform(config: ImageConfig): Platform {
  return {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
}

/**
 * Makes the result's layers as `image` asks and writes its config and manifest into the
 * content store; returns the manifest's descriptor, the final config, and `target`: what to
 * store, push or name. Without attestations `target` is the manifest (with
 * `image.descriptorAnnotations`); with `result.attestations` it is an image index of the
 * manifest (with its platform) and its attestation manifest, as buildx pushes it.
 */
export async function exportImage(
  result: ExportResult,
  ctx: Pick<ExportContext, "content" | "progress">,
  image: ImageOutputOptions,
  options: ExportImageOptions = {},
): Promise<{ manifest: Descriptor; config: ImageConfig; target: Descriptor }> {
  const attestations = result.attestations ?? [];
  const mediaTypes = attestedMediaTypes(ctx, image.mediaTypes, attestations.length > 0);
  const written = await writeResultImage(result, ctx, image, mediaTypes, options);
  const descriptorAnnotations = Object.keys(image.descriptorAnnotations).length > 0
    ? { annotations: image.descriptorAnnotations }
    : {};
  if (attestations.length === 0) {
    written.manifest = { ...written.manifest, ...descriptorAnnotations };
    return { ...written, target: written.manifest };
  }
  const platform = configPlatform(written.config);
  const attestation = await writeAttestationManifest(
    ctx.content,
    written.manifest,
    attestations,
    options.names ?? result.names,
    formatPlatform(platform),
  );
  const index = await writeImageIndex(ctx.content, [
    { ...written.manifest, platform },
    attestation,
  ], { mediaTypes: "oci" });
  return { ...written, target: { ...index, ...descriptorAnnotations } };
}

/**
 * Exports each platform's result as {@linkcode exportImage} does and writes an image index
 * (a Docker manifest list with `oci-mediatypes=false`) over them, each manifest with its
 * `platform` (the platform built for, with its variant), then the attestation manifests of
 * those with `attestations`, as BuildKit orders them; returns the index's descriptor
 * (with `image.descriptorAnnotations`) and the image manifests.
 */
export async function exportImageIndex(
  results: readonly PlatformExportResult[],
  ctx: Pick<ExportContext, "content" | "progress">,
  image: ImageOutputOptions,
  options: ExportImageOptions = {},
): Promise<{ index: Descriptor; manifests: Descriptor[] }> {
  const attested = results.some((r) => r.result.attestations?.length);
  const requested = attestedMediaTypes(ctx, image.mediaTypes, attested);
  const names = options.names ?? results[0]?.result.names ?? [];
  const manifests: Descriptor[] = [];
  const attestations: Descriptor[] = [];
  for (const { platform, result } of results) {
    // Descriptor annotations belong on the index's descriptor, not on its entries.
    const { manifest } = await writeResultImage(result, ctx, image, requested, options);
    manifests.push({
      ...manifest,
      platform: {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
      },
    });
    if (result.attestations?.length) {
      attestations.push(
        await writeAttestationManifest(
          ctx.content,
          manifest,
          result.attestations,
          names,
          formatPlatform(platform),
        ),
      );
    }
  }
  const mediaTypes = requested === "docker" && image.compression !== "zstd" ? "docker" : "oci";
  let index = await writeImageIndex(ctx.content, [...manifests, ...attestations], {
    mediaTypes,
    annotations: image.indexAnnotations,
  });
  if (Object.keys(image.descriptorAnnotations).length > 0) {
    index = { ...index, annotations: image.descriptorAnnotations };
  }
  return { index, manifests };
}
