/**
 * The mounts of a RUN step (`RUN --mount=...`), made ready for the executor as BuildKit's
 * mount manager makes them: bind mounts of the context, a stage or an image (`source=`
 * inside it; `rw` on a throwaway copy whose writes are discarded), cache directories with
 * their sharing lock, tmpfs, secrets as read-only files in a private tmpfs (and/or
 * environment variables), and SSH agent sockets.
 *
 * @module
 */
import type { ExecMount } from "../build_graph.ts";
import { sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import type { ExecutorMount } from "../executor.ts";
import { copyTree } from "../fs/copy_tree.ts";
import type { Lease } from "../gc/leases.ts";
import * as libc from "../libc.ts";
import { mountTemporarily } from "../mounts.ts";
import { rootPath } from "../root_path.ts";
import type { Snapshotter } from "../snapshotter.ts";
import { acquireCacheMount } from "./cache_mount.ts";
import { applyFileActions } from "./file_actions.ts";
import type { SecretStore } from "./secrets.ts";
import { relayAgent, type SshAgents } from "./ssh.ts";

/** An exec op's input as the solver has it. */
export type MountInput =
  | { kind: "snapshot"; snapshot: string }
  | { kind: "local"; dir: string; excludes: string[] }
  | { kind: "scratch" };

/** What {@linkcode prepareRunMounts} needs. */
export interface RunMountDeps {
  /** Where snapshots live. */
  snapshotter: Snapshotter;
  /** Where cache mounts keep their contents. */
  cacheMountsDir: string;
  /** The build's lease. */
  lease?: Lease;
  /** Whether files may be owned by other users. */
  sameOwner: boolean;
  /** The build's secrets. */
  secrets?: SecretStore;
  /** The build's SSH agents. */
  ssh?: SshAgents;
}

/** A step's mounts, the environment its secrets add, and how to undo it all. */
export interface PreparedRunMounts {
  /** The mounts to give the executor. */
  mounts: ExecutorMount[];
  /** `KEY=value` entries to add to the step's environment (secrets with `env=`). */
  env: string[];
  /** Unmounts, unlocks and removes what was made; call it once the step is over. */
  cleanup(): Promise<void>;
}

const ROOT_PRIVATE = 0o700;

/**
 * Prepares `mounts` of a step whose inputs are `inputs`; `seedKeys[i]` is the cache key of
 * input i (so that a cache mount seeded `from=` a stage is its own cache).
 */
export async function prepareRunMounts(
  deps: RunMountDeps,
  mounts: readonly ExecMount[],
  inputs: readonly MountInput[],
  seedKeys: readonly string[],
): Promise<PreparedRunMounts> {
  const out: ExecutorMount[] = [];
  const env: string[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // best effort
      }
    }
  };
  let scratch: string | undefined;
  /** A private directory for this step's secrets and sockets (a tmpfs when possible). */
  const scratchDir = async () => {
    if (scratch) return scratch;
    const dir = await Deno.makeTempDir({ prefix: "img-run-" });
    await Deno.chmod(dir, ROOT_PRIVATE);
    cleanups.push(() => Deno.remove(dir, { recursive: true }));
    try {
      libc.mount("tmpfs", dir, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "mode=0700,size=8m");
      cleanups.push(() => libc.umount2(dir, libc.MNT_DETACH));
    } catch {
      // not root of a user namespace: a 0700 directory
    }
    scratch = dir;
    return dir;
  };
  let sshCount = 0;
  try {
    for (const m of mounts) {
      if (m.type === "cache") {
        const input = m.input === undefined ? undefined : inputs[m.input];
        const seedKey = m.input === undefined ? "" : `${seedKeys[m.input]}:${m.source ?? ""}`;
        const name = sha256(seedKey ? `${m.id}\0${seedKey}` : m.id).slice(7, 39);
        let seed: string | undefined;
        if (input) {
          const dir = await inputDir(deps, input, false, cleanups);
          seed = dir ? resolveSource(dir, m.source, m.target) : undefined;
        }
        const handle = await acquireCacheMount(deps.cacheMountsDir, {
          name,
          sharing: m.sharing,
          seed,
          mode: m.mode,
          uid: m.uid,
          gid: m.gid,
          sameOwner: deps.sameOwner,
        });
        cleanups.push(() => handle.release());
        deps.lease?.add("cachemount", handle.name);
        out.push({
          target: m.target,
          mounts: [{
            type: "bind",
            source: handle.dir,
            options: ["rbind", m.readonly ? "ro" : "rw"],
          }],
          readonly: m.readonly ?? false,
        });
      } else if (m.type === "tmpfs") {
        out.push({
          target: m.target,
          mounts: [{ type: "tmpfs", source: "tmpfs", options: m.size ? [`size=${m.size}`] : [] }],
        });
      } else if (m.type === "bind") {
        const input = m.input === undefined ? undefined : inputs[m.input];
        if (!input) throw new ImgError(`The bind mount on ${m.target} has no input`);
        const readonly = m.readonly ?? true;
        let source: string;
        if (input.kind === "local" && (!readonly || input.excludes.length)) {
          // A writable mount of a local input, or one with a .dockerignore (BuildKit never
          // transfers what it hides): a copy of the source, discarded afterwards.
          const from = resolveSource(input.dir, m.source, m.target);
          const dir = (await inputDir(deps, { kind: "scratch" }, true, cleanups))!;
          if (Deno.statSync(from).isDirectory && input.excludes.length) {
            await applyFileActions([{
              action: "copy",
              input: 0,
              src: [m.source || "."],
              dest: "/",
              options: { createDestPath: true },
            }], {
              dest: dir,
              inputs: [input.dir],
              sameOwner: false,
              inputIgnores: [input.excludes],
            });
            source = dir;
          } else if (Deno.statSync(from).isDirectory) {
            await copyTree(from, dir, { sameOwner: false });
            source = dir;
          } else {
            source = `${dir}/${from.slice(from.lastIndexOf("/") + 1)}`;
            await Deno.copyFile(from, source);
          }
        } else {
          const dir = await inputDir(deps, input, !readonly, cleanups);
          source = resolveSource(dir!, m.source, m.target);
        }
        out.push({
          target: m.target,
          mounts: [{ type: "bind", source, options: ["rbind", readonly ? "ro" : "rw"] }],
          readonly,
        });
      } else if (m.type === "secret") {
        const data = await deps.secrets?.get(m.id);
        if (data === undefined) {
          if (m.required) {
            throw new ImgError(
              `Secret ${m.id} not found: pass it with --secret id=${m.id},src=FILE or env=VAR`,
            );
          }
          continue;
        }
        if (m.env) env.push(`${m.env}=${new TextDecoder().decode(data)}`);
        if (m.target) {
          const dir = await scratchDir();
          const file = `${dir}/secret-${out.length}`;
          await Deno.writeFile(file, data, { mode: 0o600 });
          await chownQuietly(file, m.uid ?? 0, m.gid ?? 0);
          await Deno.chmod(file, m.mode ?? 0o400);
          out.push({
            target: m.target,
            mounts: [{ type: "bind", source: file, options: ["rbind", "ro"] }],
            readonly: true,
          });
        }
      } else if (m.type === "ssh") {
        const agent = await deps.ssh?.socket(m.id);
        if (agent === undefined) {
          if (m.required) {
            throw new ImgError(
              `No SSH agent "${m.id}" forwarded: pass --ssh ${m.id}=SOCKET|KEY (or --ssh default)`,
            );
          }
          continue;
        }
        const dir = await scratchDir();
        const path = `${dir}/ssh-${sshCount++}.sock`;
        const relay = relayAgent(agent, path, {
          mode: m.mode ?? 0o600,
          uid: m.uid ?? 0,
          gid: m.gid ?? 0,
        });
        cleanups.push(() => relay.close());
        out.push({
          target: m.target,
          mounts: [{ type: "bind", source: path, options: ["rbind", "rw"] }],
        });
      } else {
        throw new ImgError(`RUN --mount=type=${(m as ExecMount).type} is not supported`);
      }
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { mounts: out, env, cleanup };
}

/**
 * A directory with `input`'s files, valid until the cleanups run: the context itself, or a
 * snapshot's read-only view; `writable` gives a throwaway copy (a snapshot prepared on top
 * of it) whose writes are discarded. Undefined for scratch when not writable.
 */
async function inputDir(
  deps: RunMountDeps,
  input: MountInput,
  writable: boolean,
  cleanups: (() => Promise<void> | void)[],
): Promise<string | undefined> {
  if (input.kind === "local" && !writable) return input.dir;
  const sn = deps.snapshotter;
  const key = `${writable ? "active" : "view"}-${crypto.randomUUID()}`;
  const parent = input.kind === "snapshot" ? input.snapshot : undefined;
  deps.lease?.add("snapshot", key);
  let snapshotMounts;
  if (!writable) {
    if (!parent) {
      const empty = await Deno.makeTempDir({ prefix: "img-empty-" });
      cleanups.push(() => Deno.remove(empty));
      return empty;
    }
    snapshotMounts = await sn.view(key, parent);
  } else {
    snapshotMounts = await sn.prepare(key, parent, { "img.description": "rw bind mount" });
  }
  cleanups.push(() => sn.remove(key));
  // Mounted here, so that the runtime gets a bind mount, whatever the snapshotter (an
  // overlay of many layers has options longer than a runtime can pass on).
  const mounted = await mountTemporarily(snapshotMounts);
  cleanups.push(() => mounted.unmount());
  if (input.kind === "local") await copyTree(input.dir, mounted.dir, { sameOwner: false });
  return mounted.dir;
}

/** The host path of `source` inside `dir`, which must exist. */
function resolveSource(dir: string, source: string | undefined, target: string): string {
  if (!source) return dir;
  const path = rootPath(dir, source);
  try {
    Deno.statSync(path);
  } catch {
    throw new ImgError(
      `The mount on ${target} has no source ${source}: check the path in its from= stage or context`,
    );
  }
  return path;
}

async function chownQuietly(path: string, uid: number, gid: number): Promise<void> {
  try {
    await Deno.chown(path, uid, gid);
  } catch {
    // an id outside the user namespace
  }
}
