/**
 * Test helper: a `PATH` without an OCI runtime, for the chroot executor's tests. Every
 * program of this `PATH` is linked into one directory, except crun and runc.
 *
 * @module
 */

/** The OCI runtimes hidden. */
export const HIDDEN = ["crun", "runc"];

/**
 * Fills `dir` with symlinks to every program in `path` (the first of each name), except
 * crun and runc, and returns `dir` as a `PATH` value.
 */
export async function pathWithoutRuntimes(
  dir: string,
  path = Deno.env.get("PATH") ?? "",
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const seen = new Set<string>(HIDDEN);
  for (const d of path.split(":")) {
    if (!d) continue;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      continue;
    }
    for (const e of entries) {
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      await Deno.symlink(`${d}/${e.name}`, `${dir}/${e.name}`);
    }
  }
  await Deno.chmod(dir, 0o755);
  return dir;
}
