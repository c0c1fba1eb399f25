/**
 * A step's working directory, created before the step starts when it is missing, as
 * BuildKit does.
 *
 * @module
 */
import { rootPath as resolveInRoot } from "../root_path.ts";
import { pathExists as exists } from "./fs.ts";

/**
 * Creates the working directory `cwd` inside the root filesystem `root` if it is missing,
 * owned by the step's user (`uid`:`gid`).
 */
export async function makeWorkdir(
  root: string,
  cwd: string,
  uid: number,
  gid: number,
): Promise<void> {
  const path = resolveInRoot(root, cwd);
  if (exists(path)) return;
  const missing: string[] = [];
  for (let p = path; p.length > root.length && !exists(p); p = p.slice(0, p.lastIndexOf("/"))) {
    missing.unshift(p);
  }
  await Deno.mkdir(path, { recursive: true, mode: 0o755 });
  for (const dir of missing) {
    try {
      await Deno.chown(dir, uid, gid);
    } catch {
      // an id outside the user namespace: leave it to root
    }
  }
}
