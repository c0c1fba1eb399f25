/**
 * Shared machinery of exporters: validating `--output` attributes, writing to a file
 * atomically or to standard output, and attributing a plugin's errors to it.
 *
 * @module
 */
export {
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
