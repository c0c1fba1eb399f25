/**
 * Build-cache bookkeeping: leases that protect what running builds use, disk usage records
 * (`img du`, imported `--cache-from` records among them) and pruning (`img prune`).
 *
 * Imported as `@img/core/gc`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */
export {
  anyLiveLease,
  doom,
  dropDeadLeases,
  Lease,
  type LeaseKind,
  processAlive,
  processId,
  releaseDoomed,
} from "./leases.ts";
export {
  diskUsage,
  imageBlobDigests,
  importedCacheUsage,
  type ImportedUsageDeps,
  RECORD_TYPES,
  type RecordType,
  type UsageDeps,
  type UsageRecord,
} from "./usage.ts";
export { prune, type PruneDeps, type PruneOptions, type PruneResult } from "./prune.ts";
