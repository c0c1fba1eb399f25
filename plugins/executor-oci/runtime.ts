/**
 * Finding the OCI runtime (crun preferred, runc as the fallback) and the command lines that
 * drive it, including what crun needs on hosts with hybrid cgroups.
 *
 * @module
 */
import { ImgError, inUserNamespace, libc } from "@img/core";
import { lookPath } from "@img/core/exec";

/** The environment variable that chooses the runtime: `crun`, `runc` or a path. */
export const RUNTIME_ENV = "IMG_RUNTIME";

/** The runtimes img knows, in order of preference. */
export const KNOWN_RUNTIMES = ["crun", "runc"] as const;

/** How a runtime is driven: crun's flags or runc's. */
export type RuntimeFlavor = typeof KNOWN_RUNTIMES[number];

/** An OCI runtime binary. */
export interface OciRuntime {
  /** The name it was found by (`crun`, `runc`, or a path's base name). */
  name: string;
  /** The absolute path of the binary. */
  path: string;
  /** Whose command-line conventions it follows. */
  flavor: RuntimeFlavor;
}

const NONE_FOUND =
  "No OCI runtime found: install crun (apt-get install crun) or runc (apt-get install runc)";

export { isExecutable, lookPath } from "@img/core/exec";

/** Whose conventions a runtime binary follows, from its name (`runc` in it: runc's). */
export function flavorOf(file: string): RuntimeFlavor {
  const base = file.slice(file.lastIndexOf("/") + 1);
  return base.includes("runc") && !base.includes("crun") ? "runc" : "crun";
}

/**
 * Finds the OCI runtime: `choice` (`crun`, `runc` or a path to a binary) if given, else
 * crun if it is in `PATH`, else runc. Throws an ImgError that names the packages to install
 * when none is found.
 */
export function findRuntime(
  choice?: string,
  path: string | undefined = Deno.env.get("PATH"),
): OciRuntime {
  if (choice) {
    const found = lookPath(choice, path);
    if (!found) {
      const what = choice.includes("/")
        ? `${choice} is not an executable file`
        : `${choice} is not in PATH`;
      const pkg = (KNOWN_RUNTIMES as readonly string[]).includes(choice)
        ? ` (apt-get install ${choice})`
        : "";
      throw new ImgError(
        `OCI runtime ${choice} not found: ${what}; install it${pkg} or set ${RUNTIME_ENV} to crun, runc or the path of a runtime`,
      );
    }
    const name = choice.includes("/") ? choice.slice(choice.lastIndexOf("/") + 1) : choice;
    return { name, path: found, flavor: flavorOf(found) };
  }
  for (const name of KNOWN_RUNTIMES) {
    const found = lookPath(name, path);
    if (found) return { name, path: found, flavor: name };
  }
  throw new ImgError(NONE_FOUND);
}

/** How `/sys/fs/cgroup` is laid out. */
export type CgroupMode = "unified" | "hybrid" | "legacy" | "none";

/**
 * The host's cgroup layout from `/proc/self/mountinfo` text: `unified` (cgroup2 at
 * `/sys/fs/cgroup`), `hybrid` (v1 hierarchies under a tmpfs, plus cgroup2 at
 * `/sys/fs/cgroup/unified`), `legacy` (v1 only) or `none`. Mounts stacked over
 * `/sys/fs/cgroup` later (such as img's own tmpfs) are ignored: the first mount there counts.
 */
export function cgroupMode(mountinfo?: string): CgroupMode {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/mountinfo");
    } catch {
      return "none";
    }
  }
  let root: string | undefined;
  let unified = false;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const point = fields[4];
    const fstype = fields[sep + 1];
    if (point === "/sys/fs/cgroup" && root === undefined) root = fstype;
    if (point === "/sys/fs/cgroup/unified" && fstype === "cgroup2") unified = true;
  }
  if (root === "cgroup2") return "unified";
  if (root === "tmpfs") return unified ? "hybrid" : "legacy";
  return "none";
}

/**
 * crun refuses hybrid cgroups ("cgroups in hybrid mode not supported, drop all controllers
 * from cgroupv2") even with `--cgroup-manager=disabled`; it works when `/sys/fs/cgroup` is
 * an empty read-only tmpfs in its mount namespace. runc, on the other hand, fails when it
 * is (it then cannot find the v1 hierarchies).
 *
 * Inside img's own user + mount namespace the tmpfs is mounted once, in place, for crun,
 * and taken away again for runc. Elsewhere (real root, in the host's mount namespace) crun
 * is started through `unshare --mount` and a shell that mounts the tmpfs first.
 */
const CGROUP_TMPFS_OPTIONS = "mode=755,size=4k";
const CGROUP_TMPFS_FLAGS = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC;

let ownTmpfs = false;
let hostMode: CgroupMode | undefined;

function hybrid(): boolean {
  hostMode ??= cgroupMode();
  return hostMode === "hybrid";
}

/** The command that runs `runtime` with `args`, arranging `/sys/fs/cgroup` as it needs. */
export function runtimeCommand(
  runtime: OciRuntime,
  stateRoot: string,
  args: string[],
): { command: string; args: string[] } {
  const base = runtime.flavor === "crun"
    ? ["--cgroup-manager=disabled", "--root", stateRoot, ...args]
    : ["--root", stateRoot, ...args];
  if (!hybrid()) return { command: runtime.path, args: base };
  if (runtime.flavor === "runc") {
    if (ownTmpfs) {
      try {
        libc.umount2("/sys/fs/cgroup", libc.MNT_DETACH);
      } catch {
        // already gone
      }
      ownTmpfs = false;
    }
    return { command: runtime.path, args: base };
  }
  if (!ownTmpfs && inUserNamespace()) {
    try {
      libc.mount("tmpfs", "/sys/fs/cgroup", "tmpfs", CGROUP_TMPFS_FLAGS, CGROUP_TMPFS_OPTIONS);
      ownTmpfs = true;
    } catch {
      // fall back to the wrapper below
    }
  }
  if (ownTmpfs) return { command: runtime.path, args: base };
  const script =
    `mount -t tmpfs -o ro,nosuid,nodev,noexec,${CGROUP_TMPFS_OPTIONS} tmpfs /sys/fs/cgroup && exec "$0" "$@"`;
  return {
    command: "unshare",
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      script,
      runtime.path,
      ...base,
    ],
  };
}
