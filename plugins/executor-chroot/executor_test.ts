/**
 * The chroot executor run for real: the scenarios every executor passes, as the user
 * running the tests (real root, in this process) and as the unprivileged test user inside
 * img's user namespace (`testdata/scenarios.ts`, spawned through `runuser` when the tests
 * run as root).
 */
import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import { ChrootExecutor } from "./executor.ts";
import { runScenarios } from "./testdata/scenarios.ts";
import {
  checkCommonResults,
  currentUserName,
  fmtTimings,
  outsideUid,
  removeTree,
  spawnScenarios,
  tempDirFor,
} from "../../tests/_util/executor_scenarios.ts";

const SCRIPT = new URL("./testdata/scenarios.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const TEST_USER = Deno.env.get("IMG_TEST_USER") || "imgtest";
const isRoot = Deno.uid() === 0;

Deno.test(`executor-chroot: as ${isRoot ? "root, in process" : "this user, rootless"}`, async () => {
  const dir = await tempDirFor(undefined);
  try {
    const results = isRoot
      ? await runScenarios(dir)
      : await spawnScenarios(SCRIPT, [dir], undefined);
    const expected = isRoot ? 1000 : outsideUid(currentUserName(), 1000);
    checkCommonResults(results, `${dir}/rootfs`, expected);
    console.log(`  chroot ${isRoot ? "root" : "rootless"}: ${fmtTimings(results)}`);
  } finally {
    await removeTree(dir);
  }
});

Deno.test({
  name: `executor-chroot: as ${TEST_USER}, rootless`,
  ignore: !isRoot,
  async fn() {
    const dir = await tempDirFor(TEST_USER);
    try {
      const results = await spawnScenarios(SCRIPT, [dir], TEST_USER);
      checkCommonResults(results, `${dir}/rootfs`, outsideUid(TEST_USER, 1000));
      console.log(`  chroot rootless (${TEST_USER}): ${fmtTimings(results)}`);
    } finally {
      await removeTree(dir);
    }
  },
});

/** The pids of the processes whose command line is `sleep <seconds>`. */
function sleepers(seconds: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
      if (cmdline === `sleep\0${seconds}\0` && state !== "Z") pids.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return pids;
}

async function waitFor<T>(what: string, fn: () => T | undefined): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const user of ["root", "builder"]) {
  Deno.test(`executor-chroot: a step running as ${user} dies with a killed img`, async () => {
    const asUser = isRoot ? TEST_USER : undefined;
    const dir = await tempDirFor(asUser);
    const seconds = String(100000 + Math.floor(Math.random() * 800000));
    try {
      const deno = [Deno.execPath(), "run", "-A", "--quiet", `--config=${CONFIG}`, SCRIPT];
      const cmd = [...(asUser ? ["runuser", "-u", asUser, "--"] : []), ...deno];
      const child = new Deno.Command(cmd[0], {
        args: [...cmd.slice(1), dir, "start", user, seconds],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const [step] = await waitFor("the step", () => {
        const found = sleepers(seconds);
        return found.length ? found : undefined;
      });
      const expectUid = user === "root"
        ? (asUser ? outsideUid(asUser, 0) : isRoot ? 0 : outsideUid(currentUserName(), 0))
        : outsideUid(asUser ?? currentUserName(), 1000);
      if (asUser || !isRoot) assert.equal(Deno.statSync(`/proc/${step}`).uid, expectUid);
      // SIGKILL to img's own process only, as a CI runner that kills its main pid does: the
      // step must die with it (img's PID namespace dies with img).
      const img = Number(
        await waitFor("img's pid", () => {
          try {
            return Deno.readTextFileSync(`${dir}/pid`) || undefined;
          } catch {
            return undefined;
          }
        }),
      );
      Deno.kill(img, "SIGKILL");
      await child.status;
      await waitFor("the step to die", () => sleepers(seconds).length ? undefined : true);
    } finally {
      for (const p of sleepers(seconds)) Deno.kill(p, "SIGKILL");
      await removeTree(dir);
    }
  });
}

Deno.test("executor-chroot: a missing tool is a clear error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-executor-test-" });
  try {
    const ex = new ChrootExecutor({ stateDir: `${dir}/state`, env: { PATH: dir } });
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
          "The chroot executor needs unshare in PATH: install util-linux (apt-get install util-linux)",
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("executor-chroot: an aborted signal rejects before anything runs", async () => {
  const ex = new ChrootExecutor({ stateDir: "/nonexistent" });
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
