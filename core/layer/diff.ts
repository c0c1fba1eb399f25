/**
 * The layer differ: writes the changes from one directory tree to another as an OCI layer
 * tar, walking both trees side by side as containerd's `archive.WriteDiff` (and BuildKit's
 * double-walking differ) does.
 *
 * - Added and changed entries are written with their metadata (mode incl. setuid/setgid/
 *   sticky, numeric uid/gid with empty user names, mtime in whole seconds, xattrs as PAX
 *   `SCHILY.xattr.*` records); the parent directories of every entry are written before it
 *   (containerd's `includeParents`), so a layer is self-describing.
 * - Deleted entries become `.wh.<name>` whiteouts; a directory replaced by something else is
 *   simply written again (appliers remove what was there), and a deleted directory is one
 *   whiteout, its contents are not listed.
 * - Files that are hard links of one another within the layer are written once, then as tar
 *   hard links to the first name.
 * - Entries come in a deterministic order: depth first, names sorted, parents first.
 *
 * Files are compared as containerd's `sameFile` does: type, mode, owner, device number and
 * xattrs; then size and mtime; the content is read only when both mtimes have no fraction of
 * a second (times truncated by a tar extraction can hide a change). Deno reports times to the
 * millisecond, so that is the precision of the comparison (the native snapshotter copies
 * times to the millisecond too).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Digest } from "../digest.ts";
import { READ_CHUNK, type TreeEntryWriter, WHOLE_FILE, writeTreeLayer } from "./_entry_writer.ts";
import * as exact from "../fs/exact.ts";

/** Options of {@linkcode writeLayerDiff}. */
export interface LayerDiffOptions {
  /**
   * `SOURCE_DATE_EPOCH` in seconds: mtimes later than it are clamped to it (as BuildKit's
   * `rewrite-timestamp`), and whiteouts get it as their mtime (else 0).
   */
  sourceDateEpoch?: number;
  /** Extended attributes to leave out of the layer; default {@linkcode defaultXattrFilter}. */
  skipXattr?: (name: string) => boolean;
}

/** What {@linkcode writeLayerDiff} wrote. */
export interface LayerDiffResult {
  /** The digest of the uncompressed tar: the layer's diffID. */
  diffID: Digest;
  /** The size of the uncompressed tar in bytes. */
  size: number;
}

/**
 * The xattrs that never go into a layer: the host's SELinux label and overlayfs' own
 * bookkeeping (`trusted.overlay.*`, `user.overlay.*`).
 */
export function defaultXattrFilter(name: string): boolean {
  return name === "security.selinux" || name.startsWith("trusted.overlay.") ||
    name.startsWith("user.overlay.");
}

const WHITEOUT_PREFIX = ".wh.";

/**
 * Writes the changes from `lower` to `upper` (plain directories; no `lower` means an empty
 * one) as an uncompressed OCI layer tar into `out`, closes `out`, and returns the tar's
 * digest (the diffID) and size. On failure `out` is aborted. Neither tree may change while
 * it is written.
 *
 * @example
 * ```ts ignore
 * const file = await Deno.open("layer.tar", { write: true, create: true, truncate: true });
 * const { diffID } = await writeLayerDiff("snapshots/1/fs", "snapshots/2/fs", file.writable);
 * ```
 */
export async function writeLayerDiff(
  lower: string | undefined,
  upper: string,
  out: WritableStream<Uint8Array>,
  options: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  return await writeTreeLayer(
    out,
    options.sourceDateEpoch,
    options.skipXattr ?? defaultXattrFilter,
    (entries) => new Differ(entries, upper).dir("", lower, upper),
  );
}

/** An entry of a directory listing, with its lstat. */
interface Entry {
  name: string;
  path: string;
  info: Deno.FileInfo;
}

class Differ {
  /** Directories already written, by relative path. */
  readonly #dirs = new Set<string>();

  constructor(readonly entries: TreeEntryWriter, readonly upper: string) {}

  /** Diffs the directory `rel`: `lowerDir` (if any) against `upperDir`. */
  async dir(rel: string, lowerDir: string | undefined, upperDir: string): Promise<void> {
    const uppers = await list(upperDir);
    const lowers = lowerDir === undefined ? [] : await list(lowerDir);
    let i = 0;
    let j = 0;
    while (i < lowers.length || j < uppers.length) {
      const l = lowers[i];
      const u = uppers[j];
      const cmp = !l ? 1 : !u ? -1 : compare(l.name, u.name);
      if (cmp < 0) {
        await this.#whiteout(rel, l.name);
        i++;
        continue;
      }
      j++;
      const child = rel ? `${rel}/${u.name}` : u.name;
      if (cmp > 0) {
        await this.#add(child, u, undefined);
        continue;
      }
      i++;
      if (u.info.isDirectory) {
        if (l.info.isDirectory) {
          if (!(await this.#sameMeta(l, u))) await this.#emit(child, u);
          await this.dir(child, l.path, u.path);
        } else {
          await this.#add(child, u, undefined);
        }
      } else if (l.info.isDirectory || !(await this.#sameFile(l, u))) {
        await this.#emit(child, u);
      }
    }
  }

  /** Writes an added entry and, for a directory, everything below it. */
  async #add(rel: string, u: Entry, lowerDir: string | undefined): Promise<void> {
    await this.#emit(rel, u);
    if (u.info.isDirectory) await this.dir(rel, lowerDir, u.path);
  }

  async #whiteout(parentRel: string, name: string): Promise<void> {
    await this.#includeParents(parentRel);
    const prefix = parentRel ? `${parentRel}/` : "";
    await this.entries.marker(`${prefix}${WHITEOUT_PREFIX}${name}`);
  }

  /** Writes the directories above `rel` (and `rel` itself) that were not written yet. */
  async #includeParents(rel: string): Promise<void> {
    if (rel === "" || this.#dirs.has(rel)) return;
    const parts = rel.split("/");
    for (let k = 1; k <= parts.length; k++) {
      const p = parts.slice(0, k).join("/");
      if (this.#dirs.has(p)) continue;
      const path = `${this.upper}/${p}`;
      await this.#write(p, { name: parts[k - 1], path, info: await exact.lstatAsync(path) });
    }
  }

  async #emit(rel: string, u: Entry): Promise<void> {
    const slash = rel.lastIndexOf("/");
    await this.#includeParents(slash < 0 ? "" : rel.slice(0, slash));
    await this.#write(rel, u);
  }

  async #write(rel: string, e: Entry): Promise<void> {
    if (e.info.isDirectory) this.#dirs.add(rel);
    await this.entries.write(rel, e.path, e.info);
  }

  #sameXattrs(a: string, b: string): boolean {
    const x = this.entries.xattrs(a) ?? {};
    const y = this.entries.xattrs(b) ?? {};
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    return keys.every((k) => y[k] !== undefined && equalBytes(x[k], y[k]));
  }

  /** Type, permissions, owner, device number, xattrs and (directories) mtime. */
  #sameMeta(l: Entry, u: Entry): boolean {
    const a = l.info;
    const b = u.info;
    if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
    if ((a.isCharDevice || a.isBlockDevice) && a.rdev !== b.rdev) return false;
    // containerd ignores a directory's mtime; it is compared here so that a layer carries it.
    if (a.isDirectory && a.mtime?.getTime() !== b.mtime?.getTime()) return false;
    return this.#sameXattrs(l.path, u.path);
  }

  /** containerd's `sameFile`, at millisecond precision. */
  async #sameFile(l: Entry, u: Entry): Promise<boolean> {
    if (!this.#sameMeta(l, u)) return false;
    const a = l.info;
    const b = u.info;
    if (a.size !== b.size) return false;
    const ta = a.mtime?.getTime() ?? 0;
    const tb = b.mtime?.getTime() ?? 0;
    if (Math.floor(ta / 1000) !== Math.floor(tb / 1000)) return false;
    if (a.isSymlink) {
      return (await exact.readLinkAsync(l.path)) === (await exact.readLinkAsync(u.path));
    }
    if (ta % 1000 === 0 && tb % 1000 === 0) {
      // Both times may have been truncated: only the content can tell.
      if (!a.isFile || a.size === 0) return true;
      return await sameContent(l.path, u.path, a.size);
    }
    return ta === tb;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The entries of a directory, sorted by name, sockets left out (a tar cannot hold them). */
async function list(dir: string): Promise<Entry[]> {
  const names = await exact.readDirNames(dir);
  names.sort(compare);
  const out: Entry[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    // Synchronously: a blocking lstat is ~7x faster than an asynchronous one (bench/PROFILE.md).
    const info = exact.lstat(path);
    if (info.isSocket) continue;
    out.push({ name, path, info });
  }
  return out;
}

async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const n = await file.read(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off;
}

async function sameContent(a: string, b: string, size: number): Promise<boolean> {
  if (size <= WHOLE_FILE) {
    const [x, y] = await Promise.all([exact.readFile(a), exact.readFile(b)]);
    return equalBytes(x, y);
  }
  using fa = await exact.openFile(a);
  using fb = await exact.openFile(b);
  const ba = new Uint8Array(READ_CHUNK);
  const bb = new Uint8Array(READ_CHUNK);
  while (true) {
    const [na, nb] = await Promise.all([readFull(fa, ba), readFull(fb, bb)]);
    if (na !== nb) return false;
    if (!equalBytes(ba.subarray(0, na), bb.subarray(0, nb))) return false;
    if (na < READ_CHUNK) return true;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.length).equals(
      Buffer.from(b.buffer, b.byteOffset, b.length),
    );
}
