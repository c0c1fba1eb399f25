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
 * File digests are cached in memory by path, size, mtime, ctime and inode, so a rebuild only
 * reads files that changed.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { Digest } from "../digest.ts";
import * as exact from "../fs/exact.ts";
import { lstatOrUndefined } from "../layer/_path.ts";
import { EntryFilter, readDirSorted, resolveSource, SourceNotFoundError } from "./_source.ts";
import { add, span, start } from "../trace.ts";

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
}

interface CachedDigest {
  key: string;
  hex: string;
}

const MAX_CACHED = 200_000;
const fileDigests = new Map<string, CachedDigest>();

function cacheKeyOf(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}:${info.ino}:${info.dev}`;
}

/** The sha256 (hex) of a regular file's content, from the cache when unchanged. */
async function fileDigest(path: string, info: Deno.FileInfo): Promise<string> {
  const key = cacheKeyOf(info);
  const cached = fileDigests.get(path);
  if (cached?.key === key) return cached.hex;
  const hash = createHash("sha256");
  const traced = start();
  using file = await exact.openFile(path);
  // Sized to the file (at most 1 MiB): a fresh 1 MiB buffer for each of thousands of small
  // files cost more than hashing them (bench/PROFILE.md).
  const buf = new Uint8Array(Math.min(Math.max(info.size, 4096), 1 << 20));
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  const hex = hash.digest("hex");
  add("context file content (read + sha256)", traced);
  if (fileDigests.size >= MAX_CACHED) fileDigests.clear();
  fileDigests.set(path, { key, hex });
  return hex;
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
  readonly #hash: Hash = createHash("sha256");

  constructor(readonly owners: boolean) {}

  record(fields: (string | number)[]): void {
    this.#hash.update(JSON.stringify(fields) + "\n");
  }

  /** Records one entry: its path, type, mode and content. */
  async entry(kind: string, path: string, host: string, info: Deno.FileInfo, withMode = true) {
    let payload = "";
    if (info.isFile) payload = await fileDigest(host, info);
    else if (info.isSymlink) payload = exact.readLink(host);
    else if (info.isCharDevice || info.isBlockDevice) payload = `${info.rdev}`;
    const mode = withMode ? (info.mode ?? 0) & 0o7777 : 0;
    const fields: (string | number)[] = [kind, path, typeOf(info), mode, payload];
    if (this.owners) fields.push(info.uid ?? 0, info.gid ?? 0);
    this.record(fields);
  }

  /** Records what is below a directory, as the copy walks it. */
  async walk(host: string, rel: string, rootRel: string, filter: EntryFilter): Promise<void> {
    for (const entry of readDirSorted(host)) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childRootRel = rootRel ? `${rootRel}/${entry.name}` : entry.name;
      const decision = filter.check(childRel, childRootRel, entry.isDirectory);
      if (decision === "skip") continue;
      const childHost = `${host}/${entry.name}`;
      const info = exact.lstat(childHost);
      await this.entry("entry", childRel, childHost, info);
      if (info.isDirectory) await this.walk(childHost, childRel, childRootRel, filter);
    }
  }

  digest(): Digest {
    return `sha256:${this.#hash.digest("hex")}`;
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
  const summer = new Summer(options.owners ?? false);
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
      await summer.entry("match", `${m.name}\0${path}`, m.host, m.info, !m.info.isDirectory);
      if (m.info.isDirectory) await summer.walk(m.host, "", path, filter);
    }
  }
  return summer.digest();
}

/**
 * The content digest of a whole directory (or a single file), e.g. a bind-mounted local input:
 * every path below it with its type, mode and content, as {@linkcode checksumSources} records
 * them. A missing path throws {@linkcode SourceNotFoundError}.
 */
export async function checksumPath(path: string): Promise<Digest> {
  if (!lstatOrUndefined(path)) throw new SourceNotFoundError(path);
  return await checksumSources(path, ["."], {});
}
