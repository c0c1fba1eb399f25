/**
 * The fuse-overlayfs snapshotter: the overlayfs layout (upper directories stacked on their
 * ancestors', 0:0 character-device whiteouts, opaque directories), mounted by the
 * `fuse-overlayfs` program, for hosts where kernel overlayfs is not allowed unprivileged.
 *
 * A FUSE mount needs its daemon running, so this snapshotter mounts by itself: `prepare`
 * and `view` run `fuse-overlayfs` on the snapshot's `merged` directory and return a bind
 * mount of it, which every consumer uses in place; `commit` and `remove` unmount it
 * (umount2 inside the namespace, `fusermount3 -u` if that is refused), and the daemon exits.
 * The mount lives in this process's mount namespace: a killed process takes it along, and
 * `mounts` of an active snapshot mounts it again where it is missing.
 *
 * @module
 */
import { ImgError, type Mount, removeTree } from "@img/core";
import {
  type OverlayDirs,
  type OverlayLayoutOptions,
  OverlayLayoutSnapshotter,
  type SnapshotRecord,
} from "@img/core/snapshot";
import { libc } from "@img/core/sys";

/** Options of {@linkcode FuseOverlayfsSnapshotter}. */
export interface FuseOverlayfsSnapshotterOptions extends OverlayLayoutOptions {
  /** The program; default `fuse-overlayfs` from `PATH`. */
  program?: string;
}

/** fuse-overlayfs' own options: any user of the namespace may read the tree (RUN as USER). */
const FUSE_OPTIONS = ["allow_other"];

/** Escapes a directory for fuse-overlayfs' option list (`,` and `:` are separators). */
function escapeFusePath(path: string): string {
  if (/[,:\\]/.test(path)) {
    throw new ImgError(
      `fuse-overlayfs cannot use the directory ${path} (it contains ',', ':' or '\\'); use a --state directory without them`,
    );
  }
  return path;
}

/** fuse-overlayfs snapshots rooted at a directory. */
export class FuseOverlayfsSnapshotter extends OverlayLayoutSnapshotter {
  /** Always `fuse-overlayfs`. */
  readonly name = "fuse-overlayfs";
  readonly #program: string;
  /** The mountpoints this process mounted, by snapshot number. */
  readonly #mounted = new Map<number, string>();

  /** Opens the snapshotter at `root` (see {@linkcode OverlayLayoutSnapshotter}). */
  constructor(root: string, options: FuseOverlayfsSnapshotterOptions = {}) {
    super(root, options);
    this.#program = options.program ?? "fuse-overlayfs";
  }

  /** Mounts fuse-overlayfs on the snapshot's `merged` directory and returns its bind mount. */
  protected async overlayMounts(dirs: OverlayDirs): Promise<Mount[]> {
    const id = dirs.snapshot.id;
    const rw = dirs.upper !== undefined;
    if (!this.#mounted.has(id) || !isMountpoint(dirs.mountpoint)) {
      const options = [
        ...FUSE_OPTIONS,
        `lowerdir=${dirs.lowers.map(escapeFusePath).join(":")}`,
      ];
      if (dirs.upper && dirs.work) {
        options.push(
          `upperdir=${escapeFusePath(dirs.upper)}`,
          `workdir=${escapeFusePath(dirs.work)}`,
        );
      }
      await mountFuseOverlayfs(this.#program, options, dirs.mountpoint);
      this.#mounted.set(id, dirs.mountpoint);
      this.debug(`fuse-overlayfs: mounted snapshot ${dirs.snapshot.key} on ${dirs.mountpoint}`);
    }
    return [{ type: "bind", source: dirs.mountpoint, options: ["rbind", rw ? "rw" : "ro"] }];
  }

  /** Unmounts the snapshot's fuse-overlayfs, if it is mounted here. */
  protected async release(snapshot: SnapshotRecord): Promise<void> {
    const mountpoint = this.#mounted.get(snapshot.id) ??
      `${this.root}/snapshots/${snapshot.id}/merged`;
    this.#mounted.delete(snapshot.id);
    if (!isMountpoint(mountpoint)) return;
    await unmountFuse(mountpoint);
    this.debug(`fuse-overlayfs: unmounted snapshot ${snapshot.key}`);
  }

  /** Unmounts every fuse-overlayfs this process mounted and closes the metadata. */
  override close(): void {
    for (const mountpoint of this.#mounted.values()) {
      try {
        libc.umount2(mountpoint, libc.MNT_DETACH);
      } catch { /* already gone */ }
    }
    this.#mounted.clear();
    super.close();
  }
}

/** Whether `path` is a mount point in this mount namespace. */
function isMountpoint(path: string): boolean {
  let info: string;
  try {
    info = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return false;
  }
  for (const line of info.split("\n")) {
    const target = line.split(" ")[4];
    if (target !== undefined && unescapeMountinfo(target) === path) return true;
  }
  return false;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Runs fuse-overlayfs, which daemonizes once the mount is there. */
export async function mountFuseOverlayfs(
  program: string,
  options: string[],
  mountpoint: string,
): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args: ["-o", options.join(","), mountpoint],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ImgError(
        `${program} is not installed; install the fuse-overlayfs package or use another --backend`,
      );
    }
    throw e;
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("unknown argument ignored")).join("; ");
    throw new ImgError(
      `fuse-overlayfs could not mount ${mountpoint}: ${
        msg || `exit code ${out.code}`
      }; check that /dev/fuse is readable and writable by you`,
    );
  }
}

/** Unmounts a FUSE mount: umount2 inside the namespace, else `fusermount3 -u`. */
export async function unmountFuse(mountpoint: string): Promise<void> {
  try {
    libc.umount2(mountpoint, 0);
    return;
  } catch (e) {
    if (libc.isErrno(e, "EINVAL", "ENOENT")) return; // not mounted
    if (libc.isErrno(e, "EBUSY")) {
      libc.umount2(mountpoint, libc.MNT_DETACH);
      return;
    }
    if (!libc.isErrno(e, "EPERM")) throw e;
  }
  const out = await new Deno.Command("fusermount3", {
    args: ["-u", mountpoint],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new ImgError(
      `Cannot unmount ${mountpoint}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/**
 * Checks that fuse-overlayfs works here: it is installed, `/dev/fuse` opens, and a probe
 * mount in a scratch directory under `root` turns a deleted lower file into a whiteout.
 * Resolves to `undefined` when it does, else to the reason.
 */
export async function probeFuseOverlayfs(
  root: string,
  program = "fuse-overlayfs",
): Promise<string | undefined> {
  try {
    const f = await Deno.open("/dev/fuse", { read: true, write: true });
    f.close();
  } catch (e) {
    return `cannot open /dev/fuse (${(e as Error).message})`;
  }
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: root, prefix: "probe-" });
  const merged = `${dir}/merged`;
  let mounted = false;
  try {
    for (const d of ["lower", "upper", "work", "merged"]) await Deno.mkdir(`${dir}/${d}`);
    await Deno.writeTextFile(`${dir}/lower/file`, "x");
    try {
      await mountFuseOverlayfs(program, [
        `lowerdir=${escapeFusePath(`${dir}/lower`)}`,
        `upperdir=${escapeFusePath(`${dir}/upper`)}`,
        `workdir=${escapeFusePath(`${dir}/work`)}`,
      ], merged);
      mounted = true;
    } catch (e) {
      return (e as Error).message;
    }
    await Deno.remove(`${merged}/file`);
    const names: string[] = [];
    for await (const e of Deno.readDir(`${dir}/upper`)) names.push(e.name);
    if (!names.includes("file") && !names.includes(".wh.file")) {
      return "fuse-overlayfs did not record a deleted file as a whiteout";
    }
    return undefined;
  } catch (e) {
    return `fuse-overlayfs does not work on ${root}: ${(e as Error).message}`;
  } finally {
    if (mounted) await unmountFuse(merged).catch(() => {});
    await removeTree(dir).catch(() => {});
  }
}
