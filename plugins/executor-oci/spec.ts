/**
 * The OCI runtime `config.json` for a RUN step, as BuildKit's rootless runc executor writes
 * it (containerd's default Unix spec, then BuildKit's changes and its rootless conversion),
 * for a runtime started inside img's user namespace: no user namespace entry and no id
 * mappings of its own, no cgroups.
 *
 * @module
 */

/** BuildKit's hostname for build containers. */
export const DEFAULT_HOSTNAME = "buildkitsandbox";

/** The open-files limit Docker gives containers, when the user namespace allows it. */
export const DEFAULT_NOFILE = 1048576;

/** The capabilities of a build step (containerd's and BuildKit's default set). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Paths hidden from the step (containerd's default `linux.maskedPaths`). */
export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  "/proc/scsi",
];

/** Paths the step sees read-only (containerd's default `linux.readonlyPaths`). */
export const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** A mount in `config.json`. */
export interface OciMount {
  /** Where it appears in the container. */
  destination: string;
  /** The filesystem type (`bind`, `proc`, `tmpfs`, `overlay`, ...). */
  type: string;
  /** The source. */
  source: string;
  /** Mount options. */
  options?: string[];
}

/** A POSIX resource limit in `config.json`. */
export interface OciRlimit {
  /** The limit (`RLIMIT_NOFILE`). */
  type: string;
  /** The hard limit. */
  hard: number;
  /** The soft limit. */
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
    namespaces: { type: string }[];
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
  /** `host`: no network namespace; `none`: a new one (only `lo`). */
  network: "host" | "none";
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
  const caps = [...DEFAULT_CAPABILITIES];
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (o.network === "none") namespaces.push({ type: "network" });

  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      // containerd adds gid=5; a user namespace drops it (BuildKit's rootless conversion).
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    // sysfs cannot be mounted in a user namespace that does not own the network namespace.
    {
      destination: "/sys",
      type: "bind",
      source: "/sys",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    },
  ];
  const roBind = ["nosuid", "noexec", "nodev", "rbind", "ro"];
  if (o.resolvConf) {
    mounts.push({
      destination: "/etc/resolv.conf",
      type: "bind",
      source: o.resolvConf,
      options: roBind,
    });
  }
  if (o.hostsFile) {
    mounts.push({ destination: "/etc/hosts", type: "bind", source: o.hostsFile, options: roBind });
  }
  mounts.push(...(o.mounts ?? []));

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
    mounts: dedupMounts(mounts),
    linux: {
      resources: {},
      namespaces,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (o.nofile !== undefined) {
    spec.process.rlimits = [{ type: "RLIMIT_NOFILE", hard: o.nofile, soft: o.nofile }];
  }
  if (o.oomScoreAdj !== undefined) spec.process.oomScoreAdj = o.oomScoreAdj;
  return spec;
}

/**
 * Keeps, for each destination, only the last mount, at the position of the first (as
 * BuildKit's `dedupMounts`): a step's own mount over `/etc/hosts` replaces the default.
 */
export function dedupMounts(mounts: OciMount[]): OciMount[] {
  const index = new Map<string, number>();
  const out: OciMount[] = [];
  for (const m of mounts) {
    const dest = cleanPath(m.destination);
    const at = index.get(dest);
    if (at === undefined) {
      index.set(dest, out.length);
      out.push(m);
    } else {
      out[at] = m;
    }
  }
  return out;
}

function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}

/**
 * The `config.json` mounts for one of the step's own mounts: bind mounts become
 * recursive binds (read-only when asked), other types are passed through.
 */
export function toOciMounts(
  target: string,
  mounts: { type: string; source: string; options: string[] }[],
  readonly = false,
): OciMount[] {
  return mounts.map((m) => {
    const isBind = m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");
    let options = m.options.filter((opt) => opt !== "ro" && opt !== "rw");
    if (isBind) options = ["rbind", ...options.filter((opt) => opt !== "bind" && opt !== "rbind")];
    const ro = readonly || m.options.includes("ro");
    options.push(ro ? "ro" : "rw");
    return { destination: target, type: isBind ? "bind" : m.type, source: m.source, options };
  });
}

/** The hard RLIMIT_NOFILE of this process, from `/proc/self/limits`, if readable. */
export function hardNofileLimit(limits?: string): number | undefined {
  let text = limits;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/limits");
    } catch {
      return undefined;
    }
  }
  const line = text.split("\n").find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  if (hard === undefined) return undefined;
  return hard === "unlimited" ? Infinity : Number(hard);
}
