/**
 * The chroot executor: runs a RUN step without an OCI runtime, in new mount, PID, UTS and
 * IPC namespaces made by util-linux `unshare`, from inside img's user namespace (or as real
 * root), with the mounts an OCI runtime gives it.
 *
 * @module
 */
import {
  type Executor,
  type ExecutorMount,
  type ExecutorStdio,
  ImgError,
  type Mount,
  type ProcessSpec,
} from "@img/core";
import {
  DEFAULT_HOSTNAME,
  exitCode,
  findStubs,
  hostsContent,
  lookPath,
  makeWorkdir,
  mountAll,
  openStepNetwork,
  processStart,
  pump,
  randomStepId,
  removeQuietly,
  removeStubs,
  stepMounts,
  type StepNetwork,
  stepNofile,
  type Stub,
  toStepMounts,
  unmountAll,
} from "@img/core/exec";
import { ensureAdditionalGids, libc, resolveUser, rootPath as resolveInRoot } from "@img/core/sys";
import { lockedFlags } from "./_mountinfo.ts";
import { commandLine, type PlannedMount, type Tools } from "./_setup_script.ts";

/** Options of {@linkcode ChrootExecutor}. */
export interface ChrootExecutorOptions {
  /** img's state directory: step directories go under `<stateDir>/executor-chroot/`. */
  stateDir: string;
  /** The environment to find the tools in (`PATH`); default this process's. */
  env?: Record<string, string>;
  /** The steps' hostname (default `buildkitsandbox`, as BuildKit). */
  hostname?: string;
  /** Receives debug lines (`--debug`). */
  debug?: (message: string) => void;
}

/** Mount types the setup shell mounts itself; others are mounted by img and bound there. */
const DIRECT_TYPES = new Set(["bind", "proc", "tmpfs", "devpts", "mqueue", "sysfs"]);

/** What a step directory's `owner.json` records: the img process running the step. */
interface Owner {
  pid: number;
  start: string;
}

/** Whether a bind source needs a file as its target: anything but a directory (a socket too). */
function isFile(path: string): boolean {
  try {
    return !Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Runs RUN steps with util-linux `unshare` and `setpriv`: no OCI runtime needed. */
export class ChrootExecutor implements Executor {
  /** `<stateDir>/executor-chroot`: a directory per running step. */
  readonly dir: string;
  readonly #options: ChrootExecutorOptions;
  #tools?: Tools;
  #cleaned = false;

  /** Creates the executor; the tools are looked up on first use. */
  constructor(options: ChrootExecutorOptions) {
    this.#options = options;
    this.dir = `${options.stateDir.replace(/\/+$/, "")}/executor-chroot`;
  }

  /** The host programs it runs (throws an ImgError naming the packages when one is missing). */
  get tools(): Tools {
    if (!this.#tools) {
      const path = (this.#options.env ?? Deno.env.toObject()).PATH;
      const need = (name: string, pkg: string) => {
        const found = lookPath(name, path);
        if (!found) {
          throw new ImgError(
            `The chroot executor needs ${name} in PATH: install ${pkg} (apt-get install ${pkg})`,
          );
        }
        return found;
      };
      this.#tools = {
        unshare: need("unshare", "util-linux"),
        setpriv: need("setpriv", "util-linux"),
        mount: need("mount", "mount"),
        sh: need("sh", "dash"),
        mkdir: need("mkdir", "coreutils"),
        env: need("env", "coreutils"),
        hostname: need("hostname", "hostname"),
        ip: lookPath("ip", path),
        nsenter: lookPath("nsenter", path),
        prlimit: lookPath("prlimit", path),
      };
      this.#debug(`executor: chroot with ${this.#tools.unshare} and ${this.#tools.setpriv}`);
    }
    return this.#tools;
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
    if (process.tty) {
      throw new ImgError("The chroot executor cannot allocate a terminal: use --executor oci");
    }
    const tools = this.tools;
    if (!this.#cleaned) {
      this.#cleaned = true;
      this.cleanupStale();
    }

    const id = randomStepId();
    const stepDir = `${this.dir}/${id}`;
    await Deno.mkdir(stepDir, { recursive: true, mode: 0o711 });
    const owner: Owner = { pid: Deno.pid, start: processStart(Deno.pid) ?? "" };
    await Deno.writeTextFile(`${stepDir}/owner.json`, JSON.stringify(owner));

    const mounted: string[] = [];
    let stubs: Stub[] = [];
    let network: StepNetwork | undefined;
    try {
      let root: string;
      let rootReadonly = false;
      if (rootfs.length === 1 && rootfs[0].type === "bind") {
        root = rootfs[0].source;
        rootReadonly = rootfs[0].options.includes("ro");
      } else {
        root = `${stepDir}/rootfs`;
        await Deno.mkdir(root, { mode: 0o700 });
        mountAll(rootfs, root);
        mounted.push(root);
      }
      root = Deno.realPathSync(root);

      let { uid, gid } = process;
      let groups = ensureAdditionalGids(gid, process.additionalGids);
      if (process.user !== undefined) {
        ({ uid, gid, additionalGids: groups } = await resolveUser(root, process.user));
      }

      network = await openStepNetwork(process.network, {
        env: this.#options.env,
        debug: (m) => this.#debug(`executor: ${m}`),
      });
      const hostname = this.#options.hostname ?? DEFAULT_HOSTNAME;
      const hostsFile = `${stepDir}/hosts`;
      await Deno.writeTextFile(
        hostsFile,
        hostsContent(hostname, process.extraHosts, network.hostGateway),
      );
      let resolvConf: string | undefined = `${stepDir}/resolv.conf`;
      try {
        if (network.resolvConf !== undefined) {
          await Deno.writeTextFile(resolvConf, network.resolvConf);
        } else await Deno.copyFile("/etc/resolv.conf", resolvConf);
      } catch {
        resolvConf = undefined;
      }
      const insecure = process.security === "insecure";
      const planned = stepMounts({
        resolvConf,
        hostsFile,
        mounts: mounts.flatMap((m) => toStepMounts(m.target, m.mounts, m.readonly)),
        shmSize: process.shmSize,
        insecure,
      });

      // Filesystems the shell cannot mount from a command line (an overlay with options
      // longer than a page, a FUSE mount...) are mounted here and bound in the namespace, and
      // so is /dev, filled here with its nodes and links.
      const plan: PlannedMount[] = [];
      for (const [i, m] of planned.entries()) {
        let mount = m;
        const isDev = m.destination === "/dev" && m.type === "tmpfs";
        if (isDev || !DIRECT_TYPES.has(m.type)) {
          const staged = `${stepDir}/m${i}`;
          await Deno.mkdir(staged, { mode: 0o700 });
          const ro = m.options?.includes("ro") ?? false;
          mountAll([{ type: m.type, source: m.source, options: m.options ?? [] }], staged);
          mounted.push(staged);
          if (isDev) populateDev(staged);
          mount = { ...m, type: "bind", source: staged, options: ["rbind", ro ? "ro" : "rw"] };
        }
        const file = mount.type === "bind" && isFile(mount.source);
        const locked = mount.type === "bind" ? lockedFlags(realPath(mount.source)) : undefined;
        plan.push({ target: resolveInRoot(root, m.destination), file, mount, locked });
      }

      const cwd = !process.cwd
        ? "/"
        : process.cwd.startsWith("/")
        ? process.cwd
        : `/${process.cwd}`;
      if (!rootReadonly) {
        stubs = findStubs(root, planned.map((m) => m.destination));
        await makeWorkdir(root, cwd, uid, gid);
        makeTargets(plan);
      }
      const cmd = commandLine({
        root,
        rootReadonly: rootReadonly ? lockedFlags(root) : undefined,
        hostname,
        network: network.kind,
        netnsPath: network.path,
        insecure,
        ulimits: process.ulimits,
        mounts: plan,
        nofile: stepNofile(),
        uid,
        gid,
        groups,
        cwd,
        args: process.args,
        env: process.env,
        tools,
      }, `${stepDir}/fstab`);
      this.#debug(`executor: chroot run ${id}: ${process.args.join(" ")}`);
      return await this.#spawn(cmd, stdio, signal);
    } finally {
      // Stubs are removed before the root filesystem is unmounted: in an overlay they live
      // in the mounted tree, not in the directory under it.
      removeStubs(stubs);
      for (const m of mounted.reverse()) unmountAll(m);
      await network?.close();
      this.#removeStepDir(stepDir);
    }
  }

  async #spawn(cmd: string[], stdio: ExecutorStdio, signal?: AbortSignal): Promise<number> {
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
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
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      killNamespace(child.pid);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const watcher = this.#watch(child.pid, child.status);
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      stdinDone.abort();
      signal?.removeEventListener("abort", onAbort);
      await stopWatcher(await watcher);
    }
    await Promise.all(pumps);
    if (aborted || signal?.aborted) {
      throw signal?.reason ?? new DOMException("The step was aborted", "AbortError");
    }
    return exitCode(status);
  }

  /**
   * Starts the process that kills the step when img dies. A step running as another user
   * loses the parent-death signal `unshare --kill-child` gave it (the kernel clears it when
   * the credentials change), so a shell outside the namespace waits for end of file on a
   * pipe from img, which only img's death brings, then kills the namespace's init (the
   * step), which takes every process in the namespace with it.
   */
  async #watch(
    unsharePid: number,
    exited: Promise<Deno.CommandStatus>,
  ): Promise<Deno.ChildProcess | undefined> {
    let done = false;
    exited.then(() => done = true, () => done = true);
    let init: number | undefined;
    for (let i = 0; i < 400 && !done && init === undefined; i++) {
      init = namespaceInit(unsharePid);
      if (init === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    if (done || init === undefined) return undefined;
    const watcher = new Deno.Command(this.tools.sh, {
      args: ["-c", 'read -r _ || kill -KILL "$0" 2>/dev/null', String(init)],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    watcher.status.catch(() => {});
    return watcher;
  }

  /** Removes a step directory without ever recursing into something still mounted. */
  #removeStepDir(stepDir: string): boolean {
    for (const f of ["hosts", "resolv.conf", "fstab", "owner.json"]) {
      removeQuietly(`${stepDir}/${f}`);
    }
    for (const entry of safeReadDir(stepDir)) {
      if (entry.isDirectory) removeQuietly(`${stepDir}/${entry.name}`);
    }
    if (!removeQuietly(stepDir)) {
      this.#debug(`executor: cannot remove ${stepDir}: it is not empty`);
      return false;
    }
    return true;
  }

  /**
   * Unmounts and removes what img processes which no longer run left behind (a killed img
   * running as real root; in img's user namespace its mounts die with it). Returns how
   * many step directories it removed.
   */
  cleanupStale(): number {
    let cleaned = 0;
    for (const entry of safeReadDir(this.dir)) {
      const stepDir = `${this.dir}/${entry.name}`;
      let owner: Owner | undefined;
      try {
        owner = JSON.parse(Deno.readTextFileSync(`${stepDir}/owner.json`));
      } catch {
        const mtime = Deno.lstatSync(stepDir).mtime;
        if (!mtime || Date.now() - mtime.getTime() < 60_000) continue;
      }
      if (owner && processStart(owner.pid) === owner.start) continue;
      this.#debug(`executor: cleaning up ${entry.name}, left by img process ${owner?.pid}`);
      for (const sub of safeReadDir(stepDir)) {
        if (sub.isDirectory) unmountAll(`${stepDir}/${sub.name}`);
      }
      if (this.#removeStepDir(stepDir)) cleaned++;
    }
    return cleaned;
  }
}

/** The device nodes an OCI runtime binds from the host, and its links. */
const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: [string, string][] = [
  ["/proc/self/fd", "fd"],
  ["/proc/self/fd/0", "stdin"],
  ["/proc/self/fd/1", "stdout"],
  ["/proc/self/fd/2", "stderr"],
  ["pts/ptmx", "ptmx"],
  ["/proc/kcore", "core"],
];

/** Fills a step's `/dev` (a tmpfs at `dir`) as runc does: host device nodes bound, links, mount points. */
function populateDev(dir: string): void {
  for (const d of DEVICES) {
    Deno.writeFileSync(`${dir}/${d}`, new Uint8Array(), { mode: 0o666 });
    libc.mount(`/dev/${d}`, `${dir}/${d}`, null, libc.MS_BIND, null);
  }
  for (const [to, name] of DEV_LINKS) Deno.symlinkSync(to, `${dir}/${name}`);
  for (const d of ["pts", "shm", "mqueue"]) Deno.mkdirSync(`${dir}/${d}`, { mode: 0o755 });
}

/**
 * Creates the mount targets that are missing in the root filesystem (the ones beneath
 * another mount are made in the namespace, once that one is mounted).
 */
function makeTargets(plan: PlannedMount[]): void {
  const done: string[] = [];
  for (const m of plan) {
    const dest = m.mount.destination;
    const beneath = done.some((d) => d === "/" || dest === d || dest.startsWith(d + "/"));
    done.push(dest);
    if (beneath) continue;
    try {
      if (m.file) {
        Deno.mkdirSync(m.target.slice(0, m.target.lastIndexOf("/")), { recursive: true });
        Deno.writeFileSync(m.target, new Uint8Array(), { createNew: true, mode: 0o644 });
      } else {
        Deno.mkdirSync(m.target, { recursive: true, mode: 0o755 });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

function safeReadDir(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

/** Stops a step's watcher (before its pipe closes, which would make it fire). */
async function stopWatcher(watcher: Deno.ChildProcess | undefined): Promise<void> {
  if (!watcher) return;
  try {
    watcher.kill("SIGKILL");
  } catch {
    // already gone
  }
  await watcher.status.catch(() => {});
  await watcher.stdin.close().catch(() => {});
}

/** The host pid of the init of a step's PID namespace: the child `unshare` forked. */
function namespaceInit(unsharePid: number): number | undefined {
  try {
    const first = Deno.readTextFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`)
      .trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Kills a step: the init of its PID namespace (the child of `unshare`), which takes every
 * process in the namespace with it, then `unshare` itself.
 */
function killNamespace(unsharePid: number): void {
  const init = namespaceInit(unsharePid);
  for (const pid of [...(init === undefined ? [] : [init]), unsharePid]) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
