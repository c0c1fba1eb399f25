/**
 * Content checksums of the files a COPY or ADD reads from a local input, for cache keys:
 * touching a file the copy does not read changes nothing, changing one it reads changes the
 * digest.
 *
 * What is covered, for each source in order and each entry it resolves to (wildcards
 * expanded, the named symlink followed when asked, `--exclude` and ignore patterns applied,
 * exactly as the copy resolves them): the path (relative to the input for the source itself,
 * relative to the source below a directory), the type, the permission bits with setuid,
 * setgid and sticky (`0o7777`), the sha256 of a regular file's content, a symlink's target
 * and a device's numbers; owners only with `owners: true`. Not covered, as in BuildKit's
 * content hash of a local context: times (mtime, atime, ctime), owners, xattrs, and the
 * hard-link structure. The mode of a directory source itself is left out too: the copy does
 * not carry it over.
 *
 * File digests come from a {@linkcode ContextHashCache} (the state database's, when the caller
 * gives one), keyed by each file's (device, inode, size, mtime, ctime): a rebuild, in this
 * process or a later one, reads only the files that changed. The files it must read are read
 * a few at a time ({@linkcode HASH_CONCURRENCY}), while the records keep the walk's order.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { Digest } from "../digest.ts";
import * as exact from "../fs/exact.ts";
import { lstatOrUndefined } from "../layer/_path.ts";
import { type FileStamp, lstatStamp, lstatWithStamp } from "../libc.ts";
import { EntryFilter, readDirSorted, resolveSource, SourceNotFoundError } from "./_source.ts";
import { ContextHashCache, nowNs } from "./hash_cache.ts";
import { add, count, span, start } from "../trace.ts";

export { SourceNotFoundError } from "./_source.ts";

/** Options of {@linkcode checksumSources}: those of the copy action it keys. */
export interface ChecksumOptions {
  /** Expand wildcards in sources. */
  allowWildcard?: boolean;
  /** A wildcard that matches nothing is no error (it checksums as nothing). */
  allowEmptyWildcard?: boolean;
  /** Follow a symlink that a source itself names. */
  followSymlinks?: boolean;
  /** `--exclude` patterns, relative to each source. */
  exclude?: string[];
  /** Patterns (`.dockerignore` syntax) hiding paths of the input, relative to its root. */
  ignore?: string[];
  /** Include uid and gid (for inputs whose owners the copy keeps). */
  owners?: boolean;
  /** Where file digests are cached (default: one in memory for this process). */
  hashCache?: ContextHashCache;
}

/** Files up to this size are read synchronously, in one call. */
const SYNC_READ = 64 * 1024;

/** How many files are read and hashed at once. */
export const HASH_CONCURRENCY = 4;

const memoryCache = new ContextHashCache();

/** The sha256 (hex) of a regular file's content. */
async function readDigest(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const traced = start();
  if (size <= SYNC_READ) {
    // One blocking read: open, read and close as three asynchronous operations cost several
    // times more for a file of a few KiB (bench/PROFILE.md).
    const bytes = exact.readSmallFileSync(path);
    hash.update(bytes);
    add("context file content (read + sha256)", traced);
    count("context bytes read", bytes.byteLength);
    return hash.digest("hex");
  }
  using file = await exact.openFile(path);
  // Sized to the file (at most 1 MiB): a fresh 1 MiB buffer for each of thousands of small
  // files cost more than hashing them (bench/PROFILE.md).
  const buf = new Uint8Array(Math.min(Math.max(size, 4096), 1 << 20));
  let bytes = 0;
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    bytes += n;
  }
  add("context file content (read + sha256)", traced);
  count("context bytes read", bytes);
  return hash.digest("hex");
}

/** A regular file whose digest a record waits for. */
interface FileRecord {
  fields: (string | number)[];
  host: string;
  rel: string;
  size: number;
  /** The stamp the walk saw, if it took one. */
  stamp?: FileStamp;
}

function typeOf(info: Deno.FileInfo): string {
  if (info.isFile) return "file";
  if (info.isDirectory) return "dir";
  if (info.isSymlink) return "symlink";
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  if (info.isSocket) return "socket";
  return "unknown";
}

class Summer {
  readonly #records: ((string | number)[] | FileRecord)[] = [];
  readonly #files: FileRecord[] = [];

  constructor(readonly root: string, readonly owners: boolean) {}

  record(fields: (string | number)[]): void {
    this.#records.push(fields);
  }

  /** Records one entry: its path, type, mode and content (a file's once it is known). */
  entry(
    kind: string,
    path: string,
    host: string,
    info: Deno.FileInfo,
    withMode = true,
    stamp?: FileStamp,
  ): void {
    let payload = "";
    if (info.isSymlink) payload = exact.readLink(host);
    else if (info.isCharDevice || info.isBlockDevice) payload = `${info.rdev}`;
    const mode = withMode ? (info.mode ?? 0) & 0o7777 : 0;
    const fields: (string | number)[] = [kind, path, typeOf(info), mode, payload];
    if (this.owners) fields.push(info.uid ?? 0, info.gid ?? 0);
    if (!info.isFile) return this.record(fields);
    const rel = host === this.root
      ? "."
      : host.startsWith(`${this.root}/`)
      ? host.slice(this.root.length + 1)
      : host;
    const file = { fields, host, rel, size: info.size, stamp };
    this.#records.push(file);
    this.#files.push(file);
  }

  /** Records what is below a directory, as the copy walks it. */
  walk(host: string, rel: string, rootRel: string, filter: EntryFilter): void {
    for (const entry of readDirSorted(host)) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childRootRel = rootRel ? `${rootRel}/${entry.name}` : entry.name;
      const decision = filter.check(childRel, childRootRel, entry.isDirectory);
      if (decision === "skip") continue;
      const childHost = `${host}/${entry.name}`;
      // One statx for the entry and its cache stamp (nanosecond times).
      const [info, stamp] = lstatWithStamp(childHost);
      this.entry("entry", childRel, childHost, info, true, stamp);
      if (info.isDirectory) this.walk(childHost, childRel, childRootRel, filter);
    }
  }

  /**
   * Fills in the files' digests, from `cache` where it holds them and by reading the others
   * ({@linkcode HASH_CONCURRENCY} at a time), and records them in `cache`.
   */
  async #fill(cache: ContextHashCache): Promise<void> {
    const recorded = nowNs();
    const misses: { file: FileRecord; stamp: FileStamp }[] = [];
    {
      using _trace = span("context hash cache lookup");
      for (const file of this.#files) {
        const stamp = file.stamp ?? lstatStamp(file.host);
        const cached = cache.get(this.root, file.rel, stamp);
        if (cached === undefined) misses.push({ file, stamp });
        else file.fields[4] = cached;
      }
    }
    count("context files from the hash cache", this.#files.length - misses.length);
    let next = 0;
    const worker = async () => {
      while (next < misses.length) {
        const { file, stamp } = misses[next++];
        try {
          file.fields[4] = await readDigest(file.host, file.size);
        } catch (e) {
          next = misses.length; // the other readers stop too
          throw e;
        }
        cache.set(this.root, file.rel, stamp, file.fields[4] as string, recorded);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, misses.length) }, worker));
    if (misses.length > 0) {
      using _trace = span("context hash cache write");
      cache.flush();
    }
  }

  /** The digest of everything recorded. */
  async digest(cache: ContextHashCache): Promise<Digest> {
    await this.#fill(cache);
    const hash: Hash = createHash("sha256");
    for (const r of this.#records) {
      hash.update(JSON.stringify(Array.isArray(r) ? r : r.fields) + "\n");
    }
    return `sha256:${hash.digest("hex")}`;
  }
}

/**
 * The content digest of what copying `sources` from the directory `dir` reads (see the module
 * documentation for what it covers). A missing source throws the copy's
 * {@linkcode SourceNotFoundError}.
 */
export async function checksumSources(
  dir: string,
  sources: string[],
  options: ChecksumOptions = {},
): Promise<Digest> {
  using _trace = span("context scan and hashing");
  const root = Deno.realPathSync(dir);
  const filter = new EntryFilter(options.exclude, options.ignore);
  const ignoreOnly = new EntryFilter(undefined, options.ignore);
  const summer = new Summer(root, options.owners ?? false);
  for (const source of sources) {
    summer.record(["source", source]);
    const matches = resolveSource(root, source, {
      allowWildcard: options.allowWildcard,
      allowEmptyWildcard: options.allowEmptyWildcard,
      followSymlinks: options.followSymlinks,
      filter: ignoreOnly,
    });
    for (const m of matches) {
      const path = m.components.join("/");
      summer.entry("match", `${m.name}\0${path}`, m.host, m.info, !m.info.isDirectory);
      if (m.info.isDirectory) summer.walk(m.host, "", path, filter);
    }
  }
  return await summer.digest(options.hashCache ?? memoryCache);
}

/**
 * The content digest of a whole directory (or a single file), e.g. a bind-mounted local input:
 * every path below it with its type, mode and content, as {@linkcode checksumSources} records
 * them. A missing path throws {@linkcode SourceNotFoundError}.
 */
export async function checksumPath(
  path: string,
  hashCache?: ContextHashCache,
): Promise<Digest> {
  if (!lstatOrUndefined(path)) throw new SourceNotFoundError(path);
  return await checksumSources(path, ["."], { hashCache });
}
