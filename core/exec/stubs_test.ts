import assert from "node:assert/strict";
import { findStubs, removeStubs } from "./stubs.ts";

Deno.test("mount stubs: created targets are removed, existing ones and content kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "img-stubs-test-" });
  try {
    await Deno.mkdir(`${root}/etc`);
    await Deno.writeTextFile(`${root}/etc/hosts`, "mine\n");
    const old = new Date("2020-01-01T00:00:00Z");
    await Deno.utime(`${root}/etc`, old, old);
    const stubs = findStubs(root, [
      "/etc/hosts",
      "/etc/resolv.conf",
      "/mnt/a/b",
      "/mnt/c",
      "/data",
    ]);
    assert.deepEqual(stubs.map((s) => s.path.slice(root.length)).sort(), [
      "/data",
      "/etc/resolv.conf",
      "/mnt",
    ]);
    // What a runtime does: create the targets; a step writes into one of them.
    await Deno.writeTextFile(`${root}/etc/resolv.conf`, "");
    await Deno.mkdir(`${root}/mnt/a/b`, { recursive: true });
    await Deno.mkdir(`${root}/mnt/c`);
    await Deno.mkdir(`${root}/data`);
    await Deno.writeTextFile(`${root}/data/kept`, "x");
    removeStubs(stubs);
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), ["data", "etc"]);
    assert.deepEqual([...Deno.readDirSync(`${root}/etc`)].map((e) => e.name), ["hosts"]);
    assert.equal(Deno.statSync(`${root}/etc`).mtime?.getTime(), old.getTime());
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
