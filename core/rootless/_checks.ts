/**
 * The checks made before img re-executes itself in a user namespace, so that a host that
 * cannot do it gets one clear line that says what to fix, not a failure from `unshare`.
 *
 * Everything the checks read comes through {@linkcode RootlessHost}, so tests can point them at
 * temporary files.
 *
 * @module
 */

import { ImgError } from "../errors.ts";
import { programHelp } from "./_help_cache.ts";
import {
  firstRange,
  readSubIds,
  SUBGID_PATH,
  type SubIdEntry,
  type SubIdRange,
  SUBUID_PATH,
  suggestStart,
} from "./subid.ts";

/** How the user namespace is set up. */
export type RootlessMethod =
  /** `unshare --map-auto --map-root-user` (util-linux 2.38+) runs newuidmap/newgidmap. */
  | "map-auto"
  /** img runs newuidmap/newgidmap itself on an `unshare --user` child held on a FIFO. */
  | "newuidmap"
  /** `unshare --map-root-user` only: one id (the user's own) is mapped, to root. */
  | "single";

/** The environment variable that allows the single-id fallback. */
export const SINGLE_MAPPING_ENV = "IMG_ROOTLESS_SINGLE_MAPPING";

/** What the checks read from the host. */
export interface RootlessHost {
  /** The root of the sysctl tree, normally `/proc/sys`. */
  procSys: string;
  /** The subordinate uid file, normally `/etc/subuid`. */
  subuidPath: string;
  /** The subordinate gid file, normally `/etc/subgid`. */
  subgidPath: string;
  /** The user that runs img. */
  user: { name?: string; uid: number; gid: number };
  /** The absolute path of an executable found in PATH (or the sbin dirs), or null. */
  findExecutable(name: string): string | null;
  /** Whether an id-map helper can map other ids: set-user-ID root or with file capabilities. */
  isPrivilegedHelper(path: string): Promise<boolean>;
  /** The output of `unshare --help`, to learn which options it has. */
  unshareHelp(unshare: string): Promise<string>;
}

/** What to run to enter the user namespace. */
export interface RootlessPlan {
  /** How the namespace is set up. */
  method: RootlessMethod;
  /** The unshare executable. */
  unshare: string;
  /** The newuidmap executable (methods map-auto and newuidmap). */
  newuidmap?: string;
  /** The newgidmap executable (methods map-auto and newuidmap). */
  newgidmap?: string;
  /** The user's first subordinate uid range (methods map-auto and newuidmap). */
  uidRange?: SubIdRange;
  /** The user's first subordinate gid range (methods map-auto and newuidmap). */
  gidRange?: SubIdRange;
  /** Things that work but not fully, for the user to read. */
  warnings: string[];
}

/** Options of {@linkcode planRootless}. */
export interface PlanOptions {
  /** Allow the single-id fallback when subordinate ids cannot be used. */
  allowSingleMapping?: boolean;
  /** Use this method instead of choosing one (for tests and debugging). */
  method?: RootlessMethod;
}

const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function isExecutableFile(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function userName(uid: number): string | undefined {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const fields = line.split(":");
      if (fields.length >= 3 && fields[2] === String(uid)) return fields[0];
    }
  } catch {
    // no /etc/passwd: fall back to the environment
  }
  return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? undefined;
}

/** The real host: /proc/sys, /etc/subuid, /etc/subgid, PATH, the current user. */
export function systemHost(): RootlessHost {
  const uid = Deno.uid() ?? 0;
  return {
    procSys: "/proc/sys",
    subuidPath: SUBUID_PATH,
    subgidPath: SUBGID_PATH,
    user: { name: userName(uid), uid, gid: Deno.gid() ?? 0 },
    findExecutable(name) {
      const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
      for (const dir of [...dirs, ...SEARCH_DIRS]) {
        if (isExecutableFile(`${dir}/${name}`)) return `${dir}/${name}`;
      }
      return null;
    },
    async isPrivilegedHelper(path) {
      try {
        const st = Deno.statSync(path);
        if (st.uid === 0 && ((st.mode ?? 0) & 0o4000) !== 0) return true;
      } catch {
        return false;
      }
      // Some distributions give newuidmap file capabilities instead of the setuid bit.
      // Reading them needs libc, imported only on this rare path.
      try {
        const { lgetxattr } = await import("../libc.ts");
        return lgetxattr(path, "security.capability") !== null;
      } catch {
        return true; // cannot tell (no --allow-ffi?): let newuidmap report it
      }
    },
    unshareHelp(unshare) {
      let help = unshareHelps.get(unshare);
      if (!help) {
        help = programHelp(unshare);
        unshareHelps.set(unshare, help);
      }
      return help;
    },
  };
}

/** `unshare --help` by path, asked once per process (the plan and the lifetime checks read it). */
const unshareHelps = new Map<string, Promise<string>>();

function readSysctl(host: RootlessHost, name: string): string | undefined {
  try {
    return Deno.readTextFileSync(`${host.procSys}/${name}`).trim();
  } catch {
    return undefined;
  }
}

/** Throws an ImgError when the kernel does not let unprivileged users create user namespaces. */
export function checkUserNamespaces(host: RootlessHost): void {
  if (readSysctl(host, "kernel/apparmor_restrict_unprivileged_userns") === "1") {
    throw new ImgError(
      "AppArmor restricts unprivileged user namespaces: run `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` as root, or give img an AppArmor profile that allows userns",
    );
  }
  if (readSysctl(host, "kernel/unprivileged_userns_clone") === "0") {
    throw new ImgError(
      "Unprivileged user namespaces are disabled: run `sysctl -w kernel.unprivileged_userns_clone=1` as root (and add it to /etc/sysctl.d/ to keep it)",
    );
  }
  if (readSysctl(host, "user/max_user_namespaces") === "0") {
    throw new ImgError(
      "User namespaces are disabled: run `sysctl -w user.max_user_namespaces=15000` as root (and add it to /etc/sysctl.d/ to keep it)",
    );
  }
}

function describeUser(host: RootlessHost): string {
  return host.user.name ?? `uid ${host.user.uid}`;
}

function missingRangeError(
  host: RootlessHost,
  kind: "uid" | "gid",
  path: string,
  entries: SubIdEntry[],
): ImgError {
  const owner = host.user.name ?? String(host.user.uid);
  const start = suggestStart(entries);
  const flag = kind === "uid" ? "--add-subuids" : "--add-subgids";
  return new ImgError(
    `No subordinate ${kind} range for ${describeUser(host)} in ${path}: add a line such as ` +
      `"${owner}:${start}:65536" (as root: usermod ${flag} ${start}-${start + 65535} ${owner}), ` +
      `or set ${SINGLE_MAPPING_ENV}=1 to run with a single ${kind} (chown to other ids then fails)`,
  );
}

function missingHelperError(name: string): ImgError {
  return new ImgError(
    `${name} is not installed: install the uidmap package (apt-get install uidmap)`,
  );
}

const SINGLE_WARNING =
  "running with a single uid and gid mapped (no subordinate ids): files owned by other users cannot be created, so chown, and RUN steps or layers that need other owners, fail";

/**
 * Checks that this host can run img rootless and says how: throws an ImgError naming the
 * fix when it cannot.
 */
export async function planRootless(
  host: RootlessHost,
  options: PlanOptions = {},
): Promise<RootlessPlan> {
  checkUserNamespaces(host);
  const unshare = host.findExecutable("unshare");
  if (!unshare) {
    throw new ImgError(
      "unshare is not installed: install the util-linux package (apt-get install util-linux)",
    );
  }
  const warnings: string[] = [];
  if (options.method === "single") {
    return { method: "single", unshare, warnings: [SINGLE_WARNING] };
  }

  const uidEntries = await readSubIds(host.subuidPath);
  const gidEntries = await readSubIds(host.subgidPath);
  const uidRange = firstRange(uidEntries, host.user);
  const gidRange = firstRange(gidEntries, host.user);
  const newuidmap = host.findExecutable("newuidmap");
  const newgidmap = host.findExecutable("newgidmap");

  let problem: ImgError | undefined;
  if (!newuidmap) problem = missingHelperError("newuidmap");
  else if (!newgidmap) problem = missingHelperError("newgidmap");
  else if (!uidRange) problem = missingRangeError(host, "uid", host.subuidPath, uidEntries);
  else if (!gidRange) problem = missingRangeError(host, "gid", host.subgidPath, gidEntries);
  else {
    for (const helper of [newuidmap, newgidmap]) {
      if (!(await host.isPrivilegedHelper(helper))) {
        problem = new ImgError(
          `${helper} is neither set-user-ID root nor has file capabilities: run \`chmod u+s ${helper}\` as root, or reinstall the uidmap package`,
        );
        break;
      }
    }
  }
  if (problem) {
    if (options.allowSingleMapping) {
      return {
        method: "single",
        unshare,
        warnings: [`${problem.message.replace(/:.*$/, "")}: ${SINGLE_WARNING}`],
      };
    }
    throw problem;
  }

  for (const [kind, range] of [["uid", uidRange!], ["gid", gidRange!]] as const) {
    if (range.count < 65536) {
      warnings.push(
        `the subordinate ${kind} range of ${
          describeUser(host)
        } has only ${range.count} ids: files owned by ${kind}s from ${range.count} up cannot be created`,
      );
    }
  }

  let method = options.method;
  if (!method) {
    const help = await host.unshareHelp(unshare);
    method = help.includes("--map-auto") ? "map-auto" : "newuidmap";
  }
  return {
    method,
    unshare,
    newuidmap: newuidmap!,
    newgidmap: newgidmap!,
    uidRange,
    gidRange,
    warnings,
  };
}
