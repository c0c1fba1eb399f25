/**
 * Users and groups of an image: a Dockerfile `USER` (`name`, `uid`, `name:group`,
 * `uid:gid`) and a `--chown` value resolved to numeric ids through the root filesystem's
 * `/etc/passwd` and `/etc/group`, as BuildKit's `oci.GetUser` does with runc's
 * `user.GetExecUser`.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import { rootPath } from "./root_path.ts";

/** The numeric identity a step runs as. */
export interface ResolvedUser {
  /** The user id. */
  uid: number;
  /** The primary group id. */
  gid: number;
  /** Supplementary groups: the primary group, then the groups that list the user as a member. */
  additionalGids: number[];
}

/** One line of `/etc/passwd`. */
export interface PasswdEntry {
  /** The login name. */
  name: string;
  /** The user id. */
  uid: number;
  /** The primary group id. */
  gid: number;
  /** The home directory. */
  home: string;
}

/** One line of `/etc/group`. */
export interface GroupEntry {
  /** The group name. */
  name: string;
  /** The group id. */
  gid: number;
  /** The member user names. */
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function toInt(s: string | undefined): number {
  return /^\d+$/.test(s ?? "") ? Number(s) : 0;
}

/** Parses `/etc/passwd` text (blank and `#` lines skipped, missing fields as runc reads them). */
export function parsePasswd(text: string): PasswdEntry[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map(
    (line) => {
      const f = line.split(":");
      return { name: f[0] ?? "", uid: toInt(f[2]), gid: toInt(f[3]), home: f[5] ?? "" };
    },
  );
}

/** Parses `/etc/group` text. */
export function parseGroup(text: string): GroupEntry[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map(
    (line) => {
      const f = line.split(":");
      return {
        name: f[0] ?? "",
        gid: toInt(f[2]),
        members: (f[3] ?? "").split(",").filter((m) => m !== ""),
      };
    },
  );
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

async function readInRoot(rootfs: string, path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(rootPath(rootfs, path));
  } catch {
    return undefined;
  }
}

/**
 * Puts the primary group first in the supplementary groups unless it is there already, as
 * containerd and BuildKit do since CVE-2023-25173 (so `id` lists it under `groups=`).
 */
export function ensureAdditionalGids(gid: number, additionalGids: number[] = []): number[] {
  return additionalGids.includes(gid) ? [...additionalGids] : [gid, ...additionalGids];
}

/**
 * The ids of `user` in the root filesystem `rootfs`, as BuildKit resolves a `USER`
 * (`oci.GetUser` with runc's `user.GetExecUser`, then containerd's primary-group rule):
 *
 * - `uid:gid` (numbers, or `root`): taken as they are;
 * - otherwise the user (a name, or a uid matched against `/etc/passwd`; empty means uid 0)
 *   gives the uid and primary gid, and the groups listing it as a member the supplementary
 *   gids; an explicit `:group` (a name from `/etc/group` or a number) replaces the primary
 *   gid and drops the supplementary ones. A uid missing from `/etc/passwd` runs with gid 0.
 * - `additionalGids` always starts with the primary gid.
 *
 * Files are read with symlinks resolved inside `rootfs`. An unknown name is an ImgError
 * with docker's wording (`unable to find user NAME: no matching entries in passwd file`).
 */
export async function resolveUser(
  rootfs: string,
  user: string | undefined,
): Promise<ResolvedUser> {
  const { uid, gid, additionalGids } = await lookupUser(rootfs, user ?? "");
  return { uid, gid, additionalGids: ensureAdditionalGids(gid, additionalGids) };
}

async function lookupUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const colon = spec.indexOf(":");
  // BuildKit looks an unset user up as uid 0, for root's supplementary groups.
  const userArg = spec === "" ? "0" : colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? "" : spec.slice(colon + 1);

  // BuildKit's fast path: both ids given as numbers (or "root").
  if (colon >= 0) {
    const u = userArg === "root" ? 0 : parseId(userArg);
    const g = groupArg === "root" ? 0 : parseId(groupArg);
    if (u !== undefined && g !== undefined) return { uid: u, gid: g, additionalGids: [] };
  }

  const passwdText = await readInRoot(rootfs, "/etc/passwd");
  const groupText = await readInRoot(rootfs, "/etc/group");
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  const result: ResolvedUser = { uid: 0, gid: 0, additionalGids: [] };
  const numericUid = parseId(userArg);
  const found = passwd.find((u) =>
    numericUid !== undefined ? u.uid === numericUid : u.name === userArg
  );
  let matchedName = "";
  if (found) {
    matchedName = found.name;
    result.uid = found.uid;
    result.gid = found.gid;
  } else if (numericUid !== undefined) {
    result.uid = numericUid;
  } else if (/^\d+$/.test(userArg)) {
    throw new ImgError(`User id ${userArg} is out of range: use a uid up to ${MAX_ID}`);
  } else {
    throw new ImgError(`unable to find user ${userArg}: no matching entries in passwd file`);
  }

  if (groupArg !== "") {
    const numericGid = parseId(groupArg);
    const group = groups.find((g) =>
      numericGid !== undefined ? g.gid === numericGid : g.name === groupArg
    );
    if (group) result.gid = group.gid;
    else if (numericGid !== undefined) result.gid = numericGid;
    else throw new ImgError(`unable to find group ${groupArg}: no matching entries in group file`);
  } else if (matchedName !== "") {
    result.additionalGids = groups.filter((g) => g.members.includes(matchedName)).map((g) => g.gid);
  }
  return result;
}

/**
 * Resolves a `--chown` value (`user`, `user:group`, numeric ids) through the image at `root`,
 * as BuildKit does: a user alone means that user's primary group (for a number, the same
 * number). As BuildKit's file op: a user or group name missing from the image's
 * `/etc/passwd` or `/etc/group` (or missing files) leaves the id at 0.
 */
export async function resolveChown(
  root: string,
  spec: string,
): Promise<{ uid: number; gid: number }> {
  const colon = spec.indexOf(":");
  const u = colon < 0 ? spec : spec.slice(0, colon);
  const g = colon < 0 ? "" : spec.slice(colon + 1);
  let uid: number, gid: number;
  const numericUid = parseId(u);
  if (numericUid !== undefined) {
    uid = numericUid;
    gid = numericUid;
  } else {
    const entry = parsePasswd(await readInRoot(root, "/etc/passwd") ?? "").find((e) =>
      e.name === u
    );
    uid = entry?.uid ?? 0;
    gid = entry?.gid ?? 0;
  }
  if (g !== "") {
    const numericGid = parseId(g);
    if (numericGid !== undefined) gid = numericGid;
    else {
      const group = parseGroup(await readInRoot(root, "/etc/group") ?? "").find((e) =>
        e.name === g
      );
      if (group) gid = group.gid;
    }
  }
  return { uid, gid };
}
