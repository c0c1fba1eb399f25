/**
 * The flags of the mount a path lives on, from `/proc/self/mountinfo`: a bind remount in a
 * user namespace must keep the ones the kernel locked (`nosuid`, `nodev`, `noexec` and the
 * atime flags), or it fails with EPERM.
 *
 * @module
 */

const LOCKABLE = new Set(["nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime"]);

/** Decodes mountinfo's octal escapes (`\040` for a space). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The lockable per-mount flags of the mount holding `path` (already resolved, no
 * symlinks), as `mount -o` options.
 */
export function lockedFlags(path: string, mountinfo?: string): string[] {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/mountinfo");
    } catch {
      return [];
    }
  }
  let best: { point: string; options: string[] } | undefined;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 6) continue;
    const point = unescape(fields[4]);
    const inside = point === "/" || path === point || path.startsWith(point + "/");
    // The last mount on the longest matching point is the one on top.
    if (inside && (!best || point.length >= best.point.length)) {
      best = { point, options: fields[5].split(",") };
    }
  }
  return (best?.options ?? []).filter((o) => LOCKABLE.has(o));
}
