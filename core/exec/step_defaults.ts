/**
 * What a RUN step gets besides its mounts, as BuildKit gives it: the hostname, the hosts
 * file, the open-files limit, the capabilities of a root step and img's `oom_score_adj`.
 *
 * @module
 */
import type { ExtraHost, Ulimit } from "../build_graph.ts";
import { extraHostLines } from "./extra_hosts.ts";

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

/**
 * The hosts file BuildKit gives a step, then the extra hosts (`--add-host`), `host-gateway`
 * replaced by `gateway`.
 */
export function hostsContent(
  hostname: string,
  extraHosts: readonly ExtraHost[] = [],
  gateway = "127.0.0.1",
): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n` +
    extraHostLines(extraHosts, gateway);
}

/** Every capability (up to this kernel's last), which `--security=insecure` grants. */
export function allCapabilities(): string[] {
  let last = ALL_CAPABILITIES.length - 1;
  try {
    last = Math.min(last, Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim()));
  } catch {
    // keep the whole list
  }
  return ALL_CAPABILITIES.slice(0, last + 1);
}

/** The capabilities by number, as `linux/capability.h` orders them. */
const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

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

/** The RLIMIT_NOFILE a step gets: {@linkcode DEFAULT_NOFILE}, or img's hard limit if lower. */
export function stepNofile(): number | undefined {
  const hard = hardNofileLimit();
  return hard === undefined ? undefined : Math.min(DEFAULT_NOFILE, hard);
}

/**
 * The resource limits of a step: the open-files default ({@linkcode stepNofile}), replaced
 * or joined by the step's own `--ulimit`s.
 */
export function stepUlimits(ulimits: readonly Ulimit[] = []): Ulimit[] {
  const out: Ulimit[] = [];
  const nofile = stepNofile();
  if (nofile !== undefined && !ulimits.some((u) => u.name === "nofile")) {
    out.push({ name: "nofile", soft: nofile, hard: nofile });
  }
  return [...out, ...ulimits];
}

/** This process's `oom_score_adj`, which BuildKit passes on to its steps. */
export function readOomScoreAdj(): number | undefined {
  try {
    const n = Number(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
