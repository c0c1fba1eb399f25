/**
 * The layer of an overlay snapshot, written straight from its upper directory, as docker's
 * overlay2 driver and containerd's overlay differ do: everything in the upper directory is
 * what the snapshot changed, so nothing is compared and the lower layers are never read.
 *
 * The upper directory's markers become OCI whiteouts:
 * - a whiteout, a 0:0 character device (kernel overlayfs, fuse-overlayfs), becomes
 *   `.wh.<name>`; so does a `.wh.<name>` regular file (fuse-overlayfs without mknod);
 * - an opaque directory (xattr `user.overlay.opaque`, `trusted.overlay.opaque` or
 *   `user.fuseoverlayfs.opaque` set to `y`, or a `.wh..wh..opq` file in it) is written and
 *   followed by `<dir>/.wh..wh..opq`.
 *
 * Other entries are written as {@linkcode writeLayerDiff} writes them (numeric owners, mode
 * incl. setuid/setgid/sticky, whole-second mtimes, filtered xattrs, hard links once), in the
 * same deterministic order (depth first, names sorted). A directory of the upper directory
 * is always written: it is there because something in it, or the directory itself, changed.
 * The mount must use `userxattr` (redirect_dir and metacopy off): a directory renamed with a
 * redirect or a metacopy-only file cannot be turned into a layer from the upper directory.
 *
 * @module
 */
import type { Digest } from "../digest.ts";
import { isErrno, lgetxattr, llistxattr, major, minor } from "../libc.ts";
import { defaultXattrFilter, type LayerDiffOptions, type LayerDiffResult } from "./diff.ts";
import { type LayerEntryHeader, type LayerEntryType, LayerTarWriter } from "./tar_writer.ts";

const WHITEOUT_PREFIX = ".wh.";
const WHITEOUT_OPAQUE = ".wh..wh..opq";
const OPAQUE_XATTRS = [
  "user.overlay.opaque",
  "trusted.overlay.opaque",
  "user.fuseoverlayfs.opaque",
];
const READ_CHUNK = 1024 * 1024;

/** Whether an xattr is overlay bookkeeping that never goes into a layer. */
function overlayXattr(name: string): boolean {
  return defaultXattrFilter(name) || name.startsWith("user.fuseoverlayfs.") ||
    name.startsWith("user.containers.");
}

/**
 * Writes the layer of the overlay upper directory `upper` as an uncompressed OCI layer tar
 * into `out`, closes `out`, and returns the tar's digest (the diffID) and size. On failure
 * `out` is aborted. The directory must not be mounted read-write while it is written.
 *
 * @example
 * ```ts
 * const file = await Deno.open("layer.tar", { write: true, create: true, truncate: true });
 * const { diffID } = await writeOverlayDiff("snapshots/7/fs", file.writable);
 * ```
 */
export async function writeOverlayDiff(
  upper: string,
  out: WritableStream<Uint8Array>,
  options: LayerDiffOptions = {},
): Promise<LayerDiffResult> {
  const tw = new LayerTarWriter(out);
  try {
    const w = new UpperWriter(tw, options);
    await w.dir("", upper);
    const { digest, size } = await tw.close();
    return { diffID: digest as Digest, size };
  } catch (e) {
    await tw.abort(e);
    throw e;
  }
}

class UpperWriter {
  readonly #inodes = new Map<string, string>();
  readonly #skipXattr: (name: string) => boolean;

  constructor(readonly tw: LayerTarWriter, readonly options: LayerDiffOptions) {
    const skip = options.skipXattr;
    this.#skipXattr = skip ? (n) => skip(n) || overlayXattr(n) : overlayXattr;
  }

  /** Writes the children of the directory `path` (relative path `rel`). */
  async dir(rel: string, path: string): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(path)) names.push(e.name);
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const prefix = rel ? `${rel}/` : "";
    // Entries by the name they stand for, so that whiteouts sort with everything else.
    const entries: { name: string; whiteout: boolean; path?: string; info?: Deno.FileInfo }[] = [];
    const present = new Set(names);
    let opaque = rel !== "" && this.#isOpaqueDir(path);
    for (const name of names) {
      const p = `${path}/${name}`;
      const info = await Deno.lstat(p);
      if (name === WHITEOUT_OPAQUE) {
        opaque = true;
        continue;
      }
      if (name.startsWith(WHITEOUT_PREFIX)) {
        // fuse-overlayfs' own markers: a `.wh.<name>` file is a whiteout; a whiteout device
        // next to them marks a marker, not a file of the image.
        if (info.isFile) {
          const original = name.slice(WHITEOUT_PREFIX.length);
          if (!present.has(original)) entries.push({ name: original, whiteout: true });
        }
        continue;
      }
      if (isWhiteout(info)) {
        entries.push({ name, whiteout: true });
        continue;
      }
      if (info.isSocket) continue;
      entries.push({ name, whiteout: false, path: p, info });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (opaque && rel !== "") await this.#marker(`${prefix}${WHITEOUT_OPAQUE}`);
    for (const e of entries) {
      const child = `${prefix}${e.name}`;
      if (e.whiteout) {
        await this.#marker(`${prefix}${WHITEOUT_PREFIX}${e.name}`);
        continue;
      }
      await this.#write(child, e.path!, e.info!);
      if (e.info!.isDirectory) await this.dir(child, e.path!);
    }
  }

  #isOpaqueDir(path: string): boolean {
    for (const name of OPAQUE_XATTRS) {
      let v: Uint8Array | null = null;
      try {
        v = lgetxattr(path, name);
      } catch (e) {
        if (isErrno(e, "EPERM", "EACCES", "EOPNOTSUPP", "ENOTSUP")) continue;
        throw e;
      }
      if (v !== null && v.length >= 1 && v[0] === 0x79 /* y */) return true;
    }
    return false;
  }

  async #marker(name: string): Promise<void> {
    await this.tw.add({
      name,
      type: "file",
      mode: 0,
      uid: 0,
      gid: 0,
      mtime: this.options.sourceDateEpoch ?? 0,
      size: 0,
    });
  }

  async #write(rel: string, path: string, info: Deno.FileInfo): Promise<void> {
    const type = entryType(info);
    if (type === undefined) return;
    let mtime = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
    const epoch = this.options.sourceDateEpoch;
    if (epoch !== undefined && mtime > epoch) mtime = epoch;
    const header: LayerEntryHeader = {
      name: type === "directory" ? `${rel}/` : rel,
      type,
      mode: (info.mode ?? 0) & 0o7777,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      mtime,
      xattrs: this.#xattrs(path),
    };
    if (type === "directory") {
      await this.tw.add(header);
      return;
    }
    if ((info.nlink ?? 1) > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = this.#inodes.get(key);
      if (first !== undefined) {
        await this.tw.add({ ...header, type: "link", linkname: first, size: 0 });
        return;
      }
      this.#inodes.set(key, rel);
    }
    switch (type) {
      case "symlink":
        header.linkname = await Deno.readLink(path);
        break;
      case "character-device":
      case "block-device":
        header.devmajor = major(info.rdev ?? 0);
        header.devminor = minor(info.rdev ?? 0);
        break;
      case "file":
        header.size = info.size;
        await this.tw.add(header, readChunks(path, info.size));
        return;
    }
    await this.tw.add(header);
  }

  #xattrs(path: string): Record<string, Uint8Array> | undefined {
    let names: string[];
    try {
      names = llistxattr(path);
    } catch (e) {
      if (isErrno(e, "EOPNOTSUPP", "ENOTSUP", "ENOSYS")) return undefined;
      throw e;
    }
    let out: Record<string, Uint8Array> | undefined;
    for (const name of names.sort()) {
      if (this.#skipXattr(name)) continue;
      let value: Uint8Array | null;
      try {
        value = lgetxattr(path, name);
      } catch (e) {
        if (isErrno(e, "EPERM", "EACCES", "EOPNOTSUPP")) continue;
        throw e;
      }
      if (value === null) continue;
      (out ??= {})[name] = value;
    }
    return out;
  }
}

/** Whether an entry of an upper directory is an overlay whiteout (a 0:0 character device). */
export function isWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && (info.rdev ?? 0) === 0;
}

function entryType(info: Deno.FileInfo): LayerEntryType | undefined {
  if (info.isFile) return "file";
  if (info.isDirectory) return "directory";
  if (info.isSymlink) return "symlink";
  if (info.isCharDevice) return "character-device";
  if (info.isBlockDevice) return "block-device";
  if (info.isFifo) return "fifo";
  return undefined;
}

async function* readChunks(path: string, size: number): AsyncGenerator<Uint8Array> {
  if (size <= READ_CHUNK) {
    yield await Deno.readFile(path);
    return;
  }
  using file = await Deno.open(path, { read: true });
  while (true) {
    const buf = new Uint8Array(READ_CHUNK);
    const n = await file.read(buf);
    if (n === null) return;
    yield buf.subarray(0, n);
  }
}
