/**
 * Rootless operation: img re-executes itself once inside a user + mount namespace
 * ({@linkcode ensureRootless}), with the user's `/etc/subuid` and `/etc/subgid` ranges
 * mapped through `newuidmap`/`newgidmap`.
 *
 * Imported as `@img/core/rootless`: internal to img's own packages (plugin authors use
 * `@img/core`); it may change in any release.
 *
 * @module
 */

export {
  awaitGo,
  ensureRootless,
  type EnsureRootlessOptions,
  HELD_ENV,
  type HeldRootless,
  HOST_PID_ENV,
  type IdMapping,
  inOwnPidNamespace,
  inUserNamespace,
  isInitialIdMap,
  type LifetimeSupport,
  lifetimeSupport,
  NAMESPACE_INIT,
  parseIdMap,
  PID_NAMESPACE_ENV,
  ROOTLESS_CHILD_ENV,
  ROOTLESS_METHOD_ENV,
  rootlessPlan,
  selfCommand,
  startHeldRootless,
  unshareArgs,
} from "./bootstrap.ts";
export {
  type RootlessHost,
  type RootlessMethod,
  type RootlessPlan,
  SINGLE_MAPPING_ENV,
} from "./_checks.ts";
export {
  executorWithoutNamespace,
  isNamespaceNeeded,
  NamespaceNeeded,
  snapshotterWithoutNamespace,
} from "./without_namespace.ts";
export {
  firstRange,
  parseSubIds,
  rangesFor,
  readSubIds,
  SUBGID_PATH,
  type SubIdEntry,
  type SubIdOwner,
  type SubIdRange,
  SUBUID_PATH,
  suggestStart,
} from "./subid.ts";
