/**
 * The rootless bootstrap, run for real as an unprivileged user with /etc/subuid and
 * /etc/subgid ranges: `imgtest` through runuser when the tests run as root, else the
 * current user.
 */

import assert from "node:assert/strict";

const ROOTLESS_URL = new URL("../core/rootless/mod.ts", import.meta.url).href;
const LIBC_URL = new URL("../core/libc.ts", import.meta.url).href;
const TEST_USER = "imgtest";

const SCRIPT = `
import { awaitGo, ensureRootless, inUserNamespace, startHeldRootless } from ${
  JSON.stringify(ROOTLESS_URL)
};
import * as libc from ${JSON.stringify(LIBC_URL)};
const [dir, mode, exitCode] = Deno.args;
if (!inUserNamespace()) Deno.writeTextFileSync(dir + "/parent.pid", String(Deno.pid));
// Started held (modes held-go, held-cancel): wait for the word, as img's entry does.
if (inUserNamespace()) await awaitGo();
if (mode.startsWith("held-") && !inUserNamespace()) {
  const held = await startHeldRootless();
  if (!held) {
    console.error("not held");
    Deno.exit(1);
  }
  // What the process outside does before it knows (img: the context's stamp).
  await new Promise((r) => setTimeout(r, 200));
  if (mode === "held-cancel") {
    held.cancel();
    Deno.exit(5);
  }
  await held.go({ IMG_TEST_WORD: "sent with go" });
}
if (inUserNamespace()) Deno.writeTextFileSync(dir + "/ran-inside", "");
try {
  await ensureRootless({
    debug: (m) => console.error("debug: " + m),
    host: mode === "no-range" ? { subuidPath: dir + "/subuid" } : undefined,
  });
} catch (e) {
  console.error((e as Error).name + ": " + (e as Error).message);
  Deno.exit(1);
}
const out: Record<string, unknown> = {
  uid: Deno.uid(),
  gid: Deno.gid(),
  uidMap: Deno.readTextFileSync("/proc/self/uid_map"),
  gidMap: Deno.readTextFileSync("/proc/self/gid_map"),
  pid: Deno.pid,
  ppid: Deno.ppid,
  pidNamespace: Deno.env.get("IMG_PID_NAMESPACE"),
  args: Deno.args,
  childEnv: Deno.env.get("IMG_ROOTLESS_CHILD"),
  word: Deno.env.get("IMG_TEST_WORD"),
  held: Deno.env.get("IMG_ROOTLESS_HELD"),
};
Deno.writeTextFileSync(dir + "/owned", "x");
try {
  libc.lchown(dir + "/owned", 1000, 1000);
  out.chown = "ok";
} catch (e) {
  out.chown = (e as { code?: string }).code;
}
Deno.mkdirSync(dir + "/mnt");
libc.mount("tmpfs", dir + "/mnt", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m");
Deno.writeTextFileSync(dir + "/mnt/inside", "x");
out.mounted = Deno.readTextFileSync("/proc/self/mountinfo").split("\\n")
  .some((l) => l.split(" ")[4] === dir + "/mnt" && l.includes(" - tmpfs "));
if (mode === "wait-signal") {
  for (const [sig, code] of [["SIGTERM", 7], ["SIGINT", 8]] as const) {
    Deno.addSignalListener(sig, () => Deno.exit(code));
  }
  console.log("ready");
  setTimeout(() => Deno.exit(99), 30_000);
} else if (mode === "wait-default") {
  console.log("ready");
  setTimeout(() => Deno.exit(99), 30_000);
} else {
  out.stdin = await new Response(Deno.stdin.readable).text();
  console.log(JSON.stringify(out));
  Deno.exit(Number(exitCode));
}
`;

interface TestUser {
  name: string;
  uid: number;
  gid: number;
  /** The command prefix that runs a program as this user. */
  prefix: string[];
}

function passwdEntry(match: (fields: string[]) => boolean): string[] | undefined {
  return Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":")).find(match);
}

function testUser(): TestUser {
  if (Deno.uid() === 0) {
    const entry = passwdEntry((f) => f[0] === TEST_USER);
    assert.ok(entry, `the rootless tests need the unprivileged user ${TEST_USER}`);
    return {
      name: TEST_USER,
      uid: Number(entry[2]),
      gid: Number(entry[3]),
      prefix: ["runuser", "-u", TEST_USER, "--"],
    };
  }
  const uid = Deno.uid()!;
  const entry = passwdEntry((f) => f[2] === String(uid));
  return { name: entry?.[0] ?? String(uid), uid, gid: Deno.gid()!, prefix: [] };
}

/** The user's first range in a subid file, read here independently of core/rootless/subid.ts. */
function firstSubId(path: string, user: TestUser): [number, number] {
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    const m = line.match(/^([^:#]+):(\d+):(\d+)$/);
    if (m && (m[1] === user.name || m[1] === String(user.uid))) return [Number(m[2]), Number(m[3])];
  }
  throw new Error(`${user.name} has no range in ${path}: the rootless tests need one`);
}

async function withTestDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-rootless-test-" });
  await Deno.chmod(dir, 0o777); // the test user writes here
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, SCRIPT);
    await Deno.chmod(`${dir}/main.ts`, 0o644);
    await fn(dir);
  } finally {
    // Files chowned into the subordinate range are removable by root or their owner only.
    if (Deno.uid() !== 0) {
      await new Deno.Command("unshare", {
        args: ["--user", "--map-auto", "--map-root-user", "rm", "-rf", dir],
      }).output();
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function command(
  user: TestUser,
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Deno.Command {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = [
    ...user.prefix,
    "env",
    ...envArgs,
    Deno.execPath(),
    "run",
    "-A",
    `${dir}/main.ts`,
    dir,
    ...args,
  ];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: dir,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(
  user: TestUser,
  dir: string,
  args: string[],
  { stdin = "", env = {} }: { stdin?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = command(user, dir, args, env).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function mapLines(text: string): string[] {
  return text.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
}

for (const method of ["map-auto", "newuidmap"] as const) {
  Deno.test(`rootless (${method}): root inside, subordinate ids mapped, chown and mount work, exit code and stdin pass through`, async () => {
    const user = testUser();
    const [uidStart, uidCount] = firstSubId("/etc/subuid", user);
    const [gidStart, gidCount] = firstSubId("/etc/subgid", user);
    await withTestDir(async (dir) => {
      const res = await run(user, dir, ["plain", "3", "an arg with spaces"], {
        stdin: "hello from stdin\n",
        env: method === "newuidmap" ? { IMG_ROOTLESS_METHOD: "newuidmap" } : {},
      });
      assert.equal(res.code, 3, res.stderr);
      const out = JSON.parse(res.stdout);
      assert.equal(out.uid, 0);
      assert.equal(out.gid, 0);
      assert.deepEqual(mapLines(out.uidMap), [`0 ${user.uid} 1`, `1 ${uidStart} ${uidCount - 1}`]);
      assert.deepEqual(mapLines(out.gidMap), [`0 ${user.gid} 1`, `1 ${gidStart} ${gidCount - 1}`]);
      assert.equal(out.childEnv, "1");
      assert.deepEqual(out.args, [dir, "plain", "3", "an arg with spaces"]);
      assert.equal(out.stdin, "hello from stdin\n");
      // The namespaced process runs in its own PID namespace (with its own /proc), as the
      // child of the namespace's init, so that everything in it dies with img.
      assert.equal(out.pid, 2);
      assert.equal(out.ppid, 1);
      assert.equal(out.pidNamespace, "1");
      // uid 1000 inside is subordinate id start + 999 outside.
      assert.equal(out.chown, "ok");
      const st = await Deno.lstat(`${dir}/owned`);
      assert.equal(st.uid, uidStart + 999);
      assert.equal(st.gid, gidStart + 999);
      // The tmpfs was mounted inside, in a private mount namespace: not visible outside.
      assert.equal(out.mounted, true);
      assert.deepEqual([...Deno.readDirSync(`${dir}/mnt`)], []);
      assert.match(res.stderr, /debug: rootless: already inside the user namespace/);
    });
  });
}

for (const method of ["map-auto", "newuidmap"] as const) {
  Deno.test(`rootless (held, ${method}): img inside starts before it is needed and runs with what go sends`, async () => {
    const user = testUser();
    await withTestDir(async (dir) => {
      const res = await run(user, dir, ["held-go", "4"], {
        stdin: "not for the held child\n",
        env: method === "newuidmap" ? { IMG_ROOTLESS_METHOD: "newuidmap" } : {},
      });
      assert.equal(res.code, 4, res.stderr);
      const out = JSON.parse(res.stdout);
      assert.equal(out.uid, 0);
      assert.equal(out.word, "sent with go");
      assert.equal(out.held, undefined);
      assert.equal(out.pid, 2);
      assert.equal(out.chown, "ok");
      // Its standard input was the word, then the end of it.
      assert.equal(out.stdin, "");
    });
  });
}

Deno.test("rootless (held): img inside sent away does nothing, prints nothing and is gone", async () => {
  const user = testUser();
  await withTestDir(async (dir) => {
    const res = await run(user, dir, ["held-cancel", "0"]);
    assert.equal(res.code, 5, res.stderr);
    assert.equal(res.stdout, "");
    // Whatever the held process was doing, it ends without running the program's work.
    const running = () =>
      [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).some((e) => {
        try {
          return Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(`${dir}/main.ts`);
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 50 && running(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(running(), false);
    assert.equal(await Deno.stat(`${dir}/ran-inside`).then(() => true, () => false), false);
  });
});

Deno.test("rootless (single mapping): only the user's own id is mapped, chown fails", async () => {
  const user = testUser();
  await withTestDir(async (dir) => {
    const res = await run(user, dir, ["plain", "0"], { env: { IMG_ROOTLESS_METHOD: "single" } });
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.uid, 0);
    assert.deepEqual(mapLines(out.uidMap), [`0 ${user.uid} 1`]);
    assert.equal(out.chown, "EINVAL");
    assert.equal(out.mounted, true);
    assert.match(res.stderr, /warning: .*files owned by other users cannot be created/);
  });
});

for (
  const [mode, what, codes] of [
    ["wait-signal", "its listeners", { SIGTERM: 7, SIGINT: 8 }],
    // No listener (img unpack): the default action, death, as 128+n.
    ["wait-default", "their default action", { SIGTERM: 143, SIGINT: 130 }],
  ] as const
) {
  Deno.test(`rootless: SIGTERM and SIGINT sent to img reach the namespaced child, ${what}`, async () => {
    const user = testUser();
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      await withTestDir(async (dir) => {
        const child = command(user, dir, [mode]).spawn();
        await child.stdin.close();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("ready\n")) {
          const { value, done } = await reader.read();
          assert.ok(!done, "the child exited before it was ready");
          seen += value;
        }
        const parentPid = Number(await Deno.readTextFile(`${dir}/parent.pid`));
        Deno.kill(parentPid, signal);
        const [status] = await Promise.all([
          child.status,
          reader.cancel(),
          child.stderr.cancel(),
        ]);
        assert.equal(status.code, codes[signal], `after ${signal}`);
      });
    }
  });
}

Deno.test("rootless: a user without a subuid range gets one line saying what to add, before any spawn", async () => {
  const user = testUser();
  await withTestDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/subuid`, "someoneelse:100000:65536\n");
    const res = await run(user, dir, ["no-range", "0"]);
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr.trim(),
      `ImgError: No subordinate uid range for ${user.name} in ${dir}/subuid: add a line such as "${user.name}:165536:65536" (as root: usermod --add-subuids 165536-231071 ${user.name}), or set IMG_ROOTLESS_SINGLE_MAPPING=1 to run with a single uid (chown to other ids then fails)`,
    );
    assert.equal(res.stdout, "");
  });
});
