import assert from "node:assert/strict";
import { chooseExecutor } from "./executor_choice.ts";

Deno.test("chooseExecutor: oci when a runtime is in PATH, else chroot; a name is kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-executor-choice-" });
  try {
    await Deno.mkdir(`${dir}/with`);
    await Deno.mkdir(`${dir}/without`);
    await Deno.writeTextFile(`${dir}/with/runc`, "#!/bin/sh\n", { mode: 0o755 });
    assert.deepEqual(chooseExecutor("auto", { PATH: `${dir}/without:${dir}/with` }), {
      name: "oci",
      reason: `auto: found runc at ${dir}/with/runc`,
    });
    assert.deepEqual(chooseExecutor("auto", { PATH: `${dir}/without` }), {
      name: "chroot",
      reason: "auto: neither crun nor runc is in PATH",
    });
    assert.equal(chooseExecutor("auto", { PATH: "", IMG_RUNTIME: "/opt/crun" }).name, "oci");
    assert.deepEqual(chooseExecutor("chroot", { PATH: `${dir}/with` }), {
      name: "chroot",
      reason: "from --executor",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
