/**
 * The executor scenarios every executor passes (`tests/_util/executor_scenarios.ts`), run
 * with the chroot executor. `deno run -A scenarios.ts <dir>` enters img's user namespace
 * with `ensureRootless()` first, then prints the results as JSON on its last line;
 * `scenarios.ts <dir> start <user> <seconds>` runs one long step for the killed-img test.
 *
 * @module
 */
import { ensureRootless, inUserNamespace } from "@img/core/rootless";
import { ChrootExecutor } from "../executor.ts";
import {
  makeRootfs,
  PATH_ENV,
  runCommonScenarios,
  type ScenarioResults,
} from "../../../tests/_util/executor_scenarios.ts";

/** Runs the scenarios with a chroot executor whose state is `dir/state`, on `dir/rootfs`. */
export async function runScenarios(dir: string): Promise<ScenarioResults> {
  await makeRootfs(`${dir}/rootfs`);
  const ex = new ChrootExecutor({ stateDir: `${dir}/state` });
  const { steps, facts } = await runCommonScenarios(ex, dir, { leftDirs: [ex.dir] });
  return { runtime: "chroot", uid: Deno.uid() ?? -1, steps, facts };
}

/**
 * For the killed-img test: runs `sleep <seconds>` as `user` until it is killed (main has
 * written img's own pid, outside the namespace, to `dir/pid`).
 */
async function killedImg(dir: string, user: string, seconds: string): Promise<void> {
  await makeRootfs(`${dir}/rootfs`);
  const ex = new ChrootExecutor({ stateDir: `${dir}/state` });
  await ex.run(
    [{ type: "bind", source: `${dir}/rootfs`, options: ["rbind", "rw"] }],
    { args: ["sleep", seconds], env: [PATH_ENV], cwd: "/", uid: 0, gid: 0, user, network: "host" },
    [],
    {},
  );
}

if (import.meta.main) {
  const [dir, mode, user, seconds] = Deno.args;
  if (mode === "start" && !inUserNamespace()) {
    await Deno.writeTextFile(`${dir}/pid`, String(Deno.pid));
  }
  await ensureRootless();
  if (mode === "start") await killedImg(dir, user, seconds);
  else console.log(JSON.stringify(await runScenarios(dir)));
}
