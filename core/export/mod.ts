/**
 * Shared machinery of exporters: validating `--output` attributes (and the image ones:
 * compression, media types, annotations, rewrite-timestamp), writing to a file atomically or
 * to standard output, and attributing a plugin's errors to it.
 *
 * Imported as `@img/core/export`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  type AttributeParseResult,
  type AttributeSchema,
  type BooleanAttribute,
  booleanAttribute,
  type ExporterAttributeOptions,
  imageNamesAttribute,
  parseExporterAttributes,
} from "./attributes.ts";
export {
  ExportDestination,
  type ExportDestinationOptions,
  RESPONSE_STDOUT,
  type StandardOutput,
  STDOUT_DEST,
} from "./output.ts";
export { guardExporter, PluginError } from "./guarded.ts";
export {
  exportImage,
  exportImageIndex,
  type ExportImageOptions,
  imageLayerOptions,
  type ImageOutputAttributeOptions,
  type ImageOutputOptions,
  parseImageOutputAttributes,
} from "./image_output.ts";
