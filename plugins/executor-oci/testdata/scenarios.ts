/**
 * The executor's end-to-end scenarios (the ones every executor passes, in
 * `tests/_util/executor_scenarios.ts`, and the OCI runtime's own), run for real through crun
 * or runc. `executor_test.ts`
 * runs them in its own process (as root) and, through this file's main, as the unprivileged
 * test user: `deno run -A scenarios.ts <runtime> <dir>` enters the user namespace with
 * `ensureRootless()` first, then prints the results as JSON on its last line.
 *
 * @module
 */
import { ensureRootless, type Mount } from "@img/core";
import {
  listDir,
  makeRootfs,
  PATH_ENV,
  pidAlive,
  runCommonScenarios,
  type ScenarioResults,
  step,
  type StepResult,
} from "../../../tests/_util/executor_scenarios.ts";
import { OciExecutor } from "../executor.ts";
import { runtimeCommand } from "../runtime.ts";
import { generateSpec } from "../spec.ts";

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

  const common = await runCommonScenarios(ex, dir, {
    leftDirs: [ex.stateRoot, `${stateDir}/executor/bundles`],
    async afterFirst() {
      await new Promise((r) => setTimeout(r, 100));
      facts.stalePidAliveAfter = stalePid > 0 && pidAlive(stalePid);
      facts.staleStateAfter = listDir(ex.stateRoot).includes(staleId);
      facts.staleBundleAfter = listDir(`${stateDir}/executor/bundles`).includes(staleId);
    },
  });
  Object.assign(steps, common.steps);
  Object.assign(facts, common.facts);

  // The other runtime in the same process afterwards (crun and runc want /sys/fs/cgroup
  // arranged differently on hybrid hosts).
  const other = runtime === "crun" ? "runc" : "crun";
  const otherEx = new OciExecutor({ stateDir: `${dir}/state-${other}`, runtime: other });
  steps.otherRuntime = await step(otherEx, rootfs, { args: ["sh", "-c", "echo other"] });
  steps.sameRuntimeAgain = await step(ex, rootfs, { args: ["sh", "-c", "echo again"] });

  return { runtime, uid: Deno.uid() ?? -1, steps, facts };
}

/**
 * For the killed-img test: `start` writes this process's pid and its parent's to
 * `dir/pids` and runs `sleep 100` as `builder` until it is killed; `cleanup` creates a new
 * executor on the same state directory and prints how many containers it cleaned up.
 */
async function killedImg(mode: string, runtime: string, dir: string): Promise<void> {
  const ex = new OciExecutor({ stateDir: `${dir}/state`, runtime });
  const rootfs: Mount[] = [{ type: "bind", source: `${dir}/rootfs`, options: ["rbind", "rw"] }];
  if (mode === "start") {
    await makeRootfs(`${dir}/rootfs`);
    await Deno.writeTextFile(`${dir}/pids`, `${Deno.pid} ${Deno.ppid}`);
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
  await ensureRootless();
  const [runtime, dir, mode] = Deno.args;
  if (mode) {
    await killedImg(mode, runtime, dir);
  } else {
    const results = await runScenarios(runtime, dir);
    console.log(JSON.stringify(results));
  }
}
