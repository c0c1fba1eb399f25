/**
 * The OCI executor run for real through crun and runc: as the user running the tests (real
 * root, in this process) and as the unprivileged test user inside img's user namespace
 * (`testdata/scenarios.ts`, spawned through `runuser` when the tests run as root).
 */
import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import { OciExecutor } from "./executor.ts";
import { lookPath } from "./runtime.ts";
import { runScenarios } from "./testdata/scenarios.ts";
import {
  checkCommonResults,
  currentUserName,
  fmtTimings as fmt,
  outsideUid,
  removeTree,
  type ScenarioResults,
  spawnScenarios as spawnOn,
  tempDirFor,
} from "../../tests/_util/executor_scenarios.ts";

const SCRIPT = new URL("./testdata/scenarios.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const TEST_USER = Deno.env.get("IMG_TEST_USER") || "imgtest";
const isRoot = Deno.uid() === 0;
const RUNTIMES = ["crun", "runc"] as const;

async function spawnScenarios(
  runtime: string,
  dir: string,
  asUser: string | undefined,
): Promise<ScenarioResults> {
  return await spawnOn(SCRIPT, [runtime, dir], asUser);
}

/** What a user would check, for one runtime, one way of running. */
function checkResults(r: ScenarioResults, rootfsDir: string, expectOutsideUid: number): void {
  const { steps, facts } = r;
  checkCommonResults(r, rootfsDir, expectOutsideUid);
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

for (const runtime of RUNTIMES) {
  const user = isRoot ? TEST_USER : undefined;
  Deno.test({
    name: `executor-oci: ${runtime}: a step left running by a killed img is killed by the next`,
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
        const stateRoot = `${dir}/state/executor/runtime/${runtime}`;
        // The container's init pid, from the runtime's state (runc: state.json, crun: status).
        const pid = await waitFor("the container", () => {
          for (
            const id of (() => {
              try {
                return [...Deno.readDirSync(stateRoot)].map((e) => e.name);
              } catch {
                return [];
              }
            })()
          ) {
            for (const [file, key] of [["state.json", "init_process_pid"], ["status", "pid"]]) {
              try {
                const n = JSON.parse(Deno.readTextFileSync(`${stateRoot}/${id}/${file}`))[key];
                if (n > 0 && alive(n)) return n as number;
              } catch {
                // not written yet
              }
            }
          }
          return undefined;
        });
        // img dies without cleaning up: SIGKILL to the namespaced process and its parent.
        const [inner, outer] = Deno.readTextFileSync(`${dir}/pids`).split(" ").map(Number);
        for (const p of [outer, inner]) {
          try {
            Deno.kill(p, "SIGKILL");
          } catch (e) {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          }
        }
        await child.status;
        await child.stderr.cancel();
        assert.ok(alive(pid), "the step outlives the killed img");
        if (user) assert.equal(Deno.statSync(`/proc/${pid}`).uid, outsideUid(user, 1000));

        const out = await new Deno.Command(cmd[0], {
          args: [...cmd.slice(1), "cleanup"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), { cleaned: 1 });
        await waitFor("the step to die", () => alive(pid) ? undefined : true);
        assert.deepEqual([...Deno.readDirSync(stateRoot)], []);
        assert.deepEqual([...Deno.readDirSync(`${dir}/state/executor/bundles`)], []);
      } finally {
        await removeTree(dir);
      }
    },
  });
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
