import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import { cgroupMode, findRuntime, lookPath } from "./runtime.ts";

async function withBin(names: string[], fn: (dir: string) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-runtime-test-" });
  try {
    for (const name of names) {
      await Deno.writeTextFile(`${dir}/${name}`, "#!/bin/sh\n");
      await Deno.chmod(`${dir}/${name}`, 0o755);
    }
    await Deno.writeTextFile(`${dir}/not-executable`, "");
    fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("findRuntime prefers crun, then runc", async () => {
  await withBin(["crun", "runc"], (dir) => {
    assert.deepEqual(findRuntime(undefined, dir), {
      name: "crun",
      path: `${dir}/crun`,
      flavor: "crun",
    });
  });
  await withBin(["runc"], (dir) => {
    assert.deepEqual(findRuntime(undefined, `/nonexistent:${dir}`), {
      name: "runc",
      path: `${dir}/runc`,
      flavor: "runc",
    });
  });
});

Deno.test("findRuntime honours a name or a path", async () => {
  await withBin(["crun", "runc", "my-runc"], (dir) => {
    assert.equal(findRuntime("runc", dir).path, `${dir}/runc`);
    const custom = findRuntime(`${dir}/my-runc`, "");
    assert.deepEqual(custom, { name: "my-runc", path: `${dir}/my-runc`, flavor: "runc" });
    assert.throws(() => findRuntime(`${dir}/not-executable`, dir), ImgError);
  });
  await withBin(["crun"], (dir) => {
    assert.throws(() => findRuntime("runc", dir), {
      message:
        "OCI runtime runc not found: runc is not in PATH; install it (apt-get install runc) or set IMG_RUNTIME to crun, runc or the path of a runtime",
    });
  });
});

Deno.test("findRuntime without any runtime names the packages", async () => {
  await withBin([], (dir) => {
    assert.throws(() => findRuntime(undefined, dir), (e: unknown) => {
      assert.ok(e instanceof ImgError);
      assert.equal(
        e.message,
        "No OCI runtime found: install crun (apt-get install crun) or runc (apt-get install runc)",
      );
      return true;
    });
  });
});

Deno.test("lookPath finds executables only", async () => {
  await withBin(["tool"], (dir) => {
    assert.equal(lookPath("tool", `${dir}/`), `${dir}/tool`);
    assert.equal(lookPath("not-executable", dir), undefined);
    assert.equal(lookPath("tool", undefined), undefined);
  });
});

const line = (id: number, point: string, fstype: string) =>
  `${id} 1 0:${id} / ${point} rw,relatime shared:${id} - ${fstype} ${fstype} rw`;

Deno.test("cgroupMode reads the layout of /sys/fs/cgroup", () => {
  assert.equal(cgroupMode(line(30, "/sys/fs/cgroup", "cgroup2")), "unified");
  const hybrid = [
    line(30, "/sys/fs/cgroup", "tmpfs"),
    line(31, "/sys/fs/cgroup/cpu", "cgroup"),
    line(32, "/sys/fs/cgroup/unified", "cgroup2"),
    // img's own tmpfs stacked later does not change what the host has.
    line(99, "/sys/fs/cgroup", "tmpfs"),
  ].join("\n");
  assert.equal(cgroupMode(hybrid), "hybrid");
  assert.equal(
    cgroupMode(
      [line(30, "/sys/fs/cgroup", "tmpfs"), line(31, "/sys/fs/cgroup/cpu", "cgroup")].join("\n"),
    ),
    "legacy",
  );
  assert.equal(cgroupMode(line(1, "/", "ext4")), "none");
});
