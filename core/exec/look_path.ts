/**
 * Finding a program in `PATH`, as `exec.LookPath` does.
 *
 * @module
 */

/** The path of `name` in `path` (a `PATH` value), or undefined; a name with a `/` is taken as is. */
export function lookPath(name: string, path: string | undefined): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  for (const dir of (path ?? "").split(":")) {
    if (!dir) continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${name}`;
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Whether `file` is a regular file with an execute bit. */
export function isExecutable(file: string): boolean {
  try {
    const st = Deno.statSync(file);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}
