/**
 * The OCI executor: runs a RUN step with crun or runc in a bundle under
 * `<stateDir>/executor/`, from inside img's user namespace (or as real root).
 *
 * @module
 */
import type { Executor, ExecutorMount, ExecutorStdio, Mount, ProcessSpec } from "@img/core";
import {
  exitCode,
  findStubs,
  hostsContent,
  makeWorkdir,
  mountAll,
  openStepNetwork,
  pathExists,
  processStart,
  pump,
  randomStepId,
  readOomScoreAdj,
  removeQuietly,
  removeStubs,
  type StepNetwork,
  stepUlimits,
  type Stub,
  unmountAll,
} from "@img/core/exec";
import { inOwnPidNamespace } from "@img/core/rootless";
import { ensureAdditionalGids, resolveUser } from "@img/core/sys";
import {
  findRuntime,
  flavorOf,
  isExecutable,
  type OciRuntime,
  RUNTIME_ENV,
  runtimeCommand,
} from "./runtime.ts";
import { DEFAULT_HOSTNAME, generateSpec, type OciMount, specJSON, toOciMounts } from "./spec.ts";

/** Options of {@linkcode OciExecutor}. */
export interface OciExecutorOptions {
  /** img's state directory: bundles and runtime state go under `<stateDir>/executor/`. */
  stateDir: string;
  /** `crun`, `runc` or the path of a runtime; default `$IMG_RUNTIME`, else crun, else runc. */
  runtime?: string;
  /** The environment to find the runtime in (`PATH`, `IMG_RUNTIME`); default this process's. */
  env?: Record<string, string>;
  /** The containers' hostname (default `buildkitsandbox`, as BuildKit). */
  hostname?: string;
  /** Receives debug lines (`--debug`). */
  debug?: (message: string) => void;
}

/**
 * What a bundle's `owner.json` records: the img process that runs the container. That
 * process holds an exclusive lock on the file while the container runs, so the lock tells
 * a live owner from a dead one whatever PID namespace either runs in.
 */
interface Owner {
  pid: number;
  start: string;
  runtime: string;
}

/** Whether a live process holds the lock on an `owner.json`. */
async function ownerAlive(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return false;
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}

/** How long to keep asking the runtime to kill an aborted container before killing it. */
const KILL_TIMEOUT_MS = 7000;

/** The real uid and gid of process `pid`, as this user namespace sees them. */
function processIds(pid: number): { uid: number; gid: number } | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) =>
      Number(status.split("\n").find((l) => l.startsWith(`${name}:`))?.split(/\s+/)[1]);
    const uid = field("Uid");
    const gid = field("Gid");
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs RUN steps through an OCI runtime (crun or runc). */
export class OciExecutor implements Executor {
  /** `<stateDir>/executor`. */
  readonly dir: string;
  readonly #options: OciExecutorOptions;
  #runtime?: OciRuntime;
  #cleaned?: Promise<void>;

  /** Creates the executor; the runtime is looked up on first use. */
  constructor(options: OciExecutorOptions) {
    this.#options = options;
    this.dir = `${options.stateDir.replace(/\/+$/, "")}/executor`;
  }

  /** The runtime in use (throws an ImgError naming the packages when none is installed). */
  get runtime(): OciRuntime {
    if (!this.#runtime) {
      const env = this.#options.env ?? Deno.env.toObject();
      this.#runtime = findRuntime(this.#options.runtime ?? env[RUNTIME_ENV], env.PATH);
      this.#debug(`executor: using ${this.#runtime.name} (${this.#runtime.path})`);
    }
    return this.#runtime;
  }

  /** The runtime's state directory (`--root`). */
  get stateRoot(): string {
    return this.#stateRootOf(this.runtime);
  }

  #stateRootOf(runtime: OciRuntime): string {
    return `${this.dir}/runtime/${runtime.flavor}`;
  }

  /** The directory holding the bundles of running steps. */
  get bundlesDir(): string {
    return `${this.dir}/bundles`;
  }

  #debug(message: string): void {
    this.#options.debug?.(message);
  }

  /** Runs `process` in `rootfs` with `mounts`; resolves to its exit code (128+n if killed by signal n). */
  async run(
    rootfs: Mount[],
    process: ProcessSpec,
    mounts: ExecutorMount[],
    stdio: ExecutorStdio,
    signal?: AbortSignal,
  ): Promise<number> {
    signal?.throwIfAborted();
    const runtime = this.runtime;
    this.#cleaned ??= this.cleanupStale().then(() => {}, (e) => {
      this.#debug(`executor: cleaning up stale containers failed: ${(e as Error).message}`);
    });
    await this.#cleaned;

    const id = randomStepId();
    const bundle = `${this.bundlesDir}/${id}`;
    await Deno.mkdir(this.stateRoot, { recursive: true, mode: 0o711 });
    await Deno.mkdir(bundle, { recursive: true, mode: 0o711 });
    const owner: Owner = {
      pid: Deno.pid,
      start: processStart(Deno.pid) ?? "",
      runtime: runtime.path,
    };
    // Locked until the container is deleted; the kernel drops the lock if img dies.
    const ownerFile = await Deno.open(`${bundle}/owner.json`, { write: true, createNew: true });
    await ownerFile.lock(true);
    await ownerFile.write(new TextEncoder().encode(JSON.stringify(owner)));

    let mountedRoot: string | undefined;
    let stubs: Stub[] = [];
    let network: StepNetwork | undefined;
    try {
      // The root filesystem: a plain bind mount is handed to the runtime as it is.
      let rootPath: string;
      let rootReadonly = false;
      if (rootfs.length === 1 && rootfs[0].type === "bind") {
        rootPath = rootfs[0].source;
        rootReadonly = rootfs[0].options.includes("ro");
      } else {
        rootPath = `${bundle}/rootfs`;
        await Deno.mkdir(rootPath, { mode: 0o700 });
        mountAll(rootfs, rootPath);
        mountedRoot = rootPath;
      }

      let { uid, gid } = process;
      let additionalGids = ensureAdditionalGids(gid, process.additionalGids);
      if (process.user !== undefined) {
        ({ uid, gid, additionalGids } = await resolveUser(rootPath, process.user));
      }

      network = await openStepNetwork(process.network, {
        env: this.#options.env,
        debug: (m) => this.#debug(`executor: ${m}`),
      });
      const hostname = this.#options.hostname ?? DEFAULT_HOSTNAME;
      const hostsFile = `${bundle}/hosts`;
      await Deno.writeTextFile(
        hostsFile,
        hostsContent(hostname, process.extraHosts, network.hostGateway),
      );
      let resolvConf: string | undefined = `${bundle}/resolv.conf`;
      try {
        if (network.resolvConf !== undefined) {
          await Deno.writeTextFile(resolvConf, network.resolvConf);
        } else await Deno.copyFile("/etc/resolv.conf", resolvConf);
      } catch {
        resolvConf = undefined;
      }

      const extra: OciMount[] = mounts.flatMap((m) => toOciMounts(m.target, m.mounts, m.readonly));
      const spec = generateSpec({
        rootPath,
        rootReadonly,
        args: process.args,
        env: process.env,
        cwd: process.cwd || "/",
        uid,
        gid,
        additionalGids,
        network: network.kind,
        netnsPath: network.path,
        insecure: process.security === "insecure",
        shmSize: process.shmSize,
        ulimits: stepUlimits(process.ulimits),
        tty: process.tty,
        hostname,
        resolvConf,
        hostsFile,
        oomScoreAdj: readOomScoreAdj(),
        mounts: extra,
      });

      if (!rootReadonly) {
        stubs = findStubs(rootPath, spec.mounts.map((m) => m.destination));
        await makeWorkdir(rootPath, spec.process.cwd, uid, gid);
      }
      await Deno.writeTextFile(`${bundle}/config.json`, specJSON(spec));
      this.#debug(`executor: ${runtime.name} run ${id}: ${process.args.join(" ")}`);
      return await this.#runContainer(id, bundle, stdio, signal);
    } finally {
      if (pathExists(`${this.stateRoot}/${id}`)) await this.#delete(runtime, id);
      // Stubs are removed before the root filesystem is unmounted: in an overlay they live
      // in the mounted tree, not in the directory under it.
      removeStubs(stubs);
      if (mountedRoot) unmountAll(mountedRoot);
      await network?.close();
      this.#removeBundle(bundle);
      ownerFile.close();
    }
  }

  async #runContainer(
    id: string,
    bundle: string,
    stdio: ExecutorStdio,
    signal?: AbortSignal,
  ): Promise<number> {
    const { command, args } = runtimeCommand(this.runtime, this.stateRoot, [
      "run",
      "--bundle",
      bundle,
      id,
    ]);
    const child = new Deno.Command(command, {
      args,
      stdin: stdio.stdin ? "piped" : "null",
      stdout: stdio.stdout ? "piped" : "null",
      stderr: stdio.stderr ? "piped" : "null",
    }).spawn();

    const pumps: Promise<void>[] = [];
    if (stdio.stdout) pumps.push(pump(child.stdout, stdio.stdout));
    if (stdio.stderr) pumps.push(pump(child.stderr, stdio.stderr));
    const stdinDone = new AbortController();
    if (stdio.stdin) {
      stdio.stdin.pipeTo(child.stdin, { signal: stdinDone.signal }).catch(() => {
        // the process exited without reading all of its input
      });
    }

    let exited = false;
    let aborted = false;
    const onAbort = async () => {
      aborted = true;
      const started = Date.now();
      while (!exited) {
        await this.#runtimeOutput(["kill", id, "KILL"]);
        await new Promise((r) => setTimeout(r, 50));
        if (!exited && Date.now() - started > KILL_TIMEOUT_MS) {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
          break;
        }
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      exited = true;
      stdinDone.abort();
      signal?.removeEventListener("abort", onAbort);
    }
    await Promise.all(pumps);
    if (aborted || signal?.aborted) {
      throw signal?.reason ?? new DOMException("The step was aborted", "AbortError");
    }
    return exitCode(status);
  }

  async #runtimeOutput(args: string[], runtime = this.runtime): Promise<Deno.CommandOutput> {
    const { command, args: full } = runtimeCommand(runtime, this.#stateRootOf(runtime), args);
    return await new Deno.Command(command, { args: full, stdout: "piped", stderr: "piped" })
      .output();
  }

  async #delete(runtime: OciRuntime, id: string): Promise<void> {
    const out = await this.#runtimeOutput(["delete", "--force", id], runtime);
    if (!out.success) {
      this.#debug(
        `executor: ${runtime.name} delete --force ${id}: ${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
  }

  /**
   * Kills the init process of a container that another img process started. That process
   * ran in its own user namespace, a sibling of ours, so the runtime (root here, but not
   * there) may not signal a step that runs as a non-root user: a process with the same
   * (subordinate) uid may, so the kill runs as that uid, through `setpriv`. Killing a pid
   * namespace's init kills every process in it.
   */
  async #killStale(runtime: OciRuntime, id: string): Promise<void> {
    const pid = await this.#containerPid(runtime, id);
    if (pid <= 0 || processStart(pid) === undefined) return;
    try {
      Deno.kill(pid, "SIGKILL");
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.PermissionDenied)) return;
    }
    const ids = processIds(pid);
    if (!ids) return;
    const killed = await new Deno.Command("setpriv", {
      args: [
        `--reuid=${ids.uid}`,
        `--regid=${ids.gid}`,
        "--clear-groups",
        "--",
        "/bin/sh",
        "-c",
        'kill -KILL "$0"',
        String(pid),
      ],
      stdout: "null",
      stderr: "piped",
    }).output().catch((e) => e as Error);
    if (killed instanceof Error || !killed.success) {
      const why = killed instanceof Error
        ? killed.message
        : new TextDecoder().decode(killed.stderr).trim();
      this.#debug(`executor: cannot kill process ${pid} of container ${id}: ${why}`);
    }
  }

  /**
   * The host pid of a container's init process, from the runtime's state files (runc's
   * `state.json`, crun's `status`): `crun state` itself fails when it may not signal it.
   */
  async #containerPid(runtime: OciRuntime, id: string): Promise<number> {
    const dir = `${this.#stateRootOf(runtime)}/${id}`;
    for (const [file, key] of [["state.json", "init_process_pid"], ["status", "pid"]]) {
      try {
        const pid = Number(JSON.parse(await Deno.readTextFile(`${dir}/${file}`))[key]);
        if (pid > 0) return pid;
      } catch {
        // not this runtime's file
      }
    }
    const out = await this.#runtimeOutput(["state", id], runtime);
    try {
      return Number(JSON.parse(new TextDecoder().decode(out.stdout)).pid) || 0;
    } catch {
      return 0;
    }
  }

  /** Removes a bundle without ever recursing into a root filesystem that is still mounted. */
  #removeBundle(bundle: string): boolean {
    for (const f of ["config.json", "hosts", "resolv.conf", "owner.json"]) {
      removeQuietly(`${bundle}/${f}`);
    }
    if (!removeQuietly(`${bundle}/rootfs`) || !removeQuietly(bundle)) {
      this.#debug(`executor: cannot remove ${bundle}: it is not empty`);
      return false;
    }
    return true;
  }

  /**
   * Deletes the containers and bundles that img processes which no longer run left behind
   * (a killed img), in this state directory. Returns how many it cleaned up.
   */
  async cleanupStale(): Promise<number> {
    const runtime = this.runtime;
    let cleaned = 0;
    const bundles = new Set<string>();
    try {
      for await (const entry of Deno.readDir(this.bundlesDir)) bundles.add(entry.name);
    } catch {
      // no bundles yet
    }
    for (const id of bundles) {
      const bundle = `${this.bundlesDir}/${id}`;
      let owner: Owner | undefined;
      try {
        owner = JSON.parse(await Deno.readTextFile(`${bundle}/owner.json`));
      } catch {
        // A bundle being created right now has no owner file for a moment: leave it,
        // unless it has been like that for a minute.
        const mtime = (await Deno.lstat(bundle).catch(() => undefined))?.mtime;
        if (!mtime || Date.now() - mtime.getTime() < 60_000) continue;
      }
      if (await ownerAlive(`${bundle}/owner.json`)) continue;
      // In img's own PID namespace, the owner's pids name nothing here (its namespace, and
      // every container in it, died with it); elsewhere (real root, or an unshare without
      // --kill-child) they are the host's, as are those of owners from before the lock.
      const here = !inOwnPidNamespace();
      if (owner && here && processStart(owner.pid) === owner.start) continue;
      this.#debug(`executor: cleaning up ${id}, left by img process ${owner?.pid}`);
      // The container may belong to the other runtime (IMG_RUNTIME changed since).
      const its = owner?.runtime && owner.runtime !== runtime.path && isExecutable(owner.runtime)
        ? { name: owner.runtime, path: owner.runtime, flavor: flavorOf(owner.runtime) }
        : runtime;
      if (pathExists(`${this.#stateRootOf(its)}/${id}`)) {
        // A dead owner's PID namespace died with it, and every container in it: its pids
        // name nothing (or someone else) here.
        if (here) await this.#killStale(its, id);
        await this.#delete(its, id);
        // Keep the bundle of a container that could not be deleted: the next run retries.
        if (pathExists(`${this.#stateRootOf(its)}/${id}`)) continue;
      }
      if (pathExists(`${bundle}/rootfs`)) unmountAll(`${bundle}/rootfs`);
      if (this.#removeBundle(bundle)) cleaned++;
    }
    try {
      for await (const entry of Deno.readDir(this.stateRoot)) {
        if (!entry.isDirectory || bundles.has(entry.name)) continue;
        // Started after the bundles were listed: not stale.
        if (pathExists(`${this.bundlesDir}/${entry.name}`)) continue;
        this.#debug(`executor: deleting container ${entry.name}, which has no bundle`);
        // In img's own PID namespace, a container this process did not start ran in another
        // one, which its pids do not name.
        if (!inOwnPidNamespace()) await this.#killStale(runtime, entry.name);
        await this.#delete(runtime, entry.name);
        cleaned++;
      }
    } catch {
      // no runtime state yet
    }
    return cleaned;
  }
}
