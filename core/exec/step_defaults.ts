/**
 * What a RUN step gets besides its mounts, as BuildKit gives it: the hostname, the hosts
 * file, the open-files limit, the capabilities of a root step and img's `oom_score_adj`.
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

/** The hosts file BuildKit gives a step. */
export function hostsContent(hostname: string): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
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

/** The RLIMIT_NOFILE a step gets: {@linkcode DEFAULT_NOFILE}, or img's hard limit if lower. */
export function stepNofile(): number | undefined {
  const hard = hardNofileLimit();
  return hard === undefined ? undefined : Math.min(DEFAULT_NOFILE, hard);
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
