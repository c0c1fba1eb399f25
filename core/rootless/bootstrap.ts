/**
 * The rootless bootstrap: img re-executes itself once inside a new user + mount namespace,
 * where it is root and may mount, mknod and chown within the user's subordinate ids.
 *
 * A Deno process is multi-threaded, so it cannot `unshare(CLONE_NEWUSER)` itself: the
 * parent runs `unshare(1)`, which enters the namespaces and then executes the same
 * program again. The parent only forwards signals and exits with the child's code.
 *
 * ```ts ignore
 * await ensureRootless();
 * // from here on, only inside the namespace: Deno.uid() === 0
 * ```
 *
 * @module
 */

import { ImgError } from "../errors.ts";
import {
  planRootless,
  type RootlessHost,
  type RootlessMethod,
  type RootlessPlan,
  SINGLE_MAPPING_ENV,
  systemHost,
} from "./_checks.ts";

/** Set to `1` in the environment of the re-executed child. */
export const ROOTLESS_CHILD_ENV = "IMG_ROOTLESS_CHILD";
/** Forces how the namespace is set up: `map-auto`, `newuidmap` or `single` (for debugging). */
export const ROOTLESS_METHOD_ENV = "IMG_ROOTLESS_METHOD";

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

/** The `unshare(1)` arguments that make the namespaces for the map-auto and single methods. */
export function unshareArgs(method: "map-auto" | "single", command: string[]): string[] {
  // No --fork: unshare then executes the command in place, so the process img spawned is
  // the namespaced child and signals reach it (a forking unshare blocks SIGINT and SIGTERM).
  const map = method === "map-auto" ? ["--map-auto", "--map-root-user"] : ["--map-root-user"];
  return ["--user", ...map, "--mount", "--propagation", "private", "--", ...command];
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
}

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
  const warn = options.warn ?? ((msg: string) => console.error(`warning: ${msg}`));
  if (inUserNamespace()) {
    debug("rootless: already inside the user namespace");
    return;
  }
  if (Deno.uid() === 0) {
    debug("rootless: running as root, no user namespace needed");
    return;
  }
  const plan = await rootlessPlan(options);
  for (const w of plan.warnings) warn(w);
  const command = selfCommand();
  const env = { [ROOTLESS_CHILD_ENV]: "1" };

  let child: Deno.ChildProcess;
  if (plan.method === "newuidmap") {
    debug(`rootless: ${plan.unshare} --user --mount, mapped by newuidmap: ${command.join(" ")}`);
    child = await spawnMappedByNewuidmap(plan, command, env);
  } else {
    const args = unshareArgs(plan.method, command);
    debug(`rootless: ${plan.unshare} ${args.join(" ")}`);
    child = new Deno.Command(plan.unshare, {
      args,
      env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  }
  const status = await waitForwardingSignals(child);
  Deno.exit(status.code);
}

/**
 * Forwards signals to `child` until it exits. SIGINT from a terminal already reaches the
 * child (same process group), so it is forwarded only when stdin is not a terminal; the
 * parent still catches it, so that it outlives the child.
 */
async function waitForwardingSignals(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  const fromTerminal = Deno.stdin.isTerminal();
  const listeners: [Deno.Signal, () => void][] = (["SIGINT", "SIGTERM", "SIGHUP"] as const)
    .map((sig) => [sig, () => {
      if (sig === "SIGINT" && fromTerminal) return;
      try {
        child.kill(sig);
      } catch {
        // already exited
      }
    }]);
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  try {
    return await child.status;
  } finally {
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  }
}

/**
 * The fallback for unshare without `--map-auto`: start `unshare --user --mount` running a
 * shell that waits on a FIFO, map its ids with newuidmap/newgidmap from here, then let it
 * execute the command.
 */
async function spawnMappedByNewuidmap(
  plan: RootlessPlan,
  command: string[],
  env: Record<string, string>,
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
    const child = new Deno.Command(plan.unshare, {
      // unshare >= 2.27 makes the new mount namespace private by default.
      args: ["--user", "--mount", "--", "/bin/sh", "-c", 'read -r _ < "$0" && exec "$@"', fifo]
        .concat(command),
      env,
      stdin: "inherit",
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
