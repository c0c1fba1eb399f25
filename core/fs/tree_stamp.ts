/**
 * A directory tree's stamp: one digest of every entry's path and metadata (`statx`: type and
 * mode, owner, inode, size, ctime, mtime, device), so that "has anything in this tree changed?"
 * costs a walk of `statx` calls and reads no file. A later stamp of the same tree differs from
 * an earlier one when an entry was added, removed, renamed or changed in any way, because
 * every change of a file sets its ctime to the current time, which the user cannot set.
 *
 * Except within the file system's timestamp resolution: a file changed twice in one clock
 * tick, the second time after the walk, keeps the ctime the walk saw. Entries whose mtime or
 * ctime are that close to the walk ({@linkcode RACY_MARGIN_MS}, or
 * {@linkcode COARSE_RACY_MARGIN_MS} on file systems with whole-millisecond times) are "racy"
 * (as git calls them): their content goes into the digest too, and a later stamp made to be
 * compared ({@linkcode TreeStampOptions.contentOf}) hashes the same files.
 *
 * @example
 * ```ts ignore
 * import { stampTree } from "./tree_stamp.ts";
 * const before = await stampTree("/src");
 * const after = await stampTree("/src", { contentOf: before!.racy });
 * console.log(before!.digest === after!.digest);
 * ```
 *
 * @module
 */
import { AT_FDCWD, close, openDirectory, statxInto } from "../libc.ts";

/**
 * How close to the walk an entry's times may be and still be trusted, in milliseconds, where
 * times have sub-millisecond digits: a few ticks of the kernel's coarse clock (which file
 * times come from, one tick behind the real time at most; a tick is 1 to 10 ms).
 */
export const RACY_MARGIN_MS = 25;
/** The same for file systems whose times are whole milliseconds or seconds (FAT: 2 s). */
export const COARSE_RACY_MARGIN_MS = 2_000;

/** What {@linkcode stampTree} gives. */
export interface TreeStamp {
  /** sha256 (hex) of every entry's path and metadata and of the racy files' content. */
  digest: string;
  /** The files whose content is in the digest (relative paths, sorted). */
  racy: string[];
}

/** Options for {@linkcode stampTree}. */
export interface TreeStampOptions {
  /**
   * Entries left out of the walk, themselves and what is below them (a state directory inside
   * the context), as absolute paths spelled as the walk reaches them.
   */
  exclude?: readonly string[];
  /**
   * The files whose content goes into the digest: an earlier stamp's `racy`, to compare with
   * it. Default: the entries this walk finds racy.
   */
  contentOf?: readonly string[];
  /** No stamp (`undefined`) when the content to hash is larger than this (default 64 MiB). */
  maxContentBytes?: number;
  /** The time of the walk, epoch milliseconds (default: now). */
  now?: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const encoder = new TextEncoder();

/** A growing byte buffer. */
class Bytes {
  #buf = new Uint8Array(1 << 16);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }

  text(s: string): void {
    this.#room(s.length * 3);
    this.length += encoder.encodeInto(s, this.#buf.subarray(this.length)).written;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  get view(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(0, this.length);
  }
}

function hex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Milliseconds of a `struct statx_timestamp` at `offset` (no BigInt: this runs per entry). */
function timeMs(view: DataView, offset: number): number {
  const seconds = view.getUint32(offset, true) + view.getInt32(offset + 4, true) * 2 ** 32;
  return seconds * 1000 + view.getUint32(offset + 8, true) / 1e6;
}

/**
 * Stamps the tree under `dir` (the directory itself included; symlinks are not followed).
 * Returns `undefined` when the racy files to hash hold more than
 * {@linkcode TreeStampOptions.maxContentBytes}; throws when the walk fails.
 */
export async function stampTree(
  dir: string,
  options: TreeStampOptions = {},
): Promise<TreeStamp | undefined> {
  const now = options.now ?? Date.now();
  const exclude = new Set(options.exclude ?? []);
  const stat = new Uint8Array(256);
  const zero = new Uint8Array(1);
  // What the listing takes of each `struct statx`: uid, gid, mode, inode and size (20-48);
  // ctime, mtime, rdev and the device (96-144). Not the atime, which reading changes.
  const owner = stat.subarray(20, 48);
  const times = stat.subarray(96, 144);
  const view = new DataView(stat.buffer);
  const name = new Uint8Array(4097);
  const listing = new Bytes();
  const racy: { rel: string; size: number; type: number }[] = [];

  /** Stats `path` (relative to `dirfd`) into `stat`, lists it and returns its type. */
  const visit = (dirfd: number, path: string, abs: string, rel: string): number => {
    const { written } = encoder.encodeInto(path, name);
    if (written >= name.length - 1) throw new Error(`Name too long to stamp: ${abs}`);
    name[written] = 0;
    if (!statxInto(name.subarray(0, written + 1), stat, dirfd)) {
      throw new Error(`Cannot stat ${abs}`);
    }
    listing.text(rel);
    listing.bytes(zero);
    listing.bytes(owner);
    listing.bytes(times);
    const type = view.getUint16(28, true) & S_IFMT;
    const ctimeNs = view.getUint32(104, true);
    const mtimeNs = view.getUint32(120, true);
    const coarse = ctimeNs % 1_000_000 === 0 && mtimeNs % 1_000_000 === 0;
    const newest = Math.max(timeMs(view, 96), timeMs(view, 112));
    if (newest >= now - (coarse ? COARSE_RACY_MARGIN_MS : RACY_MARGIN_MS)) {
      racy.push({ rel, size: view.getUint32(40, true) + view.getUint32(44, true) * 2 ** 32, type });
    }
    return type;
  };
  /** Lists the entries of the directory `abs` (depth first), each stat'ed relative to it. */
  const walk = (abs: string, rel: string): void => {
    const fd = openDirectory(abs);
    try {
      for (const entry of Deno.readDirSync(abs)) {
        const child = `${abs}/${entry.name}`;
        if (exclude.has(child)) continue;
        const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`;
        if (visit(fd, entry.name, child, childRel) === S_IFDIR) walk(child, childRel);
      }
    } finally {
      close(fd);
    }
  };
  const root = dir.replace(/(.)\/+$/, "$1");
  if (visit(AT_FDCWD, root, root, "") === S_IFDIR) walk(root, "");

  // The content of racy files and the targets of racy symlinks (a directory's "content" is
  // its entries, which the listing holds).
  const contentOf = options.contentOf ??
    racy.filter((r) => r.type === S_IFREG || r.type === S_IFLNK).map((r) => r.rel);
  const sorted = [...new Set(contentOf)].sort();
  const limit = options.maxContentBytes ?? 64 * 1024 * 1024;
  let total = 0;
  for (const rel of sorted) {
    const abs = rel === "" ? dir : `${dir}/${rel}`;
    listing.text(`\0content\0${rel}\0`);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(abs);
    } catch (e) {
      // Named by an earlier stamp and gone (or no longer reachable): a digest of its own.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
      listing.text("missing");
      continue;
    }
    let content: Uint8Array<ArrayBuffer>;
    if (info.isSymlink) content = encoder.encode(Deno.readLinkSync(abs));
    else if (!info.isFile) content = new Uint8Array();
    else {
      total += info.size;
      if (total > limit) return undefined;
      content = await Deno.readFile(abs);
    }
    listing.text(hex(await crypto.subtle.digest("SHA-256", content)));
  }
  return { digest: hex(await crypto.subtle.digest("SHA-256", listing.view)), racy: sorted };
}
