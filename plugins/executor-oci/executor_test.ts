/**
 * The OCI executor run for real through crun and runc: as the user running the tests (real
 * root, in this process) and as the unprivileged test user inside img's user namespace
 * (`testdata/scenarios.ts`, spawned through `runuser` when the tests run as root).
 */
import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import { OciExecutor } from "./executor.ts";
import { lookPath } from "./runtime.ts";
import { runScenarios, type ScenarioResults } from "./testdata/scenarios.ts";

const SCRIPT = new URL("./testdata/scenarios.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const TEST_USER = Deno.env.get("IMG_TEST_USER") || "imgtest";
const isRoot = Deno.uid() === 0;
const RUNTIMES = ["crun", "runc"] as const;

function userIds(name: string): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":"))
    .find((f) => f[0] === name);
  assert.ok(line, `the rootless tests need the unprivileged user ${name}`);
  return { uid: Number(line[2]), gid: Number(line[3]) };
}

function currentUserName(): string {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":"))
    .find((f) => f[2] === String(Deno.uid()));
  assert.ok(line, `uid ${Deno.uid()} is not in /etc/passwd`);
  return line[0];
}

/** The host uid that uid `inside` of `user`'s namespace maps to (inside 1.. = the subuid range). */
function outsideUid(user: string, inside: number): number {
  const { uid } = userIds(user);
  if (inside === 0) return uid;
  const range = Deno.readTextFileSync("/etc/subuid").split("\n").map((l) => l.split(":"))
    .find((f) => f[0] === user || f[0] === String(uid));
  assert.ok(range, `${user} needs an /etc/subuid range`);
  return Number(range[1]) + inside - 1;
}

async function tempDirFor(user: string | undefined): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "img-executor-test-" });
  if (user) {
    const { uid, gid } = userIds(user);
    await Deno.chown(dir, uid, gid);
  }
  return dir;
}

/** Removes a tree whose files may belong to subordinate ids. */
async function removeTree(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch {
    await new Deno.Command("unshare", {
      args: ["--user", "--map-auto", "--map-root-user", "--", "rm", "-rf", dir],
    }).output();
  }
}

async function spawnScenarios(
  runtime: string,
  dir: string,
  asUser: string | undefined,
): Promise<ScenarioResults> {
  const deno = [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    `--config=${CONFIG}`,
    SCRIPT,
    runtime,
    dir,
  ];
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

/** What a user would check, for one runtime, one way of running. */
function checkResults(r: ScenarioResults, rootfsDir: string, expectOutsideUid: number): void {
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
  assert.deepEqual(facts.stateAfterAbort, [], "no container left after an abort");
  assert.deepEqual(facts.bundlesAfterAbort, [], "no bundle left after an abort");

  assert.equal(facts.staleStarted, true);
  assert.equal(facts.stalePidAliveBefore, true);
  assert.equal(facts.stalePidAliveAfter, false, "a container left by a dead img is killed");
  assert.equal(facts.staleStateAfter, false);
  assert.equal(facts.staleBundleAfter, false);

  assert.equal(steps.otherRuntime.stdout, "other\n", steps.otherRuntime.stderr);
  assert.equal(steps.sameRuntimeAgain.stdout, "again\n", steps.sameRuntimeAgain.stderr);
}

const timings: string[] = [];

for (const runtime of RUNTIMES) {
  const installed = lookPath(runtime, Deno.env.get("PATH")) !== undefined;

  Deno.test({
    name: `executor-oci: ${runtime} as ${isRoot ? "root, in process" : "this user, rootless"}`,
    ignore: !installed,
    async fn() {
      const dir = await tempDirFor(undefined);
      try {
        const results = isRoot
          ? await runScenarios(runtime, dir)
          : await spawnScenarios(runtime, dir, undefined);
        const expected = isRoot ? 1000 : outsideUid(currentUserName(), 1000);
        checkResults(results, `${dir}/rootfs`, expected);
        timings.push(`${runtime} ${isRoot ? "root" : "rootless"}: ${fmt(results)}`);
      } finally {
        await removeTree(dir);
      }
    },
  });

  Deno.test({
    name: `executor-oci: ${runtime} as ${TEST_USER}, rootless`,
    ignore: !installed || !isRoot,
    async fn() {
      const dir = await tempDirFor(TEST_USER);
      try {
        const results = await spawnScenarios(runtime, dir, TEST_USER);
        checkResults(results, `${dir}/rootfs`, outsideUid(TEST_USER, 1000));
        timings.push(`${runtime} rootless (${TEST_USER}): ${fmt(results)}`);
      } finally {
        await removeTree(dir);
      }
    },
  });
}

/** Whether process `pid` runs (a zombie nobody reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The host pids of the running `sleep 100` processes of host uid `uid`. */
function sleepsOf(uid: number): number[] {
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (cmdline === "sleep\0" + "100\0" && Deno.statSync(`/proc/${e.name}`).uid === uid) {
        if (alive(Number(e.name))) found.push(Number(e.name));
      }
    } catch {
      // gone
    }
  }
  return found;
}

for (const runtime of RUNTIMES) {
  const user = isRoot ? TEST_USER : undefined;
  Deno.test({
    name: `executor-oci: ${runtime}: a step dies with a killed img; the next cleans its state`,
    ignore: lookPath(runtime, Deno.env.get("PATH")) === undefined,
    async fn() {
      const dir = await tempDirFor(user);
      try {
        const deno = [Deno.execPath(), "run", "-A", "--quiet", `--config=${CONFIG}`, SCRIPT];
        const cmd = [...(user ? ["runuser", "-u", user, "--"] : []), ...deno, runtime, dir];
        const child = new Deno.Command(cmd[0], {
          args: [...cmd.slice(1), "start"],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const stepUid = outsideUid(user ?? currentUserName(), 1000);
        const before = new Set(sleepsOf(stepUid));
        const step = await waitFor("the step", () => sleepsOf(stepUid).find((p) => !before.has(p)));
        // SIGKILL to img's own process only, as a CI runner that kills its main pid does.
        const img = Number(Deno.readTextFileSync(`${dir}/pid`));
        Deno.kill(img, "SIGKILL");
        await child.status;
        await child.stderr.cancel();
        await waitFor("the step to die with img", () => alive(step) ? undefined : true);
        const stateRoot = `${dir}/state/executor/runtime/${runtime}`;
        assert.equal(Deno.readDirSync(stateRoot).toArray().length, 1, "the runtime state is left");

        const out = await new Deno.Command(cmd[0], {
          args: [...cmd.slice(1), "cleanup"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), { cleaned: 1 });
        assert.deepEqual([...Deno.readDirSync(stateRoot)], []);
        assert.deepEqual([...Deno.readDirSync(`${dir}/state/executor/bundles`)], []);
      } finally {
        await removeTree(dir);
      }
    },
  });
}

function fmt(r: ScenarioResults): string {
  const t = r.facts.trueMs as { min: number; median: number; max: number };
  return `true in ${t.median.toFixed(1)} ms (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})`;
}

Deno.test({
  name: "executor-oci: timings of one `true` step",
  fn() {
    for (const t of timings) console.log(`  ${t}`);
  },
});

Deno.test("executor-oci: no runtime installed is a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-executor-test-" });
  try {
    await Deno.mkdir(`${dir}/empty-bin`);
    const ex = new OciExecutor({ stateDir: `${dir}/state`, env: { PATH: `${dir}/empty-bin` } });
    await assert.rejects(
      ex.run(
        [{ type: "bind", source: dir, options: ["rbind"] }],
        { args: ["true"], env: [], cwd: "/", uid: 0, gid: 0, network: "host" },
        [],
        {},
      ),
      (e: unknown) => {
        assert.ok(e instanceof ImgError);
        assert.equal(
          e.message,
          "No OCI runtime found: install crun (apt-get install crun) or runc (apt-get install runc)",
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("executor-oci: an aborted signal rejects before anything runs", async () => {
  const ex = new OciExecutor({ stateDir: "/nonexistent" });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    ex.run(
      [],
      { args: ["true"], env: [], cwd: "/", uid: 0, gid: 0, network: "host" },
      [],
      {},
      ac.signal,
    ),
    { name: "AbortError" },
  );
});
