/**
 * The executor's end-to-end scenarios, run for real through crun or runc. `executor_test.ts`
 * runs them in its own process (as root) and, through this file's main, as the unprivileged
 * test user: `deno run -A scenarios.ts <runtime> <dir>` enters the user namespace with
 * `ensureRootless()` first, then prints the results as JSON on its last line.
 *
 * @module
 */
import {
  ensureRootless,
  type ExecutorMount,
  inUserNamespace,
  type Mount,
  type ProcessSpec,
} from "@img/core";
import { OciExecutor } from "../executor.ts";
import { runtimeCommand } from "../runtime.ts";
import { generateSpec } from "../spec.ts";

/** The PATH of the steps. */
export const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "builder:x:1000:1000:builder:/home/builder:/bin/sh",
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
  "",
].join("\n");

const GROUP = [
  "root:x:0:",
  "staff:x:50:builder",
  "builder:x:1000:",
  "nogroup:x:65534:",
  "",
].join("\n");

const APPLETS = [
  "cat",
  "echo",
  "hostname",
  "id",
  "ls",
  "nc",
  "pwd",
  "sh",
  "sleep",
  "stat",
  "touch",
  "true",
  "wget",
];

/**
 * Writes a busybox root filesystem into `dir`: `/bin/busybox` and applet symlinks,
 * `/etc/passwd` with `builder` (1000:1000), `/etc/group` with `staff` (50) listing `builder`,
 * `/etc/passwd` reached through a symlink that only resolves inside the root filesystem.
 */
export async function makeRootfs(dir: string): Promise<void> {
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "home/builder", "root", "data"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  await Deno.chown(`${dir}/home/builder`, 1000, 1000);
  await Deno.copyFile("/bin/busybox", `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  for (const a of APPLETS) await Deno.symlink("busybox", `${dir}/bin/${a}`);
  await Deno.writeTextFile(`${dir}/data/passwd`, PASSWD);
  // An absolute symlink: read from the host it would be the host's /data/passwd.
  await Deno.symlink("/data/passwd", `${dir}/etc/passwd`);
  await Deno.writeTextFile(`${dir}/etc/group`, GROUP);
}

/** What one step gave. */
export interface StepResult {
  /** The exit code, or -1 when `run` threw. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** The error's name and message when `run` threw. */
  error?: string;
  /** How long `run` took, in milliseconds. */
  ms: number;
}

/** Everything the scenarios observed. */
export interface ScenarioResults {
  /** The runtime used. */
  runtime: string;
  /** `Deno.uid()` where the executor ran. */
  uid: number;
  /** Results by scenario name. */
  steps: Record<string, StepResult>;
  /** Facts checked from the executor's side. */
  facts: Record<string, unknown>;
}

const dec = new TextDecoder();

async function step(
  ex: OciExecutor,
  rootfs: Mount[],
  process: Partial<ProcessSpec> & { args: string[] },
  options: { mounts?: ExecutorMount[]; stdin?: string; signal?: AbortSignal } = {},
): Promise<StepResult> {
  let stdout = "";
  let stderr = "";
  const started = performance.now();
  const spec: ProcessSpec = {
    env: [PATH_ENV],
    cwd: "/",
    uid: 0,
    gid: 0,
    network: "host",
    ...process,
  };
  try {
    const code = await ex.run(rootfs, spec, options.mounts ?? [], {
      stdout: (c) => stdout += dec.decode(c, { stream: true }),
      stderr: (c) => stderr += dec.decode(c, { stream: true }),
      stdin: options.stdin === undefined
        ? undefined
        : new Blob([options.stdin]).stream() as ReadableStream<Uint8Array>,
    }, options.signal);
    return { code, stdout, stderr, ms: performance.now() - started };
  } catch (e) {
    const err = e as Error;
    return {
      code: -1,
      stdout,
      stderr,
      error: `${err.name}: ${err.message}`,
      ms: performance.now() - started,
    };
  }
}

function hostInterfaces(): string[] {
  return Deno.readTextFileSync("/proc/net/dev").split("\n").slice(2)
    .map((l) => l.split(":")[0].trim()).filter((n) => n !== "").sort();
}

function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Whether process `pid` runs (a zombie nobody reaped yet counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Runs every scenario with `runtime` (`crun` or `runc`); `dir` holds the state directory
 * (`dir/state`), the root filesystem (`dir/rootfs`) and the step's bind mounts.
 */
export async function runScenarios(runtime: string, dir: string): Promise<ScenarioResults> {
  const rootfsDir = `${dir}/rootfs`;
  const stateDir = `${dir}/state`;
  await makeRootfs(rootfsDir);
  const rootfs: Mount[] = [{ type: "bind", source: rootfsDir, options: ["rbind", "rw"] }];
  const ex = new OciExecutor({ stateDir, runtime });
  const steps: Record<string, StepResult> = {};
  const facts: Record<string, unknown> = {};

  // A container left behind by a killed img: its owner process is gone.
  const staleId = "img-stale0000000000";
  const staleBundle = `${stateDir}/executor/bundles/${staleId}`;
  await Deno.mkdir(staleBundle, { recursive: true });
  await Deno.writeTextFile(
    `${staleBundle}/owner.json`,
    JSON.stringify({ pid: 2 ** 22 + 1, start: "0", runtime }),
  );
  const spec = generateSpec({
    rootPath: rootfsDir,
    args: ["sleep", "100"],
    env: [PATH_ENV],
    cwd: "/",
    uid: 0,
    gid: 0,
    network: "host",
  });
  await Deno.writeTextFile(`${staleBundle}/config.json`, JSON.stringify(spec));
  await Deno.mkdir(ex.stateRoot, { recursive: true });
  const detached = runtimeCommand(ex.runtime, ex.stateRoot, [
    "run",
    "--detach",
    "--bundle",
    staleBundle,
    staleId,
  ]);
  const started = await new Deno.Command(detached.command, {
    args: detached.args,
    stdin: "null",
    // The detached container keeps whatever it is given open: no pipes.
    stdout: "null",
    stderr: "null",
  }).output();
  facts.staleStarted = started.success;
  // runc keeps state.json (init_process_pid), crun a file named status (pid).
  const stateJson = JSON.parse(
    await Deno.readTextFile(`${ex.stateRoot}/${staleId}/state.json`)
      .catch(() => Deno.readTextFile(`${ex.stateRoot}/${staleId}/status`))
      .catch(() => "{}"),
  );
  const stalePid: number = stateJson.init_process_pid ?? stateJson.pid ?? 0;
  facts.stalePidAliveBefore = stalePid > 0 && pidAlive(stalePid);

  steps.basic = await step(ex, rootfs, { args: ["sh", "-c", "echo hi; echo err >&2; exit 3"] });
  await new Promise((r) => setTimeout(r, 100));
  facts.stalePidAliveAfter = stalePid > 0 && pidAlive(stalePid);
  facts.staleStateAfter = listDir(ex.stateRoot).includes(staleId);
  facts.staleBundleAfter = listDir(`${stateDir}/executor/bundles`).includes(staleId);

  steps.idBuilder = await step(ex, rootfs, { args: ["id"], user: "builder" });
  steps.idNumeric = await step(ex, rootfs, { args: ["id"], uid: 1000, gid: 50 });
  steps.unknownUser = await step(ex, rootfs, { args: ["id"], user: "nosuchuser" });
  steps.envCwd = await step(ex, rootfs, {
    args: ["sh", "-c", 'echo "$FOO"; pwd'],
    env: [PATH_ENV, "FOO=bar baz"],
    cwd: "/work/dir",
  });
  facts.workdirOwner = Deno.statSync(`${rootfsDir}/work/dir`).uid;
  steps.write = await step(ex, rootfs, {
    args: ["sh", "-c", "echo data > /home/builder/out; touch /tmp/by-builder"],
    user: "builder",
  });
  const out = Deno.statSync(`${rootfsDir}/home/builder/out`);
  facts.writtenInside = {
    uid: out.uid,
    gid: out.gid,
    content: Deno.readTextFileSync(`${rootfsDir}/home/builder/out`),
  };
  steps.procDev = await step(ex, rootfs, {
    args: [
      "sh",
      "-c",
      "echo $$; echo gone > /dev/null && echo null-ok; cat /proc/self/stat | cut -d' ' -f1 2>/dev/null; ls /proc/1/ns >/dev/null && echo proc-ok; cat /proc/kcore 2>/dev/null | wc -c 2>/dev/null; hostname; cat /etc/hosts",
    ],
  });
  steps.stdin = await step(ex, rootfs, { args: ["cat"] }, { stdin: "from stdin\n" });
  steps.limits = await step(ex, rootfs, {
    args: ["sh", "-c", "ulimit -n; ulimit -Hn"],
  });

  // Host network: the host's interfaces, and a server on the host's loopback is reachable.
  facts.hostInterfaces = hostInterfaces();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("pong from host\n"),
  );
  const port = server.addr.port;
  steps.netHost = await step(ex, rootfs, {
    args: ["sh", "-c", `cat /proc/net/dev; wget -q -O - http://127.0.0.1:${port}/`],
  });
  steps.netNone = await step(ex, rootfs, {
    args: ["sh", "-c", `cat /proc/net/dev; wget -q -O - http://127.0.0.1:${port}/`],
    network: "none",
  });
  await server.shutdown();

  // Bind mounts: read-only and read-write; their targets do not stay in the root filesystem.
  const roDir = `${dir}/ro-src`;
  const rwDir = `${dir}/rw-src`;
  await Deno.mkdir(roDir);
  await Deno.mkdir(rwDir);
  await Deno.writeTextFile(`${roDir}/hello`, "read only\n");
  steps.mounts = await step(ex, rootfs, {
    args: [
      "sh",
      "-c",
      "cat /mnt/ro/hello; echo x > /mnt/ro/new || echo ro-refused; echo written > /mnt/rw/file",
    ],
  }, {
    mounts: [
      {
        target: "/mnt/ro",
        mounts: [{ type: "bind", source: roDir, options: ["rbind"] }],
        readonly: true,
      },
      { target: "/mnt/rw", mounts: [{ type: "bind", source: rwDir, options: ["rbind", "rw"] }] },
    ],
  });
  facts.rwFile = await Deno.readTextFile(`${rwDir}/file`).catch(() => null);
  facts.rootfsTopAfterMounts = listDir(rootfsDir);
  facts.etcAfter = listDir(`${rootfsDir}/etc`);

  // An overlay root filesystem, mounted by the executor itself.
  for (const d of ["upper", "work", "merged-unused"]) {
    await Deno.mkdir(`${dir}/ovl/${d}`, { recursive: true });
  }
  const overlay: Mount[] = [{
    type: "overlay",
    source: "overlay",
    options: [
      `lowerdir=${rootfsDir}`,
      `upperdir=${dir}/ovl/upper`,
      `workdir=${dir}/ovl/work`,
      ...(Deno.uid() === 0 && Deno.env.get("IMG_ROOTLESS_CHILD") === "1" ? ["userxattr"] : []),
    ],
  }];
  steps.overlay = await step(ex, overlay, {
    args: ["sh", "-c", "echo on-overlay > /tmp/ovl; cat /home/builder/out"],
  });
  facts.overlayUpper = await Deno.readTextFile(`${dir}/ovl/upper/tmp/ovl`).catch(() => null);
  facts.overlayLowerUntouched = listDir(`${rootfsDir}/tmp`);

  // Abort: a long step is killed, and nothing is left behind.
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 500);
  steps.abort = await step(ex, rootfs, { args: ["sleep", "100"] }, { signal: ac.signal });
  facts.stateAfterAbort = listDir(ex.stateRoot);
  facts.bundlesAfterAbort = listDir(`${stateDir}/executor/bundles`);

  // Timing of a trivial step.
  const times: number[] = [];
  for (let i = 0; i < 10; i++) times.push((await step(ex, rootfs, { args: ["true"] })).ms);
  times.sort((a, b) => a - b);
  facts.trueMs = { min: times[0], median: times[5], max: times[9] };

  // The other runtime in the same process afterwards (crun and runc want /sys/fs/cgroup
  // arranged differently on hybrid hosts).
  const other = runtime === "crun" ? "runc" : "crun";
  const otherEx = new OciExecutor({ stateDir: `${dir}/state-${other}`, runtime: other });
  steps.otherRuntime = await step(otherEx, rootfs, { args: ["sh", "-c", "echo other"] });
  steps.sameRuntimeAgain = await step(ex, rootfs, { args: ["sh", "-c", "echo again"] });

  return { runtime, uid: Deno.uid() ?? -1, steps, facts };
}

/**
 * For the killed-img test: `start` runs `sleep 100` as `builder` until it is killed (main
 * has written img's own pid, outside the namespace, to `dir/pid`); `cleanup` creates a new
 * executor on the same state directory and prints how many containers it cleaned up.
 */
async function killedImg(mode: string, runtime: string, dir: string): Promise<void> {
  const ex = new OciExecutor({ stateDir: `${dir}/state`, runtime });
  const rootfs: Mount[] = [{ type: "bind", source: `${dir}/rootfs`, options: ["rbind", "rw"] }];
  if (mode === "start") {
    await makeRootfs(`${dir}/rootfs`);
    await ex.run(
      rootfs,
      {
        args: ["sleep", "100"],
        env: [PATH_ENV],
        cwd: "/",
        uid: 0,
        gid: 0,
        user: "builder",
        network: "host",
      },
      [],
      {},
    );
  } else {
    console.log(JSON.stringify({ cleaned: await ex.cleanupStale() }));
  }
}

if (import.meta.main) {
  const [runtime, dir, mode] = Deno.args;
  if (mode === "start" && !inUserNamespace()) {
    await Deno.writeTextFile(`${dir}/pid`, String(Deno.pid));
  }
  await ensureRootless();
  if (mode) {
    await killedImg(mode, runtime, dir);
  } else {
    const results = await runScenarios(runtime, dir);
    console.log(JSON.stringify(results));
  }
}
