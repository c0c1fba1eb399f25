/**
 * The rootless bootstrap: img re-executes itself once inside a new user + mount namespace,
 * where it is root and may mount, mknod and chown within the user's subordinate ids.
 *
 * A Deno process is multi-threaded, so it cannot `unshare(CLONE_NEWUSER)` itself: the
 * parent runs `unshare(1)`, which enters the namespaces and then executes the same
 * program again. The parent only forwards signals and exits with the child's code.
 *
 * Nothing img starts outlives it, even after `kill -9`: the child runs in its own PID
 * namespace, under a `/bin/sh` that is the namespace's init (`unshare --pid --fork
 * --kill-child`), so the kernel kills every process of the namespace (RUN containers,
 * fuse-overlayfs daemons) when that init dies; `unshare` kills the init when it dies
 * itself, and it dies with img through `setpriv --pdeathsig KILL`. img stays an ordinary
 * process (not an init, which ignores signals it has no handler for), so SIGINT, SIGTERM
 * and SIGHUP act on it as before.
 *
 * ```ts ignore
 * await ensureRootless();
 * // from here on, only inside the namespace: Deno.uid() === 0
 * ```
 *
 * @module
 */

import { concatBytes } from "../_bytes.ts";
import { ImgError } from "../errors.ts";
import {
  planRootless,
  type RootlessHost,
  type RootlessMethod,
  type RootlessPlan,
  SINGLE_MAPPING_ENV,
  systemHost,
} from "./_checks.ts";
import { span, traceChildEnv } from "../trace.ts";
import { HOST_BINFMT_ENV, hostBinfmtHandlers } from "../binfmt.ts";
import { programHelp } from "./_help_cache.ts";

/** Set to `1` in the environment of the re-executed child. */
export const ROOTLESS_CHILD_ENV = "IMG_ROOTLESS_CHILD";
/**
 * The V8 flags of the re-executed child, through `DENO_V8_FLAGS` unless that is set already: a
 * young generation of at most 2 MB. V8 frees a dead ArrayBuffer only when a GC runs; with the
 * default 16 MB semi-spaces the 16 KiB output chunks of `node:zlib` piled up by 50 to 80 MB
 * while a 200 MB layer was compressed (peak RSS 170 to 194 MB; 125 MB with this flag; see
 * bench/PROFILE.md).
 */
export const CHILD_V8_FLAGS = "--max-semi-space-size=2";
/** Forces how the namespace is set up: `map-auto`, `newuidmap` or `single` (for debugging). */
export const ROOTLESS_METHOD_ENV = "IMG_ROOTLESS_METHOD";
/**
 * Set to `1` in the environment of the re-executed child when it runs in its own PID
 * namespace, whose processes all die with it.
 */
export const PID_NAMESPACE_ENV = "IMG_PID_NAMESPACE";
/** The pid (on the host) of the img process that started the one in the PID namespace. */
export const HOST_PID_ENV = "IMG_HOST_PID";

/**
 * The `/bin/sh -c` script of the PID namespace's init: it runs img (`"$@"`) as its child,
 * so that img keeps the default signal actions an init lacks, reaps orphans, and exits with
 * img's status (128+n when img was killed by signal n). The no-op trap keeps a Ctrl-C of
 * the whole process group from ending the script early (dash otherwise exits 130 once its
 * child returns, even after img canceled cleanly); a caught signal is reset to its default
 * action in img.
 */
export const NAMESPACE_INIT = 'trap : INT; "$@"; exit $?';

/** Whether the re-executed child runs in its own PID namespace (see {@linkcode PID_NAMESPACE_ENV}). */
export function inOwnPidNamespace(): boolean {
  return inUserNamespace() && Deno.env.get(PID_NAMESPACE_ENV) === "1";
}

/** One line of `/proc/<pid>/uid_map` or `gid_map`. */
export interface IdMapping {
  /** The first id inside the namespace. */
  inside: number;
  /** The id it maps to in the parent namespace. */
  outside: number;
  /** How many consecutive ids are mapped. */
  count: number;
}

/** Parses the text of `/proc/<pid>/uid_map` or `gid_map`. */
export function parseIdMap(text: string): IdMapping[] {
  return text.split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([inside, outside, count]) => ({ inside, outside, count }));
}

/** Whether an id map is the initial namespace's identity map of every id. */
export function isInitialIdMap(map: IdMapping[]): boolean {
  return map.length === 1 && map[0].inside === 0 && map[0].outside === 0 &&
    map[0].count === 4294967295;
}

/**
 * Whether this process is img's re-executed child inside its user namespace: the parent
 * set {@linkcode ROOTLESS_CHILD_ENV}, and `/proc/self/uid_map` is not the host's identity map.
 */
export function inUserNamespace(): boolean {
  if (Deno.env.get(ROOTLESS_CHILD_ENV) !== "1") return false;
  try {
    return !isInitialIdMap(parseIdMap(Deno.readTextFileSync("/proc/self/uid_map")));
  } catch {
    // Deno lets only --allow-all read /proc/self: trust the variable if we are root.
    return Deno.uid() === 0;
  }
}

/** The arguments of this process as the kernel has them (`/proc/self/cmdline`), if readable. */
function procCmdline(): string[] | null {
  try {
    const text = new TextDecoder().decode(Deno.readFileSync("/proc/self/cmdline"));
    const argv = text.split("\0");
    if (argv.at(-1) === "") argv.pop();
    return argv;
  } catch {
    return null; // Deno lets only --allow-all read /proc/self
  }
}

/**
 * The command line that runs this same program again, with the same arguments.
 * `argv`, `mainModule` and `args` default to this process's (`argv` is null when
 * `/proc/self/cmdline` is unreadable, as it is without `--allow-all`).
 *
 * - A `deno compile` binary (`Deno.build.standalone`, or a main module under
 *   `deno-compile`): `Deno.execPath()` and `Deno.args`.
 * - A script: this process's own command line (`deno run <flags> <script> <args>`, from
 *   `/proc/self/cmdline`, with `deno` resolved to `Deno.execPath()`), so that flags such as
 *   `--config`, `--import-map`, `--lock` or `--cached-only` carry over. Deno finds a
 *   `deno.json` from the main module's directory (and from the working directory for
 *   remote modules), and the child keeps the working directory, so it resolves imports
 *   exactly as the parent did.
 * - Otherwise: `Deno.execPath() run -A <Deno.mainModule> ...Deno.args`.
 */
export function selfCommand(
  argv: string[] | null = procCmdline(),
  mainModule = Deno.mainModule,
  args: string[] = Deno.args,
): string[] {
  const exec = Deno.execPath();
  const standalone = mainModule === Deno.mainModule &&
    (Deno.build as { standalone?: boolean }).standalone === true;
  if (standalone || mainModule.includes("deno-compile")) return [exec, ...args];
  if (argv && argv.length > args.length + 1) {
    const tail = argv.slice(argv.length - args.length);
    if (tail.every((a, i) => a === args[i])) return [exec, ...argv.slice(1)];
  }
  return [exec, "run", "-A", mainModule, ...args];
}

/** The `unshare(1)` options that make img's PID namespace and tie its init to unshare. */
const PID_NAMESPACE_ARGS = ["--pid", "--fork", "--kill-child", "--mount-proc"];

/**
 * The `unshare(1)` arguments that make the namespaces for the map-auto and single methods.
 * With `pidNamespace`, the command runs in a new PID namespace (with its own `/proc`) as the
 * child of a `/bin/sh` init ({@linkcode NAMESPACE_INIT}) that unshare SIGKILLs when it dies.
 * Without, unshare executes the command in place (the fallback for util-linux before 2.32).
 */
export function unshareArgs(
  method: "map-auto" | "single",
  command: string[],
  pidNamespace = false,
): string[] {
  const map = method === "map-auto" ? ["--map-auto", "--map-root-user"] : ["--map-root-user"];
  const common = ["--user", ...map, "--mount", "--propagation", "private"];
  if (!pidNamespace) return [...common, "--", ...command];
  return [
    ...common,
    ...PID_NAMESPACE_ARGS,
    "--",
    "/bin/sh",
    "-c",
    NAMESPACE_INIT,
    "sh",
    ...command,
  ];
}

/** What this host offers to tie the re-executed child's lifetime to img's. */
export interface LifetimeSupport {
  /** unshare has `--kill-child` and `--mount-proc` (util-linux 2.32+). */
  pidNamespace: boolean;
  /** The setpriv executable if it has `--pdeathsig` (util-linux 2.33+), else null. */
  setpriv: string | null;
}

/** Asks `unshare --help` and `setpriv --help` what they can do. */
export async function lifetimeSupport(
  unshare: string,
  host: Pick<RootlessHost, "findExecutable" | "unshareHelp"> = systemHost(),
): Promise<LifetimeSupport> {
  const setpriv = host.findExecutable("setpriv");
  const [unshareHelp, setprivHelp] = await Promise.all([
    host.unshareHelp(unshare).catch(() => ""),
    setpriv ? programHelp(setpriv) : "",
  ]);
  return {
    pidNamespace: PID_NAMESPACE_ARGS.every((a) => unshareHelp.includes(a)),
    setpriv: setpriv && setprivHelp.includes("--pdeathsig") ? setpriv : null,
  };
}

/** `command` run so that it receives SIGKILL when img dies (when setpriv is there). */
function killedWithImg(setpriv: string | null, command: string[]): string[] {
  return setpriv ? [setpriv, "--pdeathsig", "KILL", "--", ...command] : command;
}

/** Options of {@linkcode ensureRootless}. */
export interface EnsureRootlessOptions {
  /** Receives what the bootstrap decides and runs (for `--debug`). */
  debug?: (msg: string) => void;
  /** Receives warnings; the default prints `warning: ...` to stderr. */
  warn?: (msg: string) => void;
  /**
   * Without usable subordinate ids, run with only the user's own id mapped (to root)
   * instead of failing. Default: the environment variable `IMG_ROOTLESS_SINGLE_MAPPING=1`.
   */
  allowSingleMapping?: boolean;
  /** How to set up the namespace. Default: `IMG_ROOTLESS_METHOD`, else chosen by the checks. */
  method?: RootlessMethod;
  /** What the checks read (tests point it at temporary files). */
  host?: Partial<RootlessHost>;
  /**
   * Work for this process while img runs inside (it only waits otherwise), started once the
   * process inside is: it must not throw. The exit waits for it a little at most.
   */
  beside?: () => Promise<void>;
}

/** How long the exit waits for {@linkcode EnsureRootlessOptions.beside} after img inside ended. */
const BESIDE_GRACE_MS = 2_000;

function parseMethod(value: string | undefined): RootlessMethod | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "map-auto" || value === "newuidmap" || value === "single") return value;
  throw new ImgError(
    `Invalid ${ROOTLESS_METHOD_ENV} "${value}": use map-auto, newuidmap or single`,
  );
}

/**
 * Checks the host and says how img would enter its user namespace, without doing it.
 * Throws an ImgError that names the fix when the host cannot.
 */
export async function rootlessPlan(options: EnsureRootlessOptions = {}): Promise<RootlessPlan> {
  const host = { ...systemHost(), ...options.host };
  return await planRootless(host, {
    allowSingleMapping: options.allowSingleMapping ??
      Deno.env.get(SINGLE_MAPPING_ENV) === "1",
    method: options.method ?? parseMethod(Deno.env.get(ROOTLESS_METHOD_ENV)),
  });
}

/**
 * Makes sure the rest of the program runs as root of a user + mount namespace.
 *
 * Inside the namespace already, or as real root, it returns at once. Otherwise it checks
 * the host (throwing an ImgError that says what to fix), runs this same program again
 * inside new namespaces with stdio inherited, forwards SIGINT, SIGTERM and SIGHUP to it,
 * and exits with its exit code: the code after `await ensureRootless()` runs only inside.
 */
export async function ensureRootless(options: EnsureRootlessOptions = {}): Promise<void> {
  const debug = options.debug ?? (() => {});
  if (inUserNamespace()) {
    debug("rootless: already inside the user namespace");
    return;
  }
  if (Deno.uid() === 0) {
    debug("rootless: running as root, no user namespace needed");
    return;
  }
  const reexec = await prepareReexec(options);
  const warn = options.warn ?? printWarning;
  for (const w of reexec.plan.warnings) warn(w);
  const running = span("rootless re-exec (spawn, child runs, exit)");
  const child = await spawnReexec(reexec, {}, "inherit", debug);
  await exitWithChild(child, reexec.lifetime, options.beside, running);
}

/** Set in the environment of img started by {@linkcode startHeldRootless}. */
export const HELD_ENV = "IMG_ROOTLESS_HELD";

/** img started again inside the namespace, held before it runs: see {@linkcode startHeldRootless}. */
export interface HeldRootless {
  /**
   * Lets the held img run, with `env` added to its environment, then does what
   * {@linkcode ensureRootless} does: waits for it, forwarding signals, and exits with its code.
   */
  go(env: Record<string, string>, beside?: () => Promise<void>): Promise<never>;
  /** Sends the held img away: it exits at once, having done nothing. */
  cancel(): void;
}

/**
 * Starts this same program again inside the namespace, as {@linkcode ensureRootless} does,
 * but held: img inside starts its runtime and loads its modules, then waits (see
 * {@linkcode awaitGo}) until this process says go or sends it away. A caller that will most
 * likely need the namespace starts it before it knows for sure, so that img's start inside
 * runs beside its own work. Returns `undefined` where {@linkcode ensureRootless} would not
 * re-execute (inside already, as root) or when the host's checks fail (`ensureRootless`
 * reports them).
 */
export async function startHeldRootless(
  options: EnsureRootlessOptions = {},
): Promise<HeldRootless | undefined> {
  if (inUserNamespace() || Deno.uid() === 0) return undefined;
  const debug = options.debug ?? (() => {});
  let reexec: Reexec;
  try {
    reexec = await prepareReexec(options);
  } catch {
    return undefined;
  }
  const running = span("rootless re-exec (spawn, child runs, exit)");
  let child: Deno.ChildProcess;
  try {
    child = await spawnReexec(reexec, { [HELD_ENV]: "1" }, "piped", debug);
  } catch {
    running.end();
    return undefined;
  }
  const stdin = child.stdin.getWriter();
  let said = false;
  const say = async (word?: string) => {
    if (said) return;
    said = true;
    if (word !== undefined) await stdin.write(new TextEncoder().encode(`${word}\n`));
    await stdin.close();
  };
  return {
    async go(env, beside) {
      const warn = options.warn ?? printWarning;
      for (const w of reexec.plan.warnings) warn(w);
      // An img inside that ended already (it failed to start) has closed the pipe.
      await say(JSON.stringify(env)).catch(() => {});
      return await exitWithChild(child, reexec.lifetime, beside, running);
    },
    cancel() {
      running.end();
      say().catch(() => {});
    },
  };
}

/**
 * In img started by {@linkcode startHeldRootless}: waits until the process that started it
 * says go, then adds the environment it sent; exits (0, having done nothing) when it is sent
 * away. Returns at once in any other process.
 */
export async function awaitGo(): Promise<void> {
  if (Deno.env.get(HELD_ENV) !== "1" || !inUserNamespace()) return;
  Deno.env.delete(HELD_ENV);
  // The process outside closes the pipe right after its one line (or without one: sent away).
  // (Read, not through `Deno.stdin.readable`, which would stay locked for whoever reads next.)
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  for (let n; (n = await Deno.stdin.read(buf)) !== null;) chunks.push(buf.slice(0, n));
  const line = new TextDecoder().decode(concatBytes(chunks)).trim();
  if (line === "") Deno.exit(0);
  const env = JSON.parse(line) as Record<string, string>;
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
}

function printWarning(msg: string): void {
  console.error(`warning: ${msg}`);
}

/** What re-executing img in the namespace takes: the plan, the command and its environment. */
interface Reexec {
  plan: RootlessPlan;
  lifetime: LifetimeSupport;
  command: string[];
  env: Record<string, string>;
}

/** The host's checks (an ImgError that says what to fix) and the command that enters. */
async function prepareReexec(options: EnsureRootlessOptions): Promise<Reexec> {
  const debug = options.debug ?? (() => {});
  using _checks = span("rootless checks (plan, unshare features)");
  // The two `--help`s of unshare and setpriv: side by side (the plan's unshare is the one on
  // PATH; the plan throws when there is none).
  const host = { ...systemHost(), ...options.host };
  const unshare = host.findExecutable("unshare");
  const [plan, found] = await Promise.all([
    rootlessPlan(options),
    unshare ? lifetimeSupport(unshare, host) : undefined,
  ]);
  const lifetime = found ?? await lifetimeSupport(plan.unshare, host);
  if (!lifetime.pidNamespace) {
    debug(
      `rootless: ${plan.unshare} lacks --kill-child or --mount-proc (util-linux < 2.32): processes img starts may outlive a killed img`,
    );
  }
  if (!lifetime.setpriv) {
    debug(
      "rootless: no setpriv with --pdeathsig (util-linux < 2.33): killing only img's own process leaves its namespace running",
    );
  }
  const env: Record<string, string> = { [ROOTLESS_CHILD_ENV]: "1", ...traceChildEnv() };
  if (Deno.env.get("DENO_V8_FLAGS") === undefined) env.DENO_V8_FLAGS = CHILD_V8_FLAGS;
  const binfmt = hostBinfmtHandlers();
  if (binfmt !== undefined) env[HOST_BINFMT_ENV] = binfmt;
  if (lifetime.pidNamespace) {
    env[PID_NAMESPACE_ENV] = "1";
    env[HOST_PID_ENV] = String(Deno.pid);
  }
  return { plan, lifetime, command: selfCommand(), env };
}

/** Starts img inside the namespace, with `extraEnv` and standard input as `stdin` says. */
async function spawnReexec(
  { plan, lifetime, command, env }: Reexec,
  extraEnv: Record<string, string>,
  stdin: "inherit" | "piped",
  debug: (msg: string) => void,
): Promise<Deno.ChildProcess> {
  const fullEnv = { ...env, ...extraEnv };
  if (plan.method === "newuidmap") {
    debug(`rootless: ${plan.unshare} --user --mount, mapped by newuidmap: ${command.join(" ")}`);
    return await spawnMappedByNewuidmap(plan, command, fullEnv, lifetime, stdin);
  }
  const [program, ...args] = killedWithImg(
    lifetime.setpriv,
    [plan.unshare, ...unshareArgs(plan.method, command, lifetime.pidNamespace)],
  );
  debug(`rootless: ${program} ${args.join(" ")}`);
  return new Deno.Command(program, {
    args,
    env: fullEnv,
    stdin,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

/** Waits for img inside (forwarding signals), and for `beside` a little, then exits as it did. */
async function exitWithChild(
  child: Deno.ChildProcess,
  lifetime: LifetimeSupport,
  besideWork: (() => Promise<void>) | undefined,
  running: { end(): void },
): Promise<never> {
  let besideDone = false;
  const beside = besideWork?.().finally(() => besideDone = true);
  const status = await waitForwardingSignals(child, lifetime.pidNamespace);
  running.end();
  if (beside && !besideDone) {
    // A download of the prefetch, say: its partial file is removed when it ends.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([beside, new Promise((r) => timer = setTimeout(r, BESIDE_GRACE_MS))]);
    clearTimeout(timer);
  }
  Deno.exit(status.code);
}

/** The pids of the children of process `pid` (Linux `/proc/<pid>/task/<pid>/children`). */
function childrenOf(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter((p) => p !== "").map(Number);
  } catch {
    return [];
  }
}

/** The pids of process `pid` in each nested PID namespace, outermost first (`NSpid`). */
function nsPids(pid: number): number[] {
  try {
    const line = Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")
      .find((l) => l.startsWith("NSpid:"));
    return line ? line.split(/\s+/).slice(1).map(Number) : [];
  } catch {
    return [];
  }
}

/**
 * The img process inside the PID namespace that `unshare` (pid `unsharePid`) made: the
 * child of the namespace's init (the child of unshare whose pid there is 1).
 */
function namespacedImg(unsharePid: number): number | undefined {
  const init = childrenOf(unsharePid).find((p) => nsPids(p).at(-1) === 1);
  return init === undefined ? undefined : childrenOf(init)[0];
}

/**
 * Forwards signals to the namespaced img until `child` exits. SIGINT from a terminal already
 * reaches it (same process group), so it is forwarded only when stdin is not a terminal; the
 * parent still catches it, so that it outlives the child.
 *
 * With a PID namespace, `child` is unshare, which ignores SIGINT and SIGTERM while it waits:
 * the signal goes to img inside instead, found through `/proc`. Should img not be running
 * yet (a signal during start-up), unshare is killed, and with it the whole namespace.
 */
async function waitForwardingSignals(
  child: Deno.ChildProcess,
  pidNamespace: boolean,
): Promise<Deno.CommandStatus> {
  const fromTerminal = Deno.stdin.isTerminal();
  let exited = false;
  const forward = async (sig: Deno.Signal) => {
    let target: number | undefined = child.pid;
    if (pidNamespace) {
      target = namespacedImg(child.pid);
      for (let i = 0; target === undefined && !exited && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
        target = namespacedImg(child.pid);
      }
    }
    try {
      if (target !== undefined) Deno.kill(target, sig);
      else if (!exited) child.kill("SIGKILL");
    } catch {
      // already exited
    }
  };
  const listeners: [Deno.Signal, () => void][] = (["SIGINT", "SIGTERM", "SIGHUP"] as const)
    .map((sig) => [sig, () => {
      if (sig === "SIGINT" && fromTerminal) return;
      forward(sig);
    }]);
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  try {
    return await child.status;
  } finally {
    exited = true;
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  }
}

/**
 * The fallback for unshare without `--map-auto`: start `unshare --user --mount` running a
 * shell that waits on a FIFO, map its ids with newuidmap/newgidmap from here, then let it
 * run the command. With `lifetime.pidNamespace`, that shell is the init of a new PID
 * namespace and runs the command as its child, as {@linkcode unshareArgs} does.
 */
async function spawnMappedByNewuidmap(
  plan: RootlessPlan,
  command: string[],
  env: Record<string, string>,
  lifetime: LifetimeSupport,
  stdin: "inherit" | "piped",
): Promise<Deno.ChildProcess> {
  const { mkfifo } = await import("../libc.ts");
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ prefix: "img-rootless-" });
  } catch (e) {
    throw new ImgError(
      `Cannot create a temporary directory for the user namespace handshake (${
        (e as Error).message
      }): set TMPDIR to a writable directory`,
      { cause: e },
    );
  }
  const fifo = `${dir}/ready`;
  try {
    mkfifo(fifo, 0o600);
    // unshare >= 2.27 makes the new mount namespace private by default.
    const script = lifetime.pidNamespace
      ? `read -r _ < "$0" && { ${NAMESPACE_INIT}; }`
      : 'read -r _ < "$0" && exec "$@"';
    const [program, ...args] = killedWithImg(lifetime.setpriv, [
      plan.unshare,
      "--user",
      "--mount",
      ...(lifetime.pidNamespace ? PID_NAMESPACE_ARGS : []),
      "--",
      "/bin/sh",
      "-c",
      script,
      fifo,
      ...command,
    ]);
    const child = new Deno.Command(program, {
      args,
      env,
      stdin,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    try {
      // Opening the FIFO for writing returns once the shell opened it for reading, that
      // is, after unshare entered the new namespaces.
      const ready = await Promise.race([
        Deno.open(fifo, { write: true }),
        child.status.then(() => undefined),
      ]);
      if (!ready) return child; // unshare failed and said why: exit with its code
      try {
        await runIdMap(plan.newuidmap!, child.pid, Deno.uid()!, plan.uidRange!);
        await runIdMap(plan.newgidmap!, child.pid, Deno.gid()!, plan.gidRange!);
        await ready.write(new TextEncoder().encode("go\n"));
      } finally {
        ready.close();
      }
      return child;
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      throw e;
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function runIdMap(
  helper: string,
  pid: number,
  id: number,
  range: { start: number; count: number },
): Promise<void> {
  const args = [
    String(pid),
    "0",
    String(id),
    "1",
    "1",
    String(range.start),
    String(range.count - 1),
  ];
  const out = await new Deno.Command(helper, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const reason = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    throw new ImgError(`${helper} ${args.join(" ")} failed: ${reason}`);
  }
}
