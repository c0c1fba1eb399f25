/**
 * Nothing img starts outlives it: `kill -9` of img's process group, or of img's own process
 * only (as a CI runner that kills its main pid), in the middle of a RUN of `sleep 1000`
 * leaves no process of the build (the step, crun, fuse-overlayfs, the namespaced img and
 * its init, unshare) within 2 s, and the next build in the same state directory succeeds
 * and leaves no runtime state behind. Ctrl-C (SIGINT to the group) still cancels the build.
 *
 * Runs as the unprivileged test user: directly when the suite does (CI), else through
 * `runuser`. The processes of the build are img's process tree, read from `/proc` (world
 * readable) just before the kill; a process counts as gone when it no longer exists, is a
 * zombie (dead, its exit status not yet collected by its new parent), or its pid now
 * belongs to a process that started later.
 */
import { equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { imgCommand, removeTree } from "./_util/img.ts";
import { asTestUser, isRoot, makeSharedTempDir, testUserIds } from "./_util/user.ts";

/** A process: its pid, start time (clock ticks after boot), command line. */
interface Proc {
  pid: number;
  start: string;
  cmdline: string;
}

/** Process `pid` unless it is gone or a zombie. */
function proc(pid: number): Proc | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim();
    return { pid, start: fields[19], cmdline };
  } catch {
    return undefined;
  }
}

/** The children of every thread of process `pid`. */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        kids.push(
          ...Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`).trim().split(/\s+/)
            .filter((p) => p !== "").map(Number),
        );
      } catch {
        // the thread ended
      }
    }
  } catch {
    // gone
  }
  return kids;
}

/** Process `root` and all its live descendants. */
function processTree(root: number): Proc[] {
  const out: Proc[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = proc(todo.pop()!);
    if (!p) continue;
    out.push(p);
    todo.push(...childrenOf(p.pid));
  }
  return out;
}

/** Those of `procs` that still run (same pid, same start time, not a zombie). */
function stillRunning(procs: Proc[]): Proc[] {
  return procs.filter((p) => proc(p.pid)?.start === p.start);
}

/** Polls `fn` every 50 ms until it returns a value, for at most `ms`. */
async function poll<T>(ms: number, fn: () => T | undefined): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Env {
  registryHost: string;
  tmp: string;
  state: string;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await makeSharedTempDir("img-lifetime-");
  try {
    await fn({ registryHost: registry.host, tmp, state: `${tmp}/state` });
  } finally {
    if (isRoot()) {
      // Files of the subordinate ids: root removes them.
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    } else {
      await removeTree(tmp);
    }
  }
}

/** A build context whose RUN sleeps. */
async function sleepContext(env: Env): Promise<string> {
  const dir = `${env.tmp}/ctx`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    `FROM ${env.registryHost}/library/busybox:latest\nRUN sleep 1000\n`,
  );
  await Deno.chmod(dir, 0o777);
  return dir;
}

/**
 * Starts `img build` as the test user, in a process group of its own (`setsid`). Returns
 * the child and img's own pid (the group's id).
 */
async function startBuild(
  env: Env,
  backend: string,
  context: string,
  method?: string,
): Promise<{ child: Deno.ChildProcess; img: number; stderr: () => Promise<string> }> {
  const cmd = asTestUser([
    ...(method ? ["env", `IMG_ROOTLESS_METHOD=${method}`] : []),
    "setsid",
    ...imgCommand(
      [
        "build",
        "--progress=plain",
        "-b",
        backend,
        "--insecure-registry",
        env.registryHost,
        context,
      ],
      env.state,
    ),
  ]);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = new Response(child.stderr).text();
  child.stdout.cancel();
  // Through runuser, img is runuser's child; else env and setsid execute img in place.
  const img = isRoot() ? await poll(10_000, () => childrenOf(child.pid)[0]) : child.pid;
  ok(img, "img started");
  return { child, img, stderr: () => text };
}

/** Waits until the step's `sleep 1000` runs; returns img's process tree then. */
async function waitForStep(img: number, stderr: () => Promise<string>): Promise<Proc[]> {
  const tree = await poll(60_000, () => {
    const t = processTree(img);
    return t.some((p) => p.cmdline === "sleep 1000") ? t : undefined;
  });
  if (!tree) throw new Error(`the RUN step never started:\n${await stderr()}`);
  return tree;
}

/** Asserts that no process of `tree` is left within 2 s. */
async function assertNothingLeft(tree: Proc[], what: string): Promise<void> {
  const started = Date.now();
  const gone = await poll(2000, () => stillRunning(tree).length === 0 ? true : undefined);
  ok(
    gone,
    `processes of the build left ${Date.now() - started} ms after ${what}:\n${
      stillRunning(tree).map((p) => `${p.pid} ${p.cmdline}`).join("\n")
    }`,
  );
}

/** Mounts under `dir` in the host's mount table (a dead build's must not be there). */
function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4]).filter((p) => p?.startsWith(dir));
}

/** The next build in the same state directory succeeds and cleans the dead one's state. */
async function assertNextBuildWorks(env: Env, backend: string): Promise<void> {
  const dir = `${env.tmp}/next-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    `FROM ${env.registryHost}/library/busybox:latest\nRUN echo next > /next\n`,
  );
  await Deno.chmod(dir, 0o777);
  const cmd = asTestUser(
    imgCommand(
      ["build", "--progress=plain", "-b", backend, "--insecure-registry", env.registryHost, dir],
      env.state,
    ),
  );
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdin: "null" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  equal(out.code, 0, stderr);
  match(stderr, /RUN echo next > \/next\n#\d+ DONE/);
  // The recovery pass removed what the killed build left in executor/.
  for (const sub of ["bundles", "runtime/crun", "runtime/runc"]) {
    equal(list(`${env.state}/executor/${sub}`).length, 0, `executor/${sub} is empty`);
  }
}

/** The entries of a directory, or none if it does not exist. */
function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

const fuseUsable = await (async () => {
  try {
    const f = await Deno.open("/dev/fuse", { read: true, write: true });
    f.close();
    return new Deno.Command("fuse-overlayfs", { args: ["--version"] }).output()
      .then((o) => o.success, () => false);
  } catch {
    return isRoot(); // as root, /dev/fuse opens; the test user's access is what matters
  }
})();
const ids = await testUserIds();

// The newuidmap method is the fallback for util-linux before 2.38 (no --map-auto).
const CASES = [
  { backend: "overlayfs", method: undefined },
  { backend: "fuse-overlayfs", method: undefined },
  { backend: "overlayfs", method: "newuidmap" },
];

for (const { backend, method } of CASES) {
  const ignore = !ids || (backend === "fuse-overlayfs" && !fuseUsable);
  const label = method ? `${backend}, ${method}` : backend;

  for (const target of ["group", "main pid"] as const) {
    Deno.test({
      name: `process lifetime (${label}): kill -9 of img's ${target} during RUN leaves nothing`,
      ignore,
      async fn() {
        await withEnv(async (env) => {
          const context = await sleepContext(env);
          const { child, img, stderr } = await startBuild(env, backend, context, method);
          const tree = await waitForStep(img, stderr);
          const during = tree.map((p) => p.cmdline);
          // What the build runs: img, the namespaced img, the runtime, the step.
          ok(during.filter((c) => c.includes("cli/main.ts")).length >= 2, during.join("\n"));
          ok(during.some((c) => /^\S*(crun|runc) .* run /.test(c)), during.join("\n"));
          if (backend === "fuse-overlayfs") {
            ok(during.some((c) => /^\S*fuse-overlayfs -o /.test(c)), during.join("\n"));
          }
          Deno.kill(target === "group" ? -img : img, "SIGKILL");
          await assertNothingLeft(tree, `kill -9 of img's ${target}`);
          const status = await child.status;
          await stderr();
          ok(!status.success);
          equal(mountsUnder(env.state).length, 0, "no mount of the dead build is left");
          await assertNextBuildWorks(env, backend);
        });
      },
    });
  }

  Deno.test({
    name: `process lifetime (${label}): SIGINT to img's group cancels the build, nothing left`,
    ignore,
    async fn() {
      await withEnv(async (env) => {
        const context = await sleepContext(env);
        const { child, img, stderr } = await startBuild(env, backend, context, method);
        const tree = await waitForStep(img, stderr);
        Deno.kill(-img, "SIGINT");
        const status = await child.status;
        const text = await stderr();
        equal(status.code, 1, `exit code ${status.code}: ${text}`);
        match(
          text,
          /#\d+ \[2\/2\] RUN sleep 1000\n#\d+ ERROR: Dockerfile:2: The build was canceled\n/,
        );
        match(text, /\nimg: Dockerfile:2: The build was canceled\n$/);
        await assertNothingLeft(tree, "the canceled build");
        equal(list(`${env.state}/executor/bundles`).length, 0, "the canceled step cleaned up");
      });
    },
  });
}

Deno.test({
  name: "process lifetime: SIGTERM to img's main pid stops the build with 143, nothing left",
  ignore: !ids,
  async fn() {
    await withEnv(async (env) => {
      const context = await sleepContext(env);
      const { child, img, stderr } = await startBuild(env, "overlayfs", context);
      const tree = await waitForStep(img, stderr);
      Deno.kill(img, "SIGTERM");
      const status = await child.status;
      await stderr();
      equal(status.code, 143);
      await assertNothingLeft(tree, "SIGTERM");
      await assertNextBuildWorks(env, "overlayfs");
    });
  },
});
