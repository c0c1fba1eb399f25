/**
 * The actions of a file op (COPY, ADD, WORKDIR's mkdir, heredoc files, rm) applied to a
 * directory, faithful to BuildKit's `FileOp` backend and the `fsutil` copier it uses, as
 * the Dockerfile frontend drives them:
 *
 * - `copy`: each source is resolved in its input (wildcards, the named symlink followed; see
 *   `_source.ts`). A directory's contents are copied into the destination; a file goes to
 *   the destination path itself, or into it when it is an existing directory or ends with
 *   `/`. Several sources make the destination a directory. Missing parents are created 0755
 *   and owned by the `--chown` user (root without one). Copied entries keep their mode
 *   (`--chmod` replaces it), times, symlinks (as symlinks), hard links among them, and their
 *   owner: the `--chown` user, else the source's owner (root for a local context, see
 *   {@linkcode FileActionContext.rootOwnedInputs}). `unpack` (ADD) extracts a local tar
 *   archive (plain, gzip, bzip2, xz or zstd, detected from its content) into the
 *   destination instead.
 * - `mkdir` (`parents`: like `mkdir -p`), `mkfile` and `rm` (`allowNotFound`,
 *   `allowWildcard`), with `chown` where they take one.
 *
 * Every destination path is resolved inside the destination as a chroot would: a symlink of
 * the image pointing to `/usr/bin` is followed to the image's `/usr/bin`, never the host's.
 * Extended attributes are not copied.
 *
 * @module
 */
import type { FileAction } from "../build_graph.ts";
import { ImgError } from "../errors.ts";
import * as exact from "../fs/exact.ts";
import { displayName, hasRawBytes } from "../fs/raw_name.ts";
import { joinRoot, lstatOrUndefined } from "../layer/_path.ts";
import { mknodCommand } from "../layer/apply.ts";
import { major, minor } from "../libc.ts";
import { resolveChown } from "../user.ts";
import { type ModeChange, parseChmod } from "./_chmod.ts";
import {
  clampComponents,
  EntryFilter,
  expandWildcards,
  readDirSorted,
  resolveInside,
  resolveSource,
  rootPath,
  type SourceMatch,
} from "./_source.ts";
import { extractArchive, openArchive } from "./_untar.ts";

export { SourceNotFoundError } from "./_source.ts";

/** Where {@linkcode applyFileActions} works. */
export interface FileActionContext {
  /** The directory being changed: the step's root filesystem. */
  dest: string;
  /** The directory of each input (`undefined`: an empty one); a copy's `input` indexes this,
   * and `-1` names `dest` itself. */
  inputs: (string | undefined)[];
  /** Chown entries (we run as root of a user namespace); when false, nothing is chowned. */
  sameOwner: boolean;
  /** Inputs whose files are copied as owned by root when no `--chown` is given, as BuildKit
   * does for a local context (it transfers the context as 0:0). Default: none. */
  rootOwnedInputs?: boolean[];
  /** Patterns (`.dockerignore` syntax) per input, hiding its paths from every copy. */
  inputIgnores?: (string[] | undefined)[];
  /** Called with a one-line message for each thing skipped. */
  onWarning?: (message: string) => void;
}

type CopyAction = Extract<FileAction, { action: "copy" }>;
type MkdirAction = Extract<FileAction, { action: "mkdir" }>;
type MkfileAction = Extract<FileAction, { action: "mkfile" }>;
type RmAction = Extract<FileAction, { action: "rm" }>;

interface Owner {
  uid: number;
  gid: number;
}

/**
 * Applies `actions` in order to `ctx.dest`. Errors a user can act on (a missing source, a
 * file where a directory is needed, an unknown `--chown` user) are {@linkcode ImgError}s; a
 * missing source is a {@linkcode SourceNotFoundError}.
 */
export async function applyFileActions(
  actions: FileAction[],
  ctx: FileActionContext,
): Promise<void> {
  const root = Deno.realPathSync(ctx.dest);
  for (const action of actions) {
    switch (action.action) {
      case "copy":
        await copy(root, action, ctx);
        break;
      case "mkdir":
        await mkdir(root, action, ctx);
        break;
      case "mkfile":
        await mkfile(root, action, ctx);
        break;
      case "rm":
        rm(root, action);
        break;
      default:
        throw new ImgError(
          `Unknown file action "${
            (action as { action: string }).action
          }"; the build graph is broken`,
        );
    }
  }
}

/** Reports whether a destination path names a directory (`dir/`, `dir/.`, `.`). */
function namesDirectory(path: string): boolean {
  return path === "" || path === "." || path.endsWith("/") || path.endsWith("/.");
}

function setOwner(path: string, owner: Owner | undefined, sameOwner: boolean): void {
  if (owner && sameOwner) exact.lchown(path, owner.uid, owner.gid);
}

/**
 * `mkdir -p` of `components` inside `root` (resolved: none is a symlink), creating what is
 * missing with `mode` and `owner`. A component that exists but is not a directory is an error.
 */
function mkdirAll(
  root: string,
  components: readonly string[],
  mode: number,
  owner: Owner | undefined,
  sameOwner: boolean,
  display: string,
): void {
  for (let i = 1; i <= components.length; i++) {
    const p = joinRoot(root, components.slice(0, i));
    const info = lstatOrUndefined(p);
    if (info?.isDirectory) continue;
    if (info) {
      throw new ImgError(
        `Cannot create "${display}": "/${
          components.slice(0, i).join("/")
        }" exists and is not a directory`,
      );
    }
    exact.mkdir(p, 0o777);
    setOwner(p, owner, sameOwner);
    exact.chmod(p, mode);
  }
}

function setTimes(path: string, info: Deno.FileInfo): void {
  const mtime = info.mtime ?? new Date(0);
  const atime = info.atime ?? mtime;
  if (info.isSymlink) exact.lutimes(path, atime, mtime);
  else exact.utime(path, atime, mtime);
}

async function copy(root: string, action: CopyAction, ctx: FileActionContext): Promise<void> {
  const options = action.options ?? {};
  let srcRoot: string | undefined;
  if (action.input === -1) srcRoot = root;
  else {
    if (action.input < 0 || action.input >= ctx.inputs.length) {
      throw new ImgError(
        `Copy action reads input ${action.input}, but the op has ${ctx.inputs.length}; the build graph is broken`,
      );
    }
    const dir = ctx.inputs[action.input];
    srcRoot = dir === undefined ? undefined : Deno.realPathSync(dir);
  }
  const owner = action.chown ? await resolveChown(root, action.chown) : undefined;
  const chmod = action.chmod ? parseChmod(action.chmod) : undefined;
  const rootOwned = action.input >= 0 && (ctx.rootOwnedInputs?.[action.input] ?? false);
  const ignore = action.input >= 0 ? ctx.inputIgnores?.[action.input] : undefined;
  const filter = new EntryFilter(options.exclude, ignore);
  const ignoreOnly = new EntryFilter(undefined, ignore);

  let dest = action.dest;
  if (action.src.length > 1 && !namesDirectory(dest)) dest += "/";
  const destComponents = clampComponents(dest);
  const what = `Destination "${action.dest}"`;
  if (!options.createDestPath) {
    const resolved = resolveInside(root, destComponents, what);
    const parent = resolveInside(root, resolved.slice(0, -1), what);
    if (!lstatOrUndefined(joinRoot(root, parent))?.isDirectory) {
      throw new ImgError(
        `Cannot copy to "${action.dest}": its parent directory does not exist`,
      );
    }
  }

  for (const src of action.src) {
    const matches = resolveSource(srcRoot, src, {
      allowWildcard: options.allowWildcard,
      allowEmptyWildcard: options.allowEmptyWildcard,
      followSymlinks: options.followSymlinks,
      filter: ignoreOnly,
    });
    for (const match of matches) {
      if (options.unpack) {
        const archive = await openArchive(
          joinRoot(srcRoot!, rootPath(srcRoot!, match.components, true, `Source "${src}"`)),
        );
        if (archive) {
          const target = resolveInside(root, destComponents, what);
          mkdirAll(root, target, 0o755, owner, ctx.sameOwner, action.dest);
          await extractArchive(joinRoot(root, target), archive, {
            sameOwner: ctx.sameOwner,
            owner,
            onWarning: ctx.onWarning,
          });
          continue;
        }
      }
      const copier = new Copier({
        root,
        owner,
        chmod,
        rootOwned,
        sameOwner: ctx.sameOwner,
        filter,
        onWarning: ctx.onWarning,
      });
      if (options.parents) {
        // BuildKit's --parents: the match's path below the pivot, under the destination dir.
        const rel = match.components.slice(pivotDepth(src));
        const under = `${namesDirectory(dest) ? dest : `${dest}/`}${rel.join("/")}`;
        copier.copyMatch(match, under, clampComponents(under), what);
      } else copier.copyMatch(match, dest, destComponents, what);
    }
  }
}

/** How many leading components of `src` are dropped by `--parents`: those before `/./`. */
function pivotDepth(src: string): number {
  const i = src.indexOf("/./");
  return i < 0 ? 0 : clampComponents(src.slice(0, i)).length;
}

interface CopierOptions {
  root: string;
  owner?: Owner;
  chmod?: ModeChange;
  rootOwned: boolean;
  sameOwner: boolean;
  filter: EntryFilter;
  onWarning?: (message: string) => void;
}

/** A directory created only once something below it is copied (excluded, with exceptions). */
interface PendingDir {
  src: string;
  target: string;
  info: Deno.FileInfo;
  created: boolean;
}

/** Copies one resolved source, as one `fsutil` copier: hard links are kept within it. */
class Copier {
  readonly #inodes = new Map<string, string>();
  readonly #pending: PendingDir[] = [];

  constructor(readonly o: CopierOptions) {}

  /** Copies `match` to `dest` (whose components are `destComponents`), as `copy.Copy`. */
  copyMatch(match: SourceMatch, dest: string, destComponents: string[], what: string): void {
    const { root, owner, sameOwner } = this.o;
    // The destination directory (dest ending in "/"), or the parent of the destination path.
    const ensure = namesDirectory(dest) ? destComponents : destComponents.slice(0, -1);
    mkdirAll(root, resolveInside(root, ensure, what), 0o755, owner, sameOwner, dest);

    let target = resolveInside(root, destComponents, what);
    const destInfo = lstatOrUndefined(joinRoot(root, target));
    const srcIsDir = match.info.isDirectory;
    if (!srcIsDir && destInfo?.isDirectory) {
      if (match.name === "") {
        throw new ImgError(`Cannot copy the root of the input onto "${dest}"`);
      }
      target = [...target, match.name];
    }
    const parent = srcIsDir && !destInfo ? target : target.slice(0, -1);
    mkdirAll(root, parent, 0o755, owner, sameOwner, dest);
    this.#copy(match.host, "", match.components.join("/"), joinRoot(root, target), false);
  }

  #display(target: string): string {
    return displayName(target.slice(this.o.root.length) || "/");
  }

  /** Creates the directories that were waiting for something to be copied below them. */
  #createPending(): void {
    for (const d of this.#pending) {
      if (d.created) continue;
      const info = lstatOrUndefined(d.target);
      if (!info) {
        exact.mkdir(d.target, 0o777);
        this.#copyInfo(d.info, d.target);
      } else if (!info.isDirectory) {
        throw new ImgError(`Cannot copy to non-directory "${this.#display(d.target)}"`);
      }
      d.created = true;
    }
  }

  #copy(src: string, rel: string, rootRel: string, target: string, overwrite: boolean): void {
    const info = exact.lstat(src);
    this.#createPending();
    if (!info.isDirectory) {
      const existing = lstatOrUndefined(target);
      if (existing?.isDirectory) {
        throw new ImgError(
          `Cannot replace the directory "${this.#display(target)}" with a file`,
        );
      }
      if (existing) exact.removeAll(target);
    }
    let copyInfo = true;
    if (info.isDirectory) {
      const created = this.#copyDirectory(src, rel, rootRel, target, info);
      if (!overwrite) copyInfo = created;
    } else if (info.isFile) {
      const link = this.#linkSource(info, target);
      if (link) exact.link(link, target);
      else exact.copyFileSync(src, target);
    } else if (info.isSymlink) {
      exact.symlink(exact.readLink(src), target);
    } else if (info.isFifo || info.isCharDevice || info.isBlockDevice) {
      const type = info.isFifo ? 0o010000 : info.isBlockDevice ? 0o060000 : 0o020000;
      const rdev = info.rdev ?? 0;
      try {
        mknodCommand.mknod(target, type, (info.mode ?? 0) & 0o7777, major(rdev), minor(rdev));
      } catch (e) {
        this.o.onWarning?.(`Skipped "${displayName(rel || rootRel)}": ${(e as Error).message}`);
        return;
      }
    } else {
      this.o.onWarning?.(`Skipped the socket "${displayName(rel || rootRel)}"`);
      return;
    }
    if (copyInfo) this.#copyInfo(info, target);
  }

  /** The first copy of a hard-linked inode, or undefined (and remembers this one). */
  #linkSource(info: Deno.FileInfo, target: string): string | undefined {
    if ((info.nlink ?? 1) < 2) return undefined;
    const key = `${info.dev}:${info.ino}`;
    const first = this.#inodes.get(key);
    if (first) return first;
    this.#inodes.set(key, target);
    return undefined;
  }

  /** Copies a directory; returns whether it created the target. */
  #copyDirectory(
    src: string,
    rel: string,
    rootRel: string,
    target: string,
    info: Deno.FileInfo,
  ): boolean {
    let created = false;
    const existing = lstatOrUndefined(target);
    if (!existing) {
      // Writable while its contents are copied; its own mode comes after them (#copyInfo).
      exact.mkdir(target, 0o777);
      exact.chmod(target, ((info.mode ?? 0o755) & 0o7777) | 0o700);
      created = true;
    } else if (!existing.isDirectory) {
      throw new ImgError(`Cannot copy to non-directory "${this.#display(target)}"`);
    }
    this.#copyChildren(src, rel, rootRel, target);
    return created;
  }

  /**
   * Copies the children of the directory `src` that the filter keeps; walks through those it
   * leaves out, since an exception may bring back something below them.
   */
  #copyChildren(src: string, rel: string, rootRel: string, target: string): void {
    for (const entry of readDirSorted(src)) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childRootRel = rootRel ? `${rootRel}/${entry.name}` : entry.name;
      const childSrc = `${src}/${entry.name}`;
      const childTarget = `${target}/${entry.name}`;
      const decision = this.o.filter.check(childRel, childRootRel, entry.isDirectory);
      if (decision === "skip") continue;
      if (decision === "keep") {
        this.#copy(childSrc, childRel, childRootRel, childTarget, true);
        continue;
      }
      // Left out itself: only what the filter brings back below it is copied.
      const pending: PendingDir = {
        src: childSrc,
        target: childTarget,
        info: exact.lstat(childSrc),
        created: false,
      };
      this.#pending.push(pending);
      try {
        this.#copyChildren(childSrc, childRel, childRootRel, childTarget);
      } finally {
        this.#pending.pop();
      }
      if (pending.created) setTimes(childTarget, pending.info);
    }
  }

  /** Owner, mode and times of a copied entry, as `copyFileInfo`. */
  #copyInfo(info: Deno.FileInfo, target: string): void {
    if (this.o.sameOwner) {
      const uid = this.o.owner?.uid ?? (this.o.rootOwned ? 0 : info.uid ?? 0);
      const gid = this.o.owner?.gid ?? (this.o.rootOwned ? 0 : info.gid ?? 0);
      exact.lchown(target, uid, gid);
    }
    if (!info.isSymlink) {
      const mode = (info.mode ?? 0) & 0o7777;
      exact.chmod(target, this.o.chmod ? this.o.chmod(mode, info.isDirectory) : mode);
    }
    setTimes(target, info);
  }
}

async function mkdir(root: string, action: MkdirAction, ctx: FileActionContext): Promise<void> {
  const owner = action.chown ? await resolveChown(root, action.chown) : undefined;
  const what = `Directory "${action.path}"`;
  const resolved = resolveInside(root, clampComponents(action.path), what);
  const mode = action.mode & 0o777;
  if (action.parents) {
    mkdirAll(root, resolved, mode, owner, ctx.sameOwner, action.path);
    return;
  }
  const path = joinRoot(root, resolved);
  try {
    exact.mkdir(path, 0o777);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return;
    if (e instanceof Deno.errors.NotFound) {
      throw new ImgError(
        `Cannot create the directory "${action.path}": its parent does not exist`,
        { cause: e },
      );
    }
    throw e;
  }
  setOwner(path, owner, ctx.sameOwner);
  exact.chmod(path, mode);
}

async function mkfile(root: string, action: MkfileAction, ctx: FileActionContext): Promise<void> {
  const owner = action.chown ? await resolveChown(root, action.chown) : undefined;
  const what = `File "${action.path}"`;
  const resolved = resolveInside(root, clampComponents(action.path), what);
  if (resolved.length === 0) throw new ImgError(`Cannot write a file at "${action.path}"`);
  const path = joinRoot(root, resolved);
  if (hasRawBytes(path)) {
    throw new ImgError(
      `Cannot write the file "${action.path}": it leads to "/${
        displayName(resolved.join("/"))
      }", whose name is not UTF-8; write it with RUN instead`,
    );
  }
  const existing = lstatOrUndefined(path);
  if (existing?.isDirectory) {
    throw new ImgError(`Cannot write the file "${action.path}": it is a directory`);
  }
  try {
    Deno.writeFileSync(path, new TextEncoder().encode(action.data), { create: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ImgError(
        `Cannot write the file "${action.path}": its parent directory does not exist`,
        { cause: e },
      );
    }
    throw e;
  }
  // As os.WriteFile: the mode applies to a new file only.
  if (!existing) Deno.chmodSync(path, action.mode & 0o777);
  setOwner(path, owner, ctx.sameOwner);
}

function rm(root: string, action: RmAction): void {
  const components = clampComponents(action.path);
  const what = `Path "${action.path}"`;
  if (action.allowWildcard) {
    const matches = expandWildcards(root, components, false, what);
    if (matches === undefined) {
      if (action.allowNotFound) return;
      throw new ImgError(`Cannot remove "${action.path}": it does not exist`);
    }
    if (matches !== null) {
      for (const m of matches) rmPath(root, m, action.path, action.allowNotFound ?? false);
      return;
    }
  }
  rmPath(root, components, action.path, action.allowNotFound ?? false);
}

function rmPath(root: string, components: string[], display: string, allowNotFound: boolean) {
  if (components.length === 0) throw new ImgError(`Cannot remove "${display}": it is the root`);
  const what = `Path "${display}"`;
  if (!allowNotFound) {
    // os.Stat: a dangling symlink counts as missing.
    const followed = resolveInside(root, components, what);
    if (!lstatOrUndefined(joinRoot(root, followed))) {
      throw new ImgError(`Cannot remove "${display}": it does not exist`);
    }
  }
  const parent = resolveInside(root, components.slice(0, -1), what);
  const path = joinRoot(root, [...parent, components[components.length - 1]]);
  try {
    exact.removeAll(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
  }
}
