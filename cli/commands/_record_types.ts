/**
 * The build cache's record types, for the `--filter type=` help of `du` and `prune`: the
 * flags are defined without loading core's garbage collector, whose `RECORD_TYPES` these
 * equal (`_record_types_test.ts` keeps them so).
 *
 * @module
 */

/** The record types `--filter type=` takes, in core's order. */
export const RECORD_TYPE_NAMES: readonly string[] = [
  "regular",
  "exec.cachemount",
  "cache.imported",
];
