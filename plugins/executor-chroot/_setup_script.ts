/**
 * The command line of a step under the chroot executor: util-linux `unshare` makes the
 * mount, PID, UTS and IPC namespaces (and a network namespace for `--network=none`; util-linux
 * `nsenter` first joins the step's slirp4netns network for the default one); a shell, pid 1
 * there, mounts what an OCI runtime would mount, in the same order, then
 * `setpriv` sets the groups and the bounding set and `unshare --root` changes root, working
 * directory and user and runs the step's command as pid 1.
 *
 * @module
 */
import { ImgError, type Ulimit } from "@img/core";
import {
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  type StepMount,
  ULIMIT_RESOURCES,
} from "@img/core/exec";

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
  /** `env`. */
  env: string;
  /** `hostname` (sethostname(2) in the new UTS namespace). */
  hostname: string;
  /** iproute2's `ip`, to bring `lo` up in a new network namespace, if installed. */
  ip?: string;
  /** util-linux `nsenter`, to join the step's network namespace, if installed. */
  nsenter?: string;
  /** util-linux `prlimit`, to set `--ulimit`s, if installed. */
  prlimit?: string;
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
  /** `none`: a new network namespace with only `lo`; `join`: the one at `netnsPath`. */
  network: "host" | "none" | "join";
  /** With `join`: the network namespace to join (needs `tools.nsenter`). */
  netnsPath?: string;
  /** `--security=insecure`: every capability, no masked or read-only paths. */
  insecure?: boolean;
  /** Resource limits set with `tools.prlimit` (`--ulimit`); a `nofile` one replaces `nofile`. */
  ulimits?: Ulimit[];
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

/** Escapes a field of an fstab line (`\040` for a space, as getmntent(3) reads it). */
export function fstabField(s: string): string {
  return s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** One fstab line. */
function fstabLine(source: string, target: string, type: string, options: string[]): string {
  const opts = options.length ? options.join(",") : "defaults";
  return [fstabField(source), fstabField(target), type, opts, "0", "0"].join(" ");
}

/** Whether `path` is `parent` or beneath it. */
function isUnder(path: string, parent: string): boolean {
  return parent === "/" || path === parent || path.startsWith(parent + "/");
}

/**
 * The shell script pid 1 runs. It writes the mounts into an fstab (`fstab`, a file in img's
 * step directory) with shell builtins and mounts them all with one `mount -a`, in order, so
 * that a step starts a handful of processes whatever its mounts; then it `exec`s the step's
 * command.
 */
export function setupScript(p: SetupPlan, fstab: string): string {
  const q = shellQuote;
  const t = p.tools;
  const mountAll = `${q(t.mount)} -n -a -T ${q(fstab)}`;
  const lines = ["set -e", `${q(t.hostname)} ${q(p.hostname)}`];
  if (p.network === "none" && t.ip) lines.push(`${q(t.ip)} link set lo up`);
  let pending = false;
  const add = (line: string) => {
    lines.push(`printf '%s\\n' ${q(line)} >> ${q(fstab)}`);
    pending = true;
  };
  const flush = () => {
    if (pending) lines.push(mountAll, `: > ${q(fstab)}`);
    pending = false;
  };
  lines.push(`: > ${q(fstab)}`);
  if (p.rootReadonly) add(fstabLine(p.root, p.root, "none", ["bind"]));
  const done: string[] = [];
  for (const m of p.mounts) {
    // A target beneath an earlier mount exists only once that one is mounted.
    const later = done.some((d) => isUnder(m.mount.destination, d));
    const opts = [...(m.mount.options ?? [])];
    if (m.file && later) {
      flush();
      const parent = m.target.slice(0, m.target.lastIndexOf("/")) || "/";
      lines.push(`[ -e ${q(m.target)} ] || { ${q(t.mkdir)} -p ${q(parent)}; : > ${q(m.target)}; }`);
    } else if (!m.file) {
      opts.push("X-mount.mkdir");
    }
    if (m.mount.type === "bind") {
      const locked = (m.locked ?? []).filter((f) => !opts.includes(f));
      add(
        fstabLine(m.mount.source, m.target, "none", [
          ...opts,
          ...(opts.includes("ro") ? locked : []),
        ]),
      );
    } else {
      add(fstabLine(m.mount.source, m.target, m.mount.type, opts));
    }
    done.push(m.mount.destination);
  }
  flush();
  // Masked and read-only paths, those this kernel's /proc and /sys have.
  for (const path of p.insecure ? [] : MASKED_PATHS) {
    const h = `${p.root}${path}`;
    lines.push(
      `if [ -d ${q(h)} ]; then printf '%s\\n' ${
        q(fstabLine("tmpfs", h, "tmpfs", ["ro", "nosuid", "nodev", "noexec"]))
      } >> ${q(fstab)}; elif [ -e ${q(h)} ]; then printf '%s\\n' ${
        q(fstabLine("/dev/null", h, "none", ["bind"]))
      } >> ${q(fstab)}; fi`,
    );
  }
  for (const path of p.insecure ? [] : READONLY_PATHS) {
    const h = `${p.root}${path}`;
    const line = fstabLine(h, h, "none", ["bind", "ro", "nosuid", "nodev", "noexec", "relatime"]);
    lines.push(`if [ -e ${q(h)} ]; then printf '%s\\n' ${q(line)} >> ${q(fstab)}; fi`);
  }
  lines.push(`if [ -s ${q(fstab)} ]; then ${mountAll}; fi`);
  if (p.rootReadonly) {
    const flags = ["remount", "bind", "ro", ...p.rootReadonly].join(",");
    lines.push(`${q(t.mount)} -n -o ${q(flags)} ${q(p.root)}`);
  }
  const ulimits = p.ulimits ?? [];
  if (p.nofile !== undefined && !ulimits.some((u) => u.name === "nofile")) {
    lines.push(`ulimit -n ${p.nofile} 2>/dev/null || true`);
  }
  const caps = DEFAULT_CAPABILITIES.map((c) => "+" + c.slice(4).toLowerCase()).join(",");
  const exec = [
    t.env,
    "-i",
    ...p.env.filter((e) => e.includes("=")),
    ...prlimitArgs(ulimits, t.prlimit),
    t.setpriv,
    `--regid=${p.gid}`,
    p.groups.length ? `--groups=${p.groups.join(",")}` : "--clear-groups",
    ...(p.insecure ? [] : [`--bounding-set=-all,${caps}`]),
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

/** `prlimit --nofile=512:1024 ... --`, for the step's `--ulimit`s (none: nothing). */
function prlimitArgs(ulimits: Ulimit[], prlimit: string | undefined): string[] {
  if (!ulimits.length) return [];
  if (!prlimit) {
    throw new ImgError(
      "The chroot executor needs prlimit in PATH for --ulimit: install util-linux (apt-get install util-linux)",
    );
  }
  const value = (n: number) => n < 0 ? "unlimited" : String(n);
  return [
    prlimit,
    ...ulimits.map((u) =>
      `--${ULIMIT_RESOURCES[u.name].slice(7).toLowerCase()}=${value(u.soft)}:${value(u.hard)}`
    ),
    "--",
  ];
}

/** `nsenter --net=PATH --`, to join the step's network namespace (`join`; else nothing). */
function nsenterArgs(p: SetupPlan): string[] {
  if (p.network !== "join") return [];
  if (!p.tools.nsenter || !p.netnsPath) {
    throw new ImgError(
      "The chroot executor needs nsenter in PATH for the default network: install util-linux (apt-get install util-linux)",
    );
  }
  return [p.tools.nsenter, `--net=${p.netnsPath}`, "--"];
}

/**
 * The whole command line: `setpriv --pdeathsig` (`nsenter --net`) `unshare` ... `sh -c` the
 * script.
 */
export function commandLine(p: SetupPlan, fstab: string): string[] {
  return [
    p.tools.setpriv,
    "--pdeathsig=KILL",
    "--",
    ...nsenterArgs(p),
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
    setupScript(p, fstab),
  ];
}
