/**
 * Paths inside a root filesystem as a process chrooted there sees them: symlinks (absolute or
 * relative) are followed within the root and `..` never climbs above it, as containerd's
 * `fs.RootPath` does.
 *
 * @module
 */
import { joinRoot, resolveInRoot } from "./layer/_path.ts";

/**
 * Returns the host path of `path` inside `root`, with every symlink along it resolved
 * inside `root`. Components that do not exist are kept as they are.
 */
export function rootPath(root: string, path: string): string {
  const base = root.replace(/\/+$/, "") || "/";
  const parts = resolveInRoot(base, path.split("/"), { clamp: true });
  return base === "/" ? `/${parts.join("/")}` : joinRoot(base, parts);
}
