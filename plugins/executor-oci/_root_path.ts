/**
 * Resolving a path inside a root filesystem the way the container would see it: symlinks
 * (absolute or relative) are followed within `root` and `..` never climbs above it, as
 * containerd's `fs.RootPath` does.
 *
 * @module
 */

const MAX_SYMLINKS = 255;

/**
 * Returns the host path of `path` inside `root`, with every symlink along it resolved
 * inside `root`. Components that do not exist are kept as they are.
 */
export function resolveInRoot(root: string, path: string): string {
  const base = root.replace(/\/+$/, "") || "/";
  const todo = path.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const host = join(base, [...done, part]);
    let target: string | undefined;
    try {
      if (Deno.lstatSync(host).isSymlink) target = Deno.readLinkSync(host);
    } catch {
      // does not exist (yet): keep it literally
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`too many levels of symbolic links: ${path}`);
    if (target.startsWith("/")) done.length = 0;
    todo.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
  }
  return join(base, done);
}

function join(base: string, parts: string[]): string {
  if (parts.length === 0) return base;
  return (base === "/" ? "" : base) + "/" + parts.join("/");
}
