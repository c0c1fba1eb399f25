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
