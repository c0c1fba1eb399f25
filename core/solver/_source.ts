/**
 * What a COPY or ADD source names in its input directory, resolved as BuildKit resolves it:
 * wildcards expanded below their literal base, the top-level symlink followed when asked
 * (always inside the input, as a chroot would), and `--exclude` / ignore patterns (docker's
 * `.dockerignore` rules) filtering what a walk sees. Shared by the copy and the checksum, so
 * that the cache key covers exactly what the copy reads.
 *
 * @module
 */
import dockerignore, { type Ignore } from "@balena/dockerignore";
import { ImgError, NotFoundError } from "../errors.ts";
import * as exact from "../fs/exact.ts";
import { joinRoot, lstatOrUndefined, resolveInRoot, SymlinkEscapeError } from "../layer/_path.ts";
import { BadPatternError, matchGlob, splitWildcards } from "./_glob.ts";

/**
 * A COPY or ADD source that does not exist in its input (BuildKit: `failed to calculate
 * checksum of ref ...: "/missing.txt": not found`). `source` is the path as written.
 */
export class SourceNotFoundError extends NotFoundError {
  /** Creates the error for `source`; `detail` replaces the default "not found". */
  constructor(readonly source: string, detail = "not found") {
    super(`"${source}": ${detail}`);
    this.name = "SourceNotFoundError";
  }
}

/**
 * Lexically cleans a path into components as Go's `path.Join("/", p)` does: `.` and empty
 * components dropped, `..` at the root staying at the root.
 */
export function clampComponents(path: string): string[] {
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

/** Entries of a directory, names byte-exact, sorted as Go's `os.ReadDir` sorts them. */
export function readDirSorted(path: string): Deno.DirEntry[] {
  return exact.readDir(path).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

// A CommonJS module whose types declare an ES default export: take the factory either way.
const ignore = ((dockerignore as unknown as { default?: unknown }).default ??
  dockerignore) as unknown as (options?: { ignorecase?: boolean }) => Ignore;

/** What a walk does with an entry. */
export type FilterDecision =
  /** Copy (and checksum) the entry. */
  | "keep"
  /** Leave the entry (and, for a directory, all below it) out. */
  | "skip"
  /** A directory left out itself whose children a `!` pattern may bring back: walk it, and
   * create it only if something below it is kept. */
  | "through";

/** Patterns in docker's `.dockerignore` syntax, `!` exceptions included. */
class Patterns {
  readonly #matcher: Ignore;
  /** Whether a `!` pattern may bring back something below an excluded directory. */
  readonly negations: boolean;

  constructor(patterns: readonly string[]) {
    // Docker matches case-sensitively.
    this.#matcher = ignore({ ignorecase: false }).add([...patterns]);
    this.negations = patterns.some((p) => p.trim().startsWith("!"));
  }

  matches(path: string): boolean {
    return path !== "" && this.#matcher.ignores(path);
  }
}

/**
 * Filters the entries of a walk: `exclude` (COPY `--exclude`) is matched against the path
 * below the copied source, `ignore` (a `.dockerignore` of the input) against the path from the
 * input's root.
 */
export class EntryFilter {
  readonly #exclude?: Patterns;
  readonly #ignore?: Patterns;

  /** Creates a filter; empty or missing pattern lists filter nothing. */
  constructor(exclude?: readonly string[], ignorePatterns?: readonly string[]) {
    if (exclude?.length) this.#exclude = new Patterns(exclude);
    if (ignorePatterns?.length) this.#ignore = new Patterns(ignorePatterns);
  }

  /** Whether the filter can leave anything out. */
  get active(): boolean {
    return this.#exclude !== undefined || this.#ignore !== undefined;
  }

  /** Whether the input-relative `rootRel` is hidden by the ignore patterns. */
  ignored(rootRel: string, isDir: boolean): boolean {
    if (!this.#ignore?.matches(rootRel)) return false;
    return !(isDir && this.#ignore.negations);
  }

  /** Decides on an entry at `rel` below the source and `rootRel` below the input's root. */
  check(rel: string, rootRel: string, isDir: boolean): FilterDecision {
    const excluded = this.#exclude?.matches(rel) ?? false;
    const ignored = this.#ignore?.matches(rootRel) ?? false;
    if (!excluded && !ignored) return "keep";
    if (!isDir) return "skip";
    if (excluded && !this.#exclude!.negations) return "skip";
    if (ignored && !this.#ignore!.negations) return "skip";
    return "through";
  }
}

/** One entry a source resolves to. */
export interface SourceMatch {
  /** The name the entry is copied under into a directory: the last component of its path as
   * matched (a followed symlink keeps its own name); empty for the input's root. */
  name: string;
  /** The entry's path in the input, with the symlinks on the way resolved. */
  components: string[];
  /** The entry's path on the host. */
  host: string;
  /** The entry itself (`lstat` of `host`). */
  info: Deno.FileInfo;
}

/** How a source is resolved. */
export interface ResolveOptions {
  /** Expand `*`, `?` and `[...]`. */
  allowWildcard?: boolean;
  /** A wildcard that matches nothing is no error (BuildKit's Dockerfile frontend sets it). */
  allowEmptyWildcard?: boolean;
  /** Follow a symlink that the source itself names (Docker does for COPY and ADD). */
  followSymlinks?: boolean;
  /** Hides paths of the input (its `.dockerignore`). */
  filter?: EntryFilter;
}

/** Resolves `components` inside `root`; a symlink climbing out is an ImgError naming `what`. */
export function resolveInside(root: string, components: readonly string[], what: string): string[] {
  try {
    return resolveInRoot(root, components);
  } catch (e) {
    if (e instanceof SymlinkEscapeError) {
      throw new ImgError(
        `${what} leads out of its directory through the symlink "${e.link}" -> "${e.target}"; make the link point inside`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** BuildKit's `rootPath`: the parents resolved inside `root`, the last one too if `follow`. */
export function rootPath(
  root: string,
  components: readonly string[],
  follow: boolean,
  what: string,
): string[] {
  if (components.length === 0) return [];
  if (follow) return resolveInside(root, components, what);
  const parent = resolveInside(root, components.slice(0, -1), what);
  return [...parent, components[components.length - 1]];
}

/**
 * Expands a wildcard path in `root` as BuildKit's `ResolveWildcards`: the literal base is
 * resolved (following symlinks if `follow`), then walked without following symlinks; an entry
 * whose path below the base matches the pattern is a match (a matching directory is not
 * entered). Returns the matches' components (relative to `root`, the base resolved), in walk
 * order, or `undefined` if the base does not exist; `null` when the path has no wildcard.
 */
export function expandWildcards(
  root: string,
  components: readonly string[],
  follow: boolean,
  what: string,
  filter?: EntryFilter,
): string[][] | undefined | null {
  const split = splitWildcards(components);
  if (!split) return null;
  const base = rootPath(root, split.base, follow, what);
  const baseInfo = lstatOrUndefined(joinRoot(root, base));
  if (!baseInfo) return undefined;
  const out: string[][] = [];
  if (!baseInfo.isDirectory) return out;
  // `*`, `?` never match "/": a path deeper than the pattern cannot match.
  const depth = split.pattern.split("/").length;
  const walk = (rel: string[]) => {
    for (const entry of readDirSorted(joinRoot(root, [...base, ...rel]))) {
      const path = [...rel, entry.name];
      const rootRel = [...base, ...path].join("/");
      if (filter?.ignored(rootRel, entry.isDirectory)) continue;
      let matched = false;
      try {
        matched = matchGlob(split.pattern, path.join("/"));
      } catch (e) {
        if (!(e instanceof BadPatternError)) throw e;
      }
      if (matched) out.push([...base, ...path]);
      else if (entry.isDirectory && path.length < depth) walk(path);
    }
  };
  walk([]);
  return out;
}

/**
 * Resolves one COPY/ADD source path of the input at `root` (undefined: an empty input) into
 * the entries to copy. A missing source, or a wildcard that matches nothing (unless
 * `allowEmptyWildcard`), throws {@linkcode SourceNotFoundError}.
 */
export function resolveSource(
  root: string | undefined,
  source: string,
  options: ResolveOptions = {},
): SourceMatch[] {
  const components = clampComponents(source);
  const display = source.replace(/^\/+/, "") || ".";
  const what = `Source "${display}"`;
  if (root === undefined) throw new SourceNotFoundError(display);
  const follow = options.followSymlinks ?? false;
  let paths: string[][] = [components];
  if (options.allowWildcard) {
    const expanded = expandWildcards(root, components, follow, what, options.filter);
    if (expanded === undefined) throw new SourceNotFoundError(display);
    if (expanded !== null) {
      if (expanded.length === 0) {
        if (options.allowEmptyWildcard) return [];
        throw new SourceNotFoundError(display, "not found: no source files were specified");
      }
      paths = expanded;
    }
  }
  return paths.map((path) => {
    const resolved = rootPath(root, path, follow, what);
    const host = joinRoot(root, resolved);
    const info = lstatOrUndefined(host);
    if (!info || options.filter?.ignored(resolved.join("/"), info.isDirectory)) {
      throw new SourceNotFoundError(display);
    }
    return { name: path[path.length - 1] ?? "", components: resolved, host, info };
  });
}
