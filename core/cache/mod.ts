/**
 * Build cache that travels between machines: `--cache-to` exports the cache keys of a build
 * and their layers as an OCI artifact (see `format.ts` for the format) to a registry or an OCI
 * layout directory; `--cache-from` imports it, so a build from an empty state reuses them.
 *
 * Internal to img's own packages (`@img/core/cache`). It may change in any release.
 *
 * @module
 */
export type { CacheImports, ImportedCacheRecord } from "../solver.ts";
export {
  type CacheExportSpec,
  type CacheImportSpec,
  parseCacheExport,
  parseCacheImport,
} from "./spec.ts";
export {
  buildCacheArtifact,
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  type CacheArtifact,
  type CacheExportRecord,
  INLINE_CACHE_FIELD,
  type InlineCache,
  parseCacheRecords,
  parseInlineCache,
} from "./format.ts";
export {
  BuildCacheImports,
  type CacheImportDeps,
  type CacheSourceOpener,
  importBuildCache,
} from "./imports.ts";
export {
  describeCacheSource,
  forgetImportedRecord,
  listImportedRecords,
  rememberImportedRecord,
  type StoredImportedRecord,
  useImportedRecord,
} from "./imported_records.ts";
export { type CacheExportDeps, exportBuildCache, inlineCache } from "./export.ts";
export { loadLocalCache, saveLocalCache } from "./local_cache.ts";
export { type CacheSource, loadRegistryCache, saveRegistryCache } from "./registry_cache.ts";
