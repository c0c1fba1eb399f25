/**
 * The command line of a step under the chroot executor: util-linux `unshare` makes the
 * mount, PID, UTS and IPC namespaces (and a network namespace for `--network=none`); a
 * shell, pid 1 there, mounts what an OCI runtime would mount, in the same order, then
 * `setpriv` sets the groups and the bounding set and `unshare --root` changes root, working
 * directory and user and runs the step's command as pid 1.
 *
 * @module
 */
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, type StepMount } from "@img/core/exec";

/** The host programs the executor runs, by absolute path. */
export interface Tools {
  /** A POSIX shell. */
  sh: string;
  /** util-linux `unshare` (2.38 or later: `--root`, `--wd`, `--setuid`). */
  unshare: string;
  /** util-linux `setpriv`. */
  setpriv: string;
  /** util-linux `mount`. */
  mount: string;
  /** `mkdir`. */
  mkdir: string;
  /** `ln`. */
  ln: string;
  /** `env`. */
  env: string;
  /** `hostname` (sethostname(2) in the new UTS namespace). */
  hostname: string;
  /** iproute2's `ip`, to bring `lo` up in a new network namespace, if installed. */
  ip?: string;
}

/** One mount, its host target resolved and its source ready to mount there. */
export interface PlannedMount {
  /** The target on the host, inside the root filesystem. */
  target: string;
  /** Create the target as a file (the source is a file) or a directory. */
  file: boolean;
  /** The mount, in the step's terms. */
  mount: StepMount;
  /** For a bind mount: the lockable flags of the source's mount, kept when remounting it. */
  locked?: string[];
}

/** Everything a step's command line needs. */
export interface SetupPlan {
  /** The root filesystem on the host. */
  root: string;
  /** Remount the root read-only once everything is mounted; the lockable flags of its mount. */
  rootReadonly?: string[];
  /** The hostname. */
  hostname: string;
  /** `none`: a new network namespace with only `lo`. */
  network: "host" | "none";
  /** The mounts, in order. */
  mounts: PlannedMount[];
  /** The RLIMIT_NOFILE to set, soft and hard. */
  nofile?: number;
  /** The step's user. */
  uid: number;
  /** Its primary group. */
  gid: number;
  /** Its supplementary groups. */
  groups: number[];
  /** The working directory, inside the root filesystem. */
  cwd: string;
  /** The command and its arguments. */
  args: string[];
  /** The environment, `KEY=value`. */
  env: string[];
  /** The host programs. */
  tools: Tools;
}

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: [string, string][] = [
  ["/proc/self/fd", "fd"],
  ["/proc/self/fd/0", "stdin"],
  ["/proc/self/fd/1", "stdout"],
  ["/proc/self/fd/2", "stderr"],
  ["pts/ptmx", "ptmx"],
  ["/proc/kcore", "core"],
];
const BIND_FLAGS = new Set(["nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime"]);

/** The shell script pid 1 runs: the mounts, then `exec` of the step's command. */
export function setupScript(p: SetupPlan): string {
  const q = shellQuote;
  const t = p.tools;
  const mount = (...args: string[]) => [q(t.mount), "-n", ...args.map(q)].join(" ");
  const lines = ["set -e"];
  if (p.rootReadonly) lines.push(mount("--bind", p.root, p.root));
  lines.push(`${q(t.hostname)} ${q(p.hostname)}`);
  if (p.network === "none" && t.ip) lines.push(`${q(t.ip)} link set lo up`);
  let devMounted = false;
  for (const m of p.mounts) {
    const target = q(m.target);
    if (m.file) {
      const parent = m.target.slice(0, m.target.lastIndexOf("/")) || "/";
      lines.push(`[ -e ${target} ] || { ${q(t.mkdir)} -p ${q(parent)}; : > ${target}; }`);
    } else {
      lines.push(`${q(t.mkdir)} -p ${target}`);
    }
    const opts = m.mount.options ?? [];
    if (m.mount.type === "bind") {
      lines.push(mount("--rbind", m.mount.source, m.target));
      const flags = opts.filter((o) => BIND_FLAGS.has(o));
      if (opts.includes("ro") || flags.length > 0) {
        const all = [...new Set([...flags, ...(m.locked ?? [])])];
        const mode = opts.includes("ro") ? "ro" : "rw";
        lines.push(mount("-o", ["remount", "bind", mode, ...all].join(","), m.target));
      }
    } else {
      const o = opts.length ? ["-o", opts.join(",")] : [];
      lines.push(mount("-t", m.mount.type, ...o, m.mount.source, m.target));
    }
    if (m.mount.destination === "/dev") devMounted = true;
  }
  if (devMounted) {
    const dev = `${p.root}/dev`;
    for (const d of DEVICES) {
      lines.push(`: > ${q(`${dev}/${d}`)}`, mount("--bind", `/dev/${d}`, `${dev}/${d}`));
    }
    for (const [to, name] of DEV_LINKS) {
      lines.push(`[ -e ${q(`${dev}/${name}`)} ] || ${q(t.ln)} -s ${q(to)} ${q(`${dev}/${name}`)}`);
    }
  }
  for (const path of MASKED_PATHS) {
    const h = q(`${p.root}${path}`);
    lines.push(
      `if [ -d ${h} ]; then ${
        mount("-t", "tmpfs", "-o", "ro,nosuid,nodev,noexec", "tmpfs")
      } ${h}; ` +
        `elif [ -e ${h} ]; then ${mount("--bind", "/dev/null")} ${h}; fi`,
    );
  }
  for (const path of READONLY_PATHS) {
    const h = q(`${p.root}${path}`);
    lines.push(
      `if [ -e ${h} ]; then ${mount("--bind")} ${h} ${h} && ` +
        `${mount("-o", "remount,bind,ro,nosuid,nodev,noexec,relatime")} ${h}; fi`,
    );
  }
  if (p.rootReadonly) {
    lines.push(mount("-o", ["remount", "bind", "ro", ...p.rootReadonly].join(","), p.root));
  }
  if (p.nofile !== undefined) lines.push(`ulimit -n ${p.nofile} 2>/dev/null || true`);
  const caps = DEFAULT_CAPABILITIES.map((c) => "+" + c.slice(4).toLowerCase()).join(",");
  const exec = [
    t.env,
    "-i",
    ...p.env.filter((e) => e.includes("=")),
    t.setpriv,
    `--regid=${p.gid}`,
    p.groups.length ? `--groups=${p.groups.join(",")}` : "--clear-groups",
    `--bounding-set=-all,${caps}`,
    "--pdeathsig=KILL",
    "--",
    t.unshare,
    `--root=${p.root}`,
    `--wd=${p.cwd}`,
    `--setuid=${p.uid}`,
    "--",
    ...p.args,
  ];
  lines.push(`exec ${exec.map(q).join(" ")}`);
  return lines.join("\n") + "\n";
}

/** The whole command line: `setpriv --pdeathsig` `unshare` ... `sh -c` the script. */
export function commandLine(p: SetupPlan): string[] {
  return [
    p.tools.setpriv,
    "--pdeathsig=KILL",
    "--",
    p.tools.unshare,
    "--mount",
    "--propagation=private",
    "--pid",
    "--fork",
    "--kill-child",
    "--uts",
    "--ipc",
    ...(p.network === "none" ? ["--net"] : []),
    "--",
    p.tools.sh,
    "-c",
    setupScript(p),
  ];
}
