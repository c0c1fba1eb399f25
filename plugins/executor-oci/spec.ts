/**
 * The OCI runtime `config.json` for a RUN step, as BuildKit's rootless runc executor writes
 * it (containerd's default Unix spec, then BuildKit's changes and its rootless conversion),
 * for a runtime started inside img's user namespace: no user namespace entry and no id
 * mappings of its own, no cgroups.
 *
 * @module
 */
import type { Ulimit } from "@img/core";
import {
  allCapabilities,
  DEFAULT_CAPABILITIES,
  DEFAULT_HOSTNAME,
  MASKED_PATHS,
  READONLY_PATHS,
  type StepMount,
  stepMounts,
  toStepMounts,
  ULIMIT_RESOURCES,
} from "@img/core/exec";

export {
  dedupMounts,
  DEFAULT_CAPABILITIES,
  DEFAULT_HOSTNAME,
  DEFAULT_NOFILE,
  hardNofileLimit,
  MASKED_PATHS,
  READONLY_PATHS,
} from "@img/core/exec";

/** A mount in `config.json`. */
export type OciMount = StepMount;

/**
 * The `config.json` mounts for one of the step's own mounts: bind mounts become
 * recursive binds (read-only when asked), other types are passed through.
 */
export const toOciMounts: typeof toStepMounts = toStepMounts;

/** A POSIX resource limit in `config.json`. */
export interface OciRlimit {
  /** The limit (`RLIMIT_NOFILE`). */
  type: string;
  /** The hard limit (-1: unlimited, written as RLIM_INFINITY by {@linkcode specJSON}). */
  hard: number;
  /** The soft limit (-1: unlimited). */
  soft: number;
}

/** The parts of an OCI runtime spec (`config.json`) that img writes. */
export interface OciSpec {
  /** The runtime spec version. */
  ociVersion: string;
  /** The process to run. */
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: {
      bounding: string[];
      effective: string[];
      permitted: string[];
    };
    rlimits?: OciRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  /** The root filesystem. */
  root: { path: string; readonly: boolean };
  /** The container's hostname (needs a UTS namespace). */
  hostname: string;
  /** Mounts, in order. */
  mounts: OciMount[];
  /** Linux specifics. */
  linux: {
    resources: Record<string, never>;
    namespaces: { type: string; path?: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

/** What {@linkcode generateSpec} needs. */
export interface SpecOptions {
  /** The root filesystem directory (`root.path`). */
  rootPath: string;
  /** Mount the root filesystem read-only. */
  rootReadonly?: boolean;
  /** The command and its arguments. */
  args: string[];
  /** The environment, `KEY=value`. */
  env: string[];
  /** The working directory in the container. */
  cwd: string;
  /** The user and group ids. */
  uid: number;
  /** The primary group id. */
  gid: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
  /**
   * `host`: no network namespace; `none`: a new one (only `lo`); `join`: the one at
   * {@linkcode SpecOptions.netnsPath} (the step's slirp4netns network).
   */
  network: "host" | "none" | "join";
  /** With `join`: the network namespace to join. */
  netnsPath?: string;
  /** `--security=insecure`: every capability, no masked or read-only paths, `/sys` writable. */
  insecure?: boolean;
  /** The size of `/dev/shm` in bytes; default 64 MiB. */
  shmSize?: number;
  /** Further resource limits (`--ulimit`); one of the same name replaces `nofile`'s. */
  ulimits?: Ulimit[];
  /** Allocate a terminal. */
  tty?: boolean;
  /** The hostname (default {@linkcode DEFAULT_HOSTNAME}). */
  hostname?: string;
  /** A file bound read-only over `/etc/resolv.conf`, if any. */
  resolvConf?: string;
  /** A file bound read-only over `/etc/hosts`, if any. */
  hostsFile?: string;
  /** The RLIMIT_NOFILE to set (soft and hard); unset: inherit img's. */
  nofile?: number;
  /** The `oom_score_adj` to give the process (BuildKit passes its own). */
  oomScoreAdj?: number;
  /** Further mounts, applied after the standard ones in order. */
  mounts?: OciMount[];
}

/** Returns the `config.json` for a RUN step. */
export function generateSpec(o: SpecOptions): OciSpec {
  const caps = o.insecure ? allCapabilities() : [...DEFAULT_CAPABILITIES];
  const namespaces: { type: string; path?: string }[] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
  ];
  if (o.network === "none") namespaces.push({ type: "network" });
  if (o.network === "join") namespaces.push({ type: "network", path: o.netnsPath });

  const mounts = stepMounts({
    resolvConf: o.resolvConf,
    hostsFile: o.hostsFile,
    mounts: o.mounts,
    shmSize: o.shmSize,
    insecure: o.insecure,
  });

  const spec: OciSpec = {
    ociVersion: "1.0.2",
    process: {
      terminal: o.tty ?? false,
      user: {
        uid: o.uid,
        gid: o.gid,
        ...(o.additionalGids?.length ? { additionalGids: [...o.additionalGids] } : {}),
      },
      args: [...o.args],
      env: [...o.env],
      cwd: !o.cwd ? "/" : o.cwd.startsWith("/") ? o.cwd : `/${o.cwd}`,
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      noNewPrivileges: false,
    },
    root: { path: o.rootPath, readonly: o.rootReadonly ?? false },
    hostname: o.hostname ?? DEFAULT_HOSTNAME,
    mounts,
    linux: {
      resources: {},
      namespaces,
      maskedPaths: o.insecure ? [] : [...MASKED_PATHS],
      readonlyPaths: o.insecure ? [] : [...READONLY_PATHS],
    },
  };
  const rlimits: OciRlimit[] = [];
  if (o.nofile !== undefined && !o.ulimits?.some((u) => u.name === "nofile")) {
    rlimits.push({ type: "RLIMIT_NOFILE", hard: o.nofile, soft: o.nofile });
  }
  for (const u of o.ulimits ?? []) {
    rlimits.push({ type: ULIMIT_RESOURCES[u.name], hard: u.hard, soft: u.soft });
  }
  if (rlimits.length) spec.process.rlimits = rlimits;
  if (o.oomScoreAdj !== undefined) spec.process.oomScoreAdj = o.oomScoreAdj;
  return spec;
}

/** `config.json` text: an unlimited (-1) resource limit is written as RLIM_INFINITY. */
export function specJSON(spec: OciSpec): string {
  return JSON.stringify(spec).replace(/"(soft|hard)":-1\b/g, '"$1":18446744073709551615');
}
