/**
 * The mounts of a RUN step, as BuildKit plans them for its runc executor (containerd's
 * default Unix spec, then BuildKit's rootless changes): `/proc`, `/dev` and its
 * sub-mounts, a read-only `/sys`, `/etc/resolv.conf` and `/etc/hosts`, then the step's own
 * mounts, one per destination. Every executor mounts this list, whatever does the mounting.
 *
 * @module
 */

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

/** One mount of a step, in the OCI runtime spec's terms. */
export interface StepMount {
  /** Where it appears in the container. */
  destination: string;
  /** The filesystem type (`bind`, `proc`, `tmpfs`, `overlay`, ...). */
  type: string;
  /** The source. */
  source: string;
  /** Mount options. */
  options?: string[];
}

/** What {@linkcode stepMounts} needs. */
export interface StepMountOptions {
  /** A file bound read-only over `/etc/resolv.conf`, if any. */
  resolvConf?: string;
  /** A file bound read-only over `/etc/hosts`, if any. */
  hostsFile?: string;
  /** The step's own mounts, applied after the standard ones in order. */
  mounts?: StepMount[];
  /** The size of `/dev/shm` in bytes (`--shm-size`); default 64 MiB. */
  shmSize?: number;
  /** `--security=insecure`: `/sys` writable (as far as the user namespace lets it be). */
  insecure?: boolean;
}

/**
 * Every mount of a step, in order: the standard ones, then the step's own; a destination
 * mounted twice keeps the last mount, at the first one's place ({@linkcode dedupMounts}).
 */
export function stepMounts(o: StepMountOptions): StepMount[] {
  const mounts: StepMount[] = [
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
      options: [
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        o.shmSize ? `size=${o.shmSize}` : "size=65536k",
      ],
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
      options: ["rbind", "nosuid", "noexec", "nodev", o.insecure ? "rw" : "ro"],
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
  return dedupMounts(mounts);
}

/**
 * Keeps, for each destination, only the last mount, at the position of the first (as
 * BuildKit's `dedupMounts`): a step's own mount over `/etc/hosts` replaces the default.
 */
export function dedupMounts(mounts: StepMount[]): StepMount[] {
  const index = new Map<string, number>();
  const out: StepMount[] = [];
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

/** `p` made absolute, without `.`, `..` or repeated slashes. */
export function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}

/**
 * The step mounts for one of the step's own mounts: bind mounts become recursive binds
 * (read-only when asked), other types are passed through.
 */
export function toStepMounts(
  target: string,
  mounts: { type: string; source: string; options: string[] }[],
  readonly = false,
): StepMount[] {
  return mounts.map((m) => {
    const isBind = m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");
    let options = m.options.filter((opt) => opt !== "ro" && opt !== "rw");
    if (isBind) options = ["rbind", ...options.filter((opt) => opt !== "bind" && opt !== "rbind")];
    const ro = readonly || m.options.includes("ro");
    options.push(ro ? "ro" : "rw");
    return { destination: target, type: isBind ? "bind" : m.type, source: m.source, options };
  });
}
