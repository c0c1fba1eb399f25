import assert from "node:assert/strict";
import { imgOk } from "./_util/img.ts";
import { PREREQUISITES } from "@img/core/host";

Deno.test("img doctor: every prerequisite on this (set-up) host, found where it is", async () => {
  const { stdout } = await imgOk(["doctor"]);
  const rows = stdout.split("\n");
  assert.match(rows[0], /^STATUS\s+NEEDED BY\s+WHAT\s+FOUND/);
  for (const name of ["unshare", "newuidmap/newgidmap", "subordinate ids"]) {
    assert.ok(rows.some((r) => new RegExp(`^ok\\s+build\\s+${name}`).test(r)), stdout);
  }
  assert.ok(rows.some((r) => /^ok\s+test\s+OCI runtime/.test(r)), stdout);
  const crun = rows.find((r) => / OCI runtime /.test(r))!;
  const path = crun.trim().split(/\s+/).at(-1)!;
  assert.ok(Deno.statSync(path).isFile, path);
});

Deno.test("img info is doctor; --format json lists every row of the table", async () => {
  const { stdout } = await imgOk(["info", "--format", "json"]);
  const results = JSON.parse(stdout) as { name: string; ok: boolean; need: string }[];
  for (const p of PREREQUISITES) assert.ok(results.some((r) => r.name === p.name), p.name);
  assert.ok(results.filter((r) => r.need === "build").every((r) => r.ok));
});
