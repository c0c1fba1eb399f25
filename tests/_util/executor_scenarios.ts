/**
 * Test helper: the end-to-end scenarios every executor plugin must pass, run for real (user,
 * groups, environment, working directory, `/proc`, `/dev`, hostname, hosts file, limits,
 * network host, none and default, bind mounts and their stubs, an overlay root, abort), and the
 * checks a user would make of their results. Each executor's `testdata/scenarios.ts` runs
 * them in the user namespace (`ensureRootless()`) and prints the results; its test file
 * spawns that as the unprivileged test user with {@linkcode spawnScenarios} and checks them
 * with {@linkcode checkCommonResults}.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Executor, ExecutorMount, Mount, ProcessSpec } from "../../core/mod.ts";

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

/** Runs one step with `ex` and collects what it gave. */
export async function step(
  ex: Executor,
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

/** The host's network interfaces, sorted. */
export function hostInterfaces(): string[] {
  return Deno.readTextFileSync("/proc/net/dev").split("\n").slice(2)
    .map((l) => l.split(":")[0].trim()).filter((n) => n !== "").sort();
}

/** The sorted names in `path` (none if it is missing). */
export function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Whether process `pid` runs (a zombie nobody reaped yet counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** What {@linkcode runCommonScenarios} needs besides the executor. */
export interface CommonScenarioOptions {
  /** Directories the executor keeps per running step: empty again after an abort. */
  leftDirs: string[];
  /** Runs after the first step (the OCI executor checks its stale-container cleanup). */
  afterFirst?: () => Promise<void>;
}

/**
 * Runs the scenarios every executor must pass with `ex`, on the root filesystem
 * `dir/rootfs` ({@linkcode makeRootfs} first); `dir` also holds the step's bind mounts.
 */
export async function runCommonScenarios(
  ex: Executor,
  dir: string,
  options: CommonScenarioOptions,
): Promise<{ steps: Record<string, StepResult>; facts: Record<string, unknown> }> {
  const rootfsDir = `${dir}/rootfs`;
  const rootfs: Mount[] = [{ type: "bind", source: rootfsDir, options: ["rbind", "rw"] }];
  const steps: Record<string, StepResult> = {};
  const facts: Record<string, unknown> = {};

  steps.basic = await step(ex, rootfs, { args: ["sh", "-c", "echo hi; echo err >&2; exit 3"] });
  await options.afterFirst?.();

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
  // The default network: a namespace of the step's own (slirp4netns) that reaches the host.
  steps.netDefault = await step(ex, rootfs, {
    args: ["sh", "-c", `cat /proc/net/dev; wget -q -O - http://gw:${port}/`],
    network: "default",
    extraHosts: [{ host: "gw", ip: "host-gateway" }],
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
  facts.leftAfterAbort = options.leftDirs.flatMap(listDir);

  // Timing of a trivial step.
  const times: number[] = [];
  for (let i = 0; i < 10; i++) times.push((await step(ex, rootfs, { args: ["true"] })).ms);
  times.sort((a, b) => a - b);
  facts.trueMs = { min: times[0], median: times[5], max: times[9] };

  return { steps, facts };
}

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** The uid and gid of user `name`, from `/etc/passwd`. */
export function userIds(name: string): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":"))
    .find((f) => f[0] === name);
  assert.ok(line, `the rootless tests need the unprivileged user ${name}`);
  return { uid: Number(line[2]), gid: Number(line[3]) };
}

/** The name of the user running the tests. */
export function currentUserName(): string {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":"))
    .find((f) => f[2] === String(Deno.uid()));
  assert.ok(line, `uid ${Deno.uid()} is not in /etc/passwd`);
  return line[0];
}

/** The host uid that uid `inside` of `user`'s namespace maps to (inside 1.. = the subuid range). */
export function outsideUid(user: string, inside: number): number {
  const { uid } = userIds(user);
  if (inside === 0) return uid;
  const range = Deno.readTextFileSync("/etc/subuid").split("\n").map((l) => l.split(":"))
    .find((f) => f[0] === user || f[0] === String(uid));
  assert.ok(range, `${user} needs an /etc/subuid range`);
  return Number(range[1]) + inside - 1;
}

/** A temporary directory, owned by `user` when given. */
export async function tempDirFor(user: string | undefined): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "img-executor-test-" });
  if (user) {
    const { uid, gid } = userIds(user);
    await Deno.chown(dir, uid, gid);
  }
  return dir;
}

/** Removes a tree whose files may belong to subordinate ids. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch {
    await new Deno.Command("unshare", {
      args: ["--user", "--map-auto", "--map-root-user", "--", "rm", "-rf", dir],
    }).output();
  }
}

/**
 * Runs `script` (an executor's `testdata/scenarios.ts`) with `args` in its own process, as
 * `asUser` when given, and returns what it printed on its last line.
 */
export async function spawnScenarios(
  script: string,
  args: string[],
  asUser: string | undefined,
): Promise<ScenarioResults> {
  const deno = [Deno.execPath(), "run", "-A", "--quiet", `--config=${CONFIG}`, script, ...args];
  const cmd = asUser ? ["runuser", "-u", asUser, "--", ...deno] : deno;
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `scenarios failed:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** What a user would check, whatever the executor. */
export function checkCommonResults(
  r: ScenarioResults,
  rootfsDir: string,
  expectOutsideUid: number,
): void {
  const { steps, facts } = r;
  assert.equal(r.uid, 0, "the executor runs as root (real, or of img's user namespace)");

  assert.deepEqual(
    [steps.basic.stdout, steps.basic.stderr, steps.basic.code],
    ["hi\n", "err\n", 3],
    "stdout, stderr and exit code of the step",
  );

  // The kernel keeps supplementary groups sorted, and busybox's id prints them in that order.
  assert.equal(
    steps.idBuilder.stdout,
    "uid=1000(builder) gid=1000(builder) groups=50(staff),1000(builder)\n",
  );
  assert.equal(steps.idNumeric.stdout, "uid=1000(builder) gid=50(staff) groups=50(staff)\n");
  assert.equal(
    steps.unknownUser.error,
    "ImgError: unable to find user nosuchuser: no matching entries in passwd file",
  );

  assert.equal(steps.envCwd.stdout, "bar baz\n/work/dir\n", "env and working directory");
  assert.equal(facts.workdirOwner, 0);

  assert.equal(steps.write.code, 0, steps.write.stderr);
  assert.deepEqual(facts.writtenInside, { uid: 1000, gid: 1000, content: "data\n" });
  const written = Deno.statSync(`${rootfsDir}/home/builder/out`);
  assert.equal(written.uid, expectOutsideUid, "owner of the step's file seen from the host");

  const proc = steps.procDev.stdout.split("\n");
  assert.equal(proc[0], "1", "the step is pid 1 of its own pid namespace");
  assert.equal(proc[1], "null-ok", "/dev/null works");
  assert.equal(proc[3], "proc-ok", "/proc is mounted");
  assert.equal(proc[4], "0", "/proc/kcore is masked");
  assert.equal(proc[5], "buildkitsandbox", "hostname");
  assert.equal(proc[6], "127.0.0.1\tlocalhost buildkitsandbox");

  assert.equal(steps.stdin.stdout, "from stdin\n");
  const [soft, hard] = steps.limits.stdout.trim().split("\n").map(Number);
  assert.equal(soft, hard);
  assert.ok(soft >= 1024, `RLIMIT_NOFILE ${soft}`);

  // Host network by default: the host's interfaces, and its loopback is reachable.
  const ifaces = (text: string) =>
    text.split("\n").slice(2).map((l) => l.split(":")[0].trim()).filter((n) => n).sort();
  assert.deepEqual(
    ifaces(steps.netHost.stdout.replace(/pong from host\n$/, "")),
    facts.hostInterfaces,
  );
  assert.ok(steps.netHost.stdout.endsWith("pong from host\n"), steps.netHost.stderr);
  assert.equal(steps.netHost.code, 0);
  // network none: only lo, and the host's loopback server is out of reach.
  assert.deepEqual(ifaces(steps.netNone.stdout), ["lo"]);
  assert.notEqual(steps.netNone.code, 0);
  assert.match(steps.netNone.stderr, /can't connect|refused/);
  // The default network: lo and slirp4netns's tap0; host-gateway reaches the host's loopback.
  assert.deepEqual(ifaces(steps.netDefault.stdout.replace(/pong from host\n$/, "")), [
    "lo",
    "tap0",
  ]);
  assert.ok(steps.netDefault.stdout.endsWith("pong from host\n"), steps.netDefault.stderr);

  assert.equal(steps.mounts.stdout, "read only\nro-refused\n", steps.mounts.stderr);
  assert.equal(facts.rwFile, "written\n");
  // Mount targets the runtime had to create (/mnt/..., /etc/hosts, /etc/resolv.conf) are gone.
  assert.deepEqual(facts.rootfsTopAfterMounts, [
    "bin",
    "data",
    "dev",
    "etc",
    "home",
    "proc",
    "root",
    "sys",
    "tmp",
    "work",
  ]);
  assert.deepEqual(facts.etcAfter, ["group", "passwd"]);

  assert.equal(steps.overlay.code, 0, steps.overlay.stderr);
  assert.equal(steps.overlay.stdout, "data\n");
  assert.equal(facts.overlayUpper, "on-overlay\n", "the overlay's writes land in upperdir");
  assert.deepEqual(facts.overlayLowerUntouched, ["by-builder"]);

  assert.match(steps.abort.error ?? "", /^AbortError/);
  assert.ok(steps.abort.ms < 5000, `abort took ${steps.abort.ms} ms`);
  assert.deepEqual(facts.leftAfterAbort, [], "nothing left of a step after an abort");
}

/** The timings of the `true` steps, for the log. */
export function fmtTimings(r: ScenarioResults): string {
  const t = r.facts.trueMs as { min: number; median: number; max: number };
  return `true in ${t.median.toFixed(1)} ms (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})`;
}
