/**
 * Writing the entries of a directory tree into a layer tar, as both differs
 * (`writeLayerDiff` and `writeOverlayDiff`) write them: numeric owners,
 * mode incl. setuid/setgid/sticky, whole-second mtimes (clamped to `SOURCE_DATE_EPOCH`),
 * filtered xattrs, and hard links written once, then as links to the first name.
 *
 * @module
 */
import { isErrno, lgetxattr, llistxattr, major, minor } from "../libc.ts";
import type { Digest } from "../digest.ts";
import { type LayerEntryHeader, type LayerEntryType, LayerTarWriter } from "./tar_writer.ts";
import * as exact from "../fs/exact.ts";

/** Bytes read at a time from a large file. */
export const READ_CHUNK = 1024 * 1024;
/** Files up to this size are read in one call: far fewer async operations for small files. */
export const WHOLE_FILE = 1024 * 1024;
/**
 * Files up to this size are read synchronously: a blocking read of a few KiB is several times
 * faster than an asynchronous one (5,000 files of 72 bytes: 83 ms against 324 ms).
 */
export const SYNC_READ = 64 * 1024;

/**
 * Writes a layer tar into `out`: `write` adds its entries through a {@linkcode TreeEntryWriter}
 * (with `sourceDateEpoch` and `skipXattr`, as there). Closes `out` and returns the tar's digest
 * (the diffID) and size; on failure `out` is aborted.
 */
export async function writeTreeLayer(
  out: WritableStream<Uint8Array>,
  sourceDateEpoch: number | undefined,
  skipXattr: (name: string) => boolean,
  write: (entries: TreeEntryWriter) => Promise<void>,
): Promise<{ diffID: Digest; size: number }> {
  const tw = new LayerTarWriter(out);
  try {
    await write(new TreeEntryWriter(tw, sourceDateEpoch, skipXattr));
    const { digest, size } = await tw.close();
    return { diffID: digest, size };
  } catch (e) {
    await tw.abort(e);
    throw e;
  }
}

/** Writes entries of a tree into a layer tar; one per layer (it remembers hard links). */
export class TreeEntryWriter {
  /** The first name written for each multiply linked inode (`dev:ino`). */
  readonly #inodes = new Map<string, string>();
  /** The buffer big files are read into, when the tar writer lets chunks be reused. */
  #readBuffer: Uint8Array | undefined;

  /**
   * Writes into `tw`. `sourceDateEpoch` (seconds) clamps later mtimes and is the mtime of
   * whiteouts (else 0); `skipXattr` names the xattrs left out.
   */
  constructor(
    readonly tw: LayerTarWriter,
    readonly sourceDateEpoch: number | undefined,
    readonly skipXattr: (name: string) => boolean,
  ) {}

  /**
   * Writes the entry at host `path` (`info` its lstat) as `rel`; a directory's name gets a
   * trailing `/`. A socket is left out (a tar cannot hold it).
   */
  async write(rel: string, path: string, info: Deno.FileInfo): Promise<void> {
    const type = entryType(info);
    if (type === undefined) return;
    let mtime = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
    const epoch = this.sourceDateEpoch;
    if (epoch !== undefined && mtime > epoch) mtime = epoch;
    const header: LayerEntryHeader = {
      name: type === "directory" ? `${rel}/` : rel,
      type,
      mode: (info.mode ?? 0) & 0o7777,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      mtime,
      xattrs: this.xattrs(path),
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
        header.linkname = await exact.readLinkAsync(path);
        break;
      case "character-device":
      case "block-device":
        header.devmajor = major(info.rdev ?? 0);
        header.devminor = minor(info.rdev ?? 0);
        break;
      case "file":
        header.size = info.size;
        if (this.tw.reusesChunks && info.size > WHOLE_FILE) {
          this.#readBuffer ??= new Uint8Array(READ_CHUNK);
        }
        await this.tw.add(
          header,
          readChunks(path, info.size, this.tw.reusesChunks ? this.#readBuffer : undefined),
        );
        return;
    }
    await this.tw.add(header);
  }

  /** Writes an empty marker file `name`: a whiteout (`.wh.<name>`) or an opaque marker. */
  async marker(name: string): Promise<void> {
    await this.tw.add({
      name,
      type: "file",
      mode: 0,
      uid: 0,
      gid: 0,
      mtime: this.sourceDateEpoch ?? 0,
      size: 0,
    });
  }

  /** The xattrs of `path` (not following a symlink), filtered; undefined when it has none. */
  xattrs(path: string): Record<string, Uint8Array> | undefined {
    let names: string[];
    try {
      names = llistxattr(path);
    } catch (e) {
      if (isErrno(e, "EOPNOTSUPP", "ENOTSUP", "ENOSYS")) return undefined;
      throw e;
    }
    let out: Record<string, Uint8Array> | undefined;
    for (const name of names.sort()) {
      if (this.skipXattr(name)) continue;
      let value: Uint8Array | null;
      try {
        value = lgetxattr(path, name);
      } catch (e) {
        // Some namespaces (trusted.*) cannot be read unprivileged: they are not ours to copy.
        if (isErrno(e, "EPERM", "EACCES", "EOPNOTSUPP")) continue;
        throw e;
      }
      if (value === null) continue;
      (out ??= {})[name] = value;
    }
    return out;
  }
}

/** The tar entry type of a file, or `undefined` for a socket. */
export function entryType(info: Deno.FileInfo): LayerEntryType | undefined {
  if (info.isFile) return "file";
  if (info.isDirectory) return "directory";
  if (info.isSymlink) return "symlink";
  if (info.isCharDevice) return "character-device";
  if (info.isBlockDevice) return "block-device";
  if (info.isFifo) return "fifo";
  return undefined;
}

/**
 * The content of the file `path` of `size` bytes, in chunks. A large file is read into
 * `buffer` when given (each chunk then lives until the next is asked for), else into a fresh
 * buffer per chunk.
 */
export async function* readChunks(
  path: string,
  size: number,
  buffer?: Uint8Array,
): AsyncGenerator<Uint8Array> {
  if (size <= SYNC_READ) {
    yield exact.readSmallFileSync(path);
    return;
  }
  if (size <= WHOLE_FILE) {
    yield await exact.readFile(path);
    return;
  }
  using file = await exact.openFile(path);
  while (true) {
    const buf = buffer ?? new Uint8Array(READ_CHUNK);
    const n = await file.read(buf);
    if (n === null) return;
    yield buf.subarray(0, n);
  }
}
