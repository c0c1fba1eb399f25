/**
 * Users and groups of an image: `USER name[:group]` and `--chown` resolved through the
 * image's own `/etc/passwd` and `/etc/group`, as Docker and BuildKit do.
 *
 * @module
 */
import { ImgError } from "./errors.ts";
import { cleanComponents, joinRoot, resolveInRoot } from "./layer/_path.ts";

/** A resolved user. */
export interface ResolvedUser {
  /** The user id. */
  uid: number;
  /** The primary group id. */
  gid: number;
  /** Supplementary groups (from `/etc/group` membership). */
  additionalGids: number[];
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Reads a file of the image at `root`, resolving symlinks inside it; `undefined` if missing. */
async function readImageFile(root: string, path: string): Promise<string | undefined> {
  const parts = resolveInRoot(root, cleanComponents(path) ?? []);
  try {
    return await Deno.readTextFile(joinRoot(root, parts));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return (text ?? "").split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 4 || line.startsWith("#")) return [];
    const uid = Number(f[2]), gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? [{ name: f[0], uid, gid }] : [];
  });
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return (text ?? "").split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 3 || line.startsWith("#")) return [];
    const gid = Number(f[2]);
    return Number.isInteger(gid)
      ? [{ name: f[0], gid, members: (f[3] ?? "").split(",").filter(Boolean) }]
      : [];
  });
}

const NUMERIC = /^\d+$/;

/**
 * Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, empty for root) through the image at
 * `root`. A numeric uid not in `/etc/passwd` is allowed (gid 0, or as given); an unknown name
 * is an error with docker's wording.
 */
export async function resolveUser(root: string, user: string | undefined): Promise<ResolvedUser> {
  if (!user) return { uid: 0, gid: 0, additionalGids: [] };
  const [u, g] = user.split(":", 2);
  const passwd = parsePasswd(await readImageFile(root, "/etc/passwd"));
  const groups = parseGroup(await readImageFile(root, "/etc/group"));
  let uid: number, gid: number, name: string | undefined;
  const byName = passwd.find((e) => e.name === u);
  if (byName) {
    ({ uid, gid, name } = byName);
  } else if (NUMERIC.test(u)) {
    uid = Number(u);
    const entry = passwd.find((e) => e.uid === uid);
    gid = entry?.gid ?? 0;
    name = entry?.name;
  } else {
    throw new ImgError(`unable to find user ${u}: no matching entries in passwd file`);
  }
  let additionalGids: number[] = [];
  if (g !== undefined && g !== "") {
    if (NUMERIC.test(g)) gid = Number(g);
    else {
      const group = groups.find((e) => e.name === g);
      if (!group) {
        throw new ImgError(`unable to find group ${g}: no matching entries in group file`);
      }
      gid = group.gid;
    }
  } else if (name !== undefined) {
    additionalGids = groups.filter((e) => e.members.includes(name!) && e.gid !== gid).map((e) =>
      e.gid
    );
    additionalGids = [gid, ...additionalGids.filter((x, i, a) => a.indexOf(x) === i)];
  }
  return { uid, gid, additionalGids };
}

/**
 * Resolves a `--chown` value (`user`, `user:group`, numeric ids) through the image at `root`,
 * as BuildKit does: a user alone means that user's primary group (for a number, the same
 * number).
 */
export async function resolveChown(
  root: string,
  spec: string,
): Promise<{ uid: number; gid: number }> {
  const [u, g] = spec.split(":", 2);
  let uid: number, gid: number;
  if (NUMERIC.test(u)) {
    uid = Number(u);
    gid = uid;
  } else {
    const entry = parsePasswd(await readImageFile(root, "/etc/passwd")).find((e) => e.name === u);
    if (!entry) throw new ImgError(`unable to find user ${u}: no matching entries in passwd file`);
    uid = entry.uid;
    gid = entry.gid;
  }
  if (g !== undefined && g !== "") {
    if (NUMERIC.test(g)) gid = Number(g);
    else {
      const group = parseGroup(await readImageFile(root, "/etc/group")).find((e) => e.name === g);
      if (!group) {
        throw new ImgError(`unable to find group ${g}: no matching entries in group file`);
      }
      gid = group.gid;
    }
  }
  return { uid, gid };
}
