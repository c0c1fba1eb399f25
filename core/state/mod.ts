/**
 * img's state directory (`@img/core/state`): where it is, the lock-free SQLite state
 * database shared by concurrent img processes, and the {@linkcode State} that opens the
 * stores in it.
 *
 * Internal to img's own packages; it may change in any release.
 *
 * ```ts ignore
 * import { defaultStateDir, State } from "@img/core/state";
 *
 * using state = State.open(defaultStateDir());
 * ```
 *
 * @module
 */
export * from "./state_dir.ts";
export * from "./db.ts";
export {
  cacheUsedSince,
  MAX_REBUILD_RECORDS,
  openExistingState,
  readRebuildRecord,
  type RebuildRecord,
  rebuildRecordHolds,
  type RecordedVertex,
  touchRebuildRecord,
  writeRebuildRecord,
} from "./rebuild_records.ts";
