/**
 * Path handling for applying layers: cleaning tar names and resolving them inside a root
 * directory the way a chroot would, so that nothing is ever reached through a symlink that
 * points out of the tree; and the `lstat` and removal that tolerate a missing path.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import * as exact from "../fs/exact.ts";

/** The most symlinks followed while resolving one path, as Linux's MAXSYMLINKS (40) x 6. */
const MAX_LINKS = 255;

/**
 * Lexically cleans a tar entry name into path components relative to the layer root.
 * Absolute names are rooted at the layer root (as containerd does); `.` and empty
 * components are dropped. Returns `undefined` if a `..` climbs above the root.
 */
export function cleanComponents(name: string): string[] | undefined {
  const out: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

/** Joins `root` and relative components into a host path. */
export function joinRoot(root: string, components: readonly string[]): string {
  return components.length === 0 ? root : `${root}/${components.join("/")}`;
}

/** Thrown by {@linkcode resolveInRoot} when a relative symlink climbs above the root. */
export class SymlinkEscapeError extends Error {
  /** `link` is the symlink (relative to the root) whose target climbs out. */
  constructor(readonly link: string, readonly target: string) {
    super(`symlink "${link}" -> "${target}" climbs above the root`);
    this.name = "SymlinkEscapeError";
  }
}

/**
 * Resolves `components` (cleaned: no `..`) inside `root` as a chroot would: every symlink
 * met on the way is followed and absolute targets restart at `root`. A relative target
 * whose `..` would climb above `root` throws {@linkcode SymlinkEscapeError}: that is a
 * link made to reach the host (docker refuses to even create one). Missing components are
 * kept as they are. With `clamp`, `..` at the root stays at the root instead, as in a chroot.
 * Returns the components of the resolved path relative to `root`; none
 * of them is a symlink at the time of the call, so the host path `joinRoot(root, result)`
 * cannot lead outside `root`.
 */
export function resolveInRoot(
  root: string,
  components: readonly string[],
  options: { clamp?: boolean } = {},
): string[] {
  const resolved: string[] = [];
  const pending = components.slice().reverse();
  let links = 0;
  let lastLink: [string, string] = ["", ""];
  while (pending.length > 0) {
    const c = pending.pop()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (resolved.length === 0) {
        // A chroot clamps `..` at its root; unpacking refuses it instead.
        if (options.clamp) continue;
        throw new SymlinkEscapeError(...lastLink);
      }
      resolved.pop();
      continue;
    }
    resolved.push(c);
    let info: Deno.FileInfo;
    try {
      info = exact.lstat(joinRoot(root, resolved));
    } catch (e) {
      // Missing (or below a file): kept as is. A later `..` may climb back to existing
      // directories, so the walk goes on checking every component.
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
      throw e;
    }
    if (!info.isSymlink) continue;
    if (++links > MAX_LINKS) {
      throw new ImgError(
        `Too many levels of symbolic links at "${
          resolved.join("/")
        }" in the layer; the image is broken`,
      );
    }
    const target = exact.readLink(joinRoot(root, resolved));
    lastLink = [resolved.join("/"), target];
    resolved.pop();
    if (target.startsWith("/")) resolved.length = 0;
    const parts = target.split("/");
    for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]);
  }
  return resolved;
}

/** `lstat`, or `undefined` when the path (or a parent) does not exist. */
export function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return exact.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** Removes `path` and everything below it; a missing path is not an error. */
export const removeAll: (path: string) => void = exact.removeAll;
