/**
 * The executor scenarios every executor passes (`tests/_util/executor_scenarios.ts`), run
 * with the chroot executor. `deno run -A scenarios.ts <dir>` enters img's user namespace
 * with `ensureRootless()` first, then prints the results as JSON on its last line.
 *
 * @module
 */
import { ensureRootless } from "@img/core";
import { ChrootExecutor } from "../executor.ts";
import {
  makeRootfs,
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

if (import.meta.main) {
  await ensureRootless();
  console.log(JSON.stringify(await runScenarios(Deno.args[0])));
}
