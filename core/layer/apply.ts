/**
 * Applies an OCI layer (an uncompressed tar stream) onto a directory, as the OCI image
 * spec's "Applying Changesets" describes and containerd's `archive.Apply` does: whiteouts,
 * opaque directories, hard links, devices, modes, owners, times and xattrs.
 *
 * Nothing is ever written outside the directory: names are cleaned (a `..` that climbs out
 * is refused), and every parent directory is resolved inside the directory as a chroot
 * would resolve it, so a symlink in the tree (which may point anywhere) is never followed to
 * the host.
 *
 * @module
 */
import { chmod, lchown, link, lstat, lutimes, mkdir, readDir, utime } from "../fs/exact.ts";
import { Digester } from "../digest.ts";
import { displayName } from "../fs/raw_name.ts";
import { ImgError } from "../errors.ts";
import {
  cleanComponents,
  joinRoot,
  lstatOrUndefined,
  removeAll,
  resolveInRoot,
  SymlinkEscapeError,
} from "./_path.ts";
import { forEachTarEntry, type TarHeader } from "./_tar_extract.ts";
import { createEntryNode, drain, mknodCommand, type NodeMaker } from "./_entry_node.ts";

export { mknodCommand, type NodeMaker } from "./_entry_node.ts";

/** Writes extended attributes without following symlinks (`lsetxattr(2)`). */
export interface XattrWriter {
  /** Sets xattr `name` of `path` (not following a final symlink) to `value`. */
  lset(path: string, name: string, value: Uint8Array): void;
}

/** Options of {@linkcode applyLayer}. */
export interface ApplyLayerOptions {
  /** Chown entries to their uid/gid: true when running as root, e.g. inside the user
   * namespace. When false, everything belongs to the caller. */
  sameOwner?: boolean;
  /** Writes the PAX `SCHILY.xattr.*` records; without it, xattrs are skipped (and counted). */
  xattrs?: XattrWriter;
  /** Creates devices and fifos; default: the `mknod` command. Devices that cannot be created
   * (unprivileged) are skipped with a warning. */
  nodes?: NodeMaker;
  /** Called with the cleaned path (relative, no leading `/`) of each entry applied. */
  onEntry?: (path: string) => void;
  /** Called with a one-line message for each thing skipped (devices, xattrs). */
  onWarning?: (message: string) => void;
  /**
   * The layer's diff ID (`rootfs.diff_ids` of the image config): the digest of the tar
   * stream is computed while it is applied and a mismatch is refused, as containerd does.
   */
  diffID?: string;
  /**
   * The digest of the tar stream, when something else computes it as it produces the stream
   * (the decompression worker): checked against `diffID` instead of hashing the stream again.
   * It must settle once the stream has been read to its end.
   */
  streamDigest?: Promise<string>;
  /** How the layer is named in errors (its blob digest); default "the layer". */
  layer?: string;
}

/** What {@linkcode applyLayer} did. */
export interface ApplyLayerResult {
  /** Tar entries applied, whiteouts included. */
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  /** Device nodes and fifos that could not be created. */
  skippedDevices: number;
  /** Extended attributes that were not set. */
  skippedXattrs: number;
}

const WHITEOUT_PREFIX = ".wh.";
const WHITEOUT_OPAQUE = ".wh..wh..opq";
const XATTR_PREFIX = "SCHILY.xattr.";

type Header = TarHeader;

function outside(name: string, cause?: SymlinkEscapeError): ImgError {
  const through = cause ? ` through the symlink "${cause.link}" -> "${cause.target}"` : "";
  return new ImgError(
    `Layer entry "${
      displayName(name)
    }" would be written outside the target directory${through}; refusing to unpack it`,
    { cause },
  );
}

/** Resolves inside the root; a symlink climbing out makes `name` refused. */
function resolveFor(name: string, root: string, components: string[]): string[] {
  try {
    return resolveInRoot(root, components);
  } catch (e) {
    if (e instanceof SymlinkEscapeError) throw outside(name, e);
    throw e;
  }
}

/** Resolves a directory inside the root, or `undefined` if a symlink climbs out. */
function resolveDir(root: string, components: string[]): string | undefined {
  try {
    return joinRoot(root, resolveInRoot(root, components));
  } catch (e) {
    if (e instanceof SymlinkEscapeError) return undefined;
    throw e;
  }
}

let umaskOfProcess: number | null | undefined;

/** The process's umask (from `/proc/self/status`: reading it changes nothing), if known. */
function processUmask(): number | undefined {
  if (umaskOfProcess === undefined) {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
      umaskOfProcess = m ? parseInt(m[1], 8) : null;
    } catch {
      umaskOfProcess = null;
    }
  }
  return umaskOfProcess ?? undefined;
}

function paxNumber(header: Header, key: string): number | undefined {
  const v = header.pax?.[key];
  if (typeof v !== "string") return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** A directory whose mode and times are set once the whole layer is written. */
interface PendingDir {
  components: string[];
  mode: number;
  mtime: number;
  atime: number;
}

/**
 * Applies one OCI layer, given as an uncompressed tar stream, onto `dir` (which must exist),
 * and returns counts of what it did. Throws an {@linkcode ImgError} for an entry that would
 * land outside `dir`, for a malformed tar, and for entries that cannot be applied; what was
 * applied before stays applied (callers unpack into a fresh snapshot and drop it on error).
 */
export async function applyLayer(
  dir: string,
  tarStream: ReadableStream<Uint8Array>,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const root = Deno.realPathSync(dir);
  const applier = new Applier(root, options);
  const digester = options.diffID === undefined || options.streamDigest !== undefined
    ? undefined
    : new Digester();
  const input = digester ? digesting(tarStream, digester) : tarStream;
  await forEachTarEntry(input, async (header, data) => {
    try {
      await applier.apply(header, data);
    } catch (e) {
      if (e instanceof ImgError) throw e;
      throw new ImgError(
        `Cannot apply layer entry "${displayName(header.name)}" to ${dir} (${
          (e as Error).message
        })`,
        { cause: e },
      );
    }
  }, { malformed: tarError });
  const actual = options.diffID === undefined
    ? undefined
    : digester
    ? digester.digest()
    : await options.streamDigest!;
  if (actual !== undefined && actual !== options.diffID) {
    throw new DiffIDMismatchError(options.layer ?? "the layer", options.diffID!, actual);
  }
  applier.finish();
  return applier.result;
}

class Applier {
  readonly result: ApplyLayerResult = { entries: 0, bytes: 0, skippedDevices: 0, skippedXattrs: 0 };
  /** Host paths written by this layer: an opaque marker keeps them. */
  readonly #unpacked = new Set<string>();
  readonly #dirs: PendingDir[] = [];
  /** Times of existing directories this layer changed, by cleaned resolved path. */
  readonly #touched = new Map<string, PendingDir>();
  /** Resolved parent directories by their cleaned name; cleared whenever anything is
   * removed, since a cached resolution is valid only while its components stay. */
  readonly #parents = new Map<string, string[]>();
  /**
   * Host paths of directories this layer created (empty then): a name in one of them that is
   * not in `#created` does not exist, which saves an `lstat` (and its exception) per entry.
   * Cleared whenever anything is removed, as `#parents` is.
   */
  readonly #fresh = new Set<string>();
  /** Host paths this layer created (or was about to create); never cleared. */
  readonly #created = new Set<string>();
  /**
   * Host paths of directories seen without the setgid bit (their mode changes only in
   * `finish`): what is created in one belongs to the process's uid and gid, so a chown to
   * those is skipped. Cleared whenever anything is removed.
   */
  readonly #plain = new Set<string>();
  /** The process's uid and gid: the owner of what it creates in a `#plain` directory. */
  readonly #uid = Deno.uid();
  readonly #gid = Deno.gid();

  constructor(readonly root: string, readonly options: ApplyLayerOptions) {}

  /** Forgets what a removal may have made stale. */
  #removed(): void {
    this.#parents.clear();
    this.#fresh.clear();
    this.#plain.clear();
  }

  async apply(header: Header, data: AsyncIterable<Uint8Array>): Promise<void> {
    const components = cleanComponents(header.name);
    if (components === undefined) throw outside(header.name);
    if (components.length === 0) {
      // The root itself ("./"): containerd leaves the target directory as it is.
      await drain(data);
      return;
    }
    const base = components[components.length - 1];
    const isWhiteout = base.startsWith(WHITEOUT_PREFIX);
    const isFile = header.type === "file" || header.type === "contiguous-file";
    // Only regular files carry data; anything else is discarded up front.
    if (!isFile || isWhiteout) await drain(data);
    const parent = this.#parent(
      header.name,
      components.slice(0, -1),
      !isWhiteout || base === WHITEOUT_OPAQUE,
    );
    this.result.entries++;
    this.options.onEntry?.(components.join("/"));

    if (isWhiteout) {
      if (parent !== undefined) this.#whiteout(parent, base, header.name);
      return;
    }
    const parentPath = joinRoot(this.root, parent!);
    const path = `${parentPath}/${base}`;
    const existing = this.#fresh.has(parentPath) && !this.#created.has(path)
      ? undefined
      : lstatOrUndefined(path);
    this.#touch(parent!);
    // Created by the process, in a directory that gives it no other group: already owned so.
    const ownedAsIs = this.#plain.has(parentPath);
    if (existing && !(existing.isDirectory && header.type === "directory")) {
      removeAll(path);
      this.#removed();
    }
    this.#created.add(path);

    const mtime = paxNumber(header, "mtime") ?? header.mtime.getTime() / 1000;
    const atime = paxNumber(header, "atime") ?? mtime;
    const uid = paxNumber(header, "uid") ?? header.uid;
    const gid = paxNumber(header, "gid") ?? header.gid;
    const mode = header.mode & 0o7777;
    const chowns = this.options.sameOwner === true &&
      !(ownedAsIs && existing === undefined && uid === this.#uid && gid === this.#gid);
    // A regular file gets its mode as it is created when nothing would change it afterwards
    // (no chown, which clears setuid/setgid; no bit the umask takes away): one chmod less.
    const umask = processUmask();
    const createdExact = isFile && !chowns && (mode & 0o7000) === 0 && umask !== undefined &&
      (mode & umask) === 0;

    switch (header.type) {
      case "directory":
        if (!existing?.isDirectory) {
          mkdir(path, 0o700);
          this.#fresh.add(path);
        }
        this.#dirs.push({ components: [...parent!, base], mode, mtime, atime });
        break;
      case "link": {
        const target = cleanComponents(header.linkname ?? "");
        if (target === undefined || target.length === 0) {
          throw new ImgError(
            `Layer entry "${displayName(header.name)}" is a hard link to "${
              displayName(header.linkname)
            }", outside the target directory; refusing to unpack it`,
          );
        }
        let targetParent: string[];
        try {
          targetParent = resolveInRoot(this.root, target.slice(0, -1));
        } catch (e) {
          if (!(e instanceof SymlinkEscapeError)) throw e;
          throw new ImgError(
            `Layer entry "${displayName(header.name)}" is a hard link to "${
              displayName(header.linkname)
            }", outside the target directory (through the symlink "${e.link}" -> "${e.target}"); refusing to unpack it`,
            { cause: e },
          );
        }
        const targetPath = joinRoot(this.root, [...targetParent, target[target.length - 1]]);
        try {
          link(targetPath, path);
        } catch (e) {
          throw new ImgError(
            `Cannot create hard link "${displayName(header.name)}" to "${
              displayName(header.linkname)
            }" (${(e as Error).message}); the layer is broken`,
            { cause: e },
          );
        }
        break;
      }
      default: {
        const made = await createEntryNode(
          path,
          header,
          data,
          this.options.nodes ?? mknodCommand,
          (e) => {
            this.result.skippedDevices++;
            this.options.onWarning?.(
              `Skipped ${header.type} "${displayName(components.join("/"))}": ${e.message}`,
            );
          },
          createdExact ? mode : 0o600,
        );
        if (made === undefined) return;
        if (made !== null) {
          this.result.bytes += made;
          break;
        }
        throw new ImgError(
          `Layer entry "${
            displayName(header.name)
          }" has unsupported type "${header.type}"; the layer cannot be applied`,
        );
      }
    }
    this.#unpacked.add(path);
    const isSymlink = header.type === "symlink";

    if (this.options.sameOwner) {
      if (header.type === "link") {
        // The inode is already there with its owner and mode: chown only if the header
        // disagrees, and keep the mode, which chown strips of setuid/setgid.
        const info = lstat(path);
        if (info.uid !== uid || info.gid !== gid) {
          lchown(path, uid, gid);
          if (!info.isSymlink) chmod(path, info.mode! & 0o7777);
        }
      } else if (chowns) {
        lchown(path, uid, gid);
      }
    }
    this.#setXattrs(header, path, components);
    if (header.type === "directory") return; // mode and times come at the end
    // After chown, which clears setuid/setgid. A hard link shares its target's inode and
    // keeps its mode, as in containerd (in effect) and umoci.
    if (!isSymlink && header.type !== "link" && !createdExact) chmod(path, mode);
    if (isSymlink || (header.type === "link" && lstat(path).isSymlink)) {
      lutimes(path, atime, mtime);
    } else {
      utime(path, atime, mtime);
    }
  }

  /**
   * Gives back their times to the directories this layer changed without having an entry
   * for them (as umoci does, so the tree does not depend on when it was unpacked), then sets
   * mode and times of the directories of this layer, now that they are complete.
   */
  finish(): void {
    // Nothing below changes the shape of the tree: each directory is resolved once, and each
    // parent too (a layer's directories share a few hundred parents).
    const parents = new Map<string, string | undefined>();
    const touched = [...this.#touched.values()].map((d) => this.#dirPath(d.components, parents));
    const dirs = this.#dirs.map((d) => this.#dirPath(d.components, parents));
    [...this.#touched.values()].forEach((d, i) => {
      if (touched[i]) utime(touched[i], d.atime, d.mtime);
    });
    this.#dirs.forEach((d, i) => {
      if (dirs[i]) chmod(dirs[i], d.mode);
    });
    this.#dirs.forEach((d, i) => {
      if (dirs[i]) utime(dirs[i], d.atime, d.mtime);
    });
  }

  /**
   * The host path of a directory of the tree, resolved again (a later entry may have
   * replaced a parent, even with a symlink), or `undefined` if it is no longer a directory.
   * `parents` memoizes the resolution of parents while the tree does not change.
   */
  #dirPath(
    components: string[],
    parents: Map<string, string | undefined>,
  ): string | undefined {
    if (components.length === 0) return this.root;
    const parentComponents = components.slice(0, -1);
    const key = parentComponents.join("/");
    let parent: string | undefined;
    if (parents.has(key)) parent = parents.get(key);
    else {
      parent = resolveDir(this.root, parentComponents);
      parents.set(key, parent);
    }
    if (parent === undefined) return undefined;
    const path = `${parent}/${components[components.length - 1]}`;
    return lstatOrUndefined(path)?.isDirectory ? path : undefined;
  }

  /** Records the times of an existing directory before this layer first changes it. */
  #touch(components: string[]): void {
    const key = components.join("/");
    if (this.#touched.has(key)) return;
    const path = joinRoot(this.root, components);
    const info = lstatOrUndefined(path);
    if (!info?.isDirectory) return;
    if (((info.mode ?? 0) & 0o2000) === 0) this.#plain.add(path);
    const mtime = (info.mtime?.getTime() ?? 0) / 1000;
    const atime = (info.atime?.getTime() ?? 0) / 1000;
    this.#touched.set(key, { components, mode: 0, mtime, atime });
  }

  /**
   * Resolves the parent directory of an entry inside the root and, if `create`, creates
   * what is missing of it (mode 0755). Returns `undefined` if it does not exist and
   * `create` is false.
   */
  #parent(name: string, components: string[], create: boolean): string[] | undefined {
    const key = components.join("/");
    const cached = this.#parents.get(key);
    if (cached) return cached;
    const resolved = resolveFor(name, this.root, components);
    for (let i = 1; i <= resolved.length; i++) {
      const p = joinRoot(this.root, resolved.slice(0, i));
      const info = lstatOrUndefined(p);
      if (info?.isDirectory) continue;
      if (info) {
        throw new ImgError(
          `Layer entry "${displayName(name)}" needs "${
            resolved.slice(0, i).join("/")
          }" to be a directory, but it is a file; the layer cannot be applied`,
        );
      }
      if (!create) return undefined;
      this.#touch(resolved.slice(0, i - 1));
      this.#created.add(p);
      mkdir(p, 0o755);
      chmod(p, 0o755); // not masked by the umask
      this.#fresh.add(p);
    }
    this.#parents.set(key, resolved);
    return resolved;
  }

  #whiteout(parent: string[], base: string, name: string): void {
    const dirPath = joinRoot(this.root, parent);
    if (base === WHITEOUT_OPAQUE) {
      this.#removeLower(parent);
    } else {
      const original = base.slice(WHITEOUT_PREFIX.length);
      if (original === "" || original === "." || original === "..") {
        throw new ImgError(
          `Layer entry "${displayName(name)}" is an invalid whiteout; the layer is broken`,
        );
      }
      if (lstatOrUndefined(`${dirPath}/${original}`)) {
        this.#touch(parent);
        removeAll(`${dirPath}/${original}`);
      }
    }
    this.#removed();
  }

  /** Removes what lower layers put in a directory, keeping what this layer wrote. */
  #removeLower(dir: string[]): void {
    const dirPath = joinRoot(this.root, dir);
    let children: Deno.DirEntry[];
    try {
      children = [...readDir(dirPath)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return;
      throw e;
    }
    for (const child of children) {
      const p = `${dirPath}/${child.name}`;
      if (!this.#unpacked.has(p)) {
        this.#touch(dir);
        removeAll(p);
      } else if (child.isDirectory && !child.isSymlink) this.#removeLower([...dir, child.name]);
    }
  }

  #setXattrs(header: Header, path: string, components: string[]): void {
    const pax = header.pax;
    if (!pax) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith(XATTR_PREFIX)) continue;
      const name = key.slice(XATTR_PREFIX.length);
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
      if (!this.options.xattrs) {
        this.result.skippedXattrs++;
        continue;
      }
      try {
        this.options.xattrs.lset(path, name, bytes);
      } catch (e) {
        this.result.skippedXattrs++;
        this.options.onWarning?.(
          `Skipped xattr ${name} of "${components.join("/")}": ${(e as Error).message}`,
        );
      }
    }
  }
}

/** Thrown by {@linkcode applyLayer} when the tar stream does not have the expected diff ID. */
export class DiffIDMismatchError extends ImgError {
  /** `layer` names the layer, `expected` is its diff ID; `actual` the digest of the stream. */
  constructor(readonly layer: string, readonly expected: string, readonly actual: string) {
    super(
      `Layer ${layer} does not match the image config: its uncompressed content is ${actual}, the config's diff_id is ${expected}; the image is corrupt or was tampered with, pull it again from a trusted source`,
    );
    this.name = "DiffIDMismatchError";
  }
}

/** `stream`, every chunk of it also fed to `digester` as it is read. */
function digesting(
  stream: ReadableStream<Uint8Array>,
  digester: Digester,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) return controller.close();
      digester.update(value);
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function tarError(e: unknown): ImgError {
  return new ImgError(`The layer is not a valid tar archive (${(e as Error).message})`, {
    cause: e,
  });
}
