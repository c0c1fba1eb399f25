import assert from "node:assert/strict";
import { join } from "node:path";
import { asTestUser, isRoot, makeSharedTempDir, testUser, testUserIds } from "./user.ts";

Deno.test("testUser names an existing non-root user", async () => {
  assert.equal(testUser(), Deno.env.get("IMG_TEST_USER") || "imgtest");
  const ids = await testUserIds();
  assert.ok(ids, `test user ${testUser()} exists`);
  assert.notEqual(ids.uid, 0);
  assert.equal(isRoot(), Deno.uid() === 0);
});

Deno.test("asTestUser runs a command as the test user", async () => {
  const cmd = asTestUser(["id", "-un"]);
  assert.equal(cmd[0] === "runuser", isRoot());
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped" }).output();
  assert.ok(out.success);
  const expected = isRoot() ? testUser() : new TextDecoder().decode(
    (await new Deno.Command("id", { args: ["-un"], stdout: "piped" }).output()).stdout,
  ).trim();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), expected);
});

Deno.test("makeSharedTempDir is writable by the test user", async () => {
  const dir = await makeSharedTempDir();
  try {
    const st = await Deno.stat(dir);
    assert.equal(st.mode! & 0o777, 0o777);
    if (isRoot()) assert.equal(st.uid, (await testUserIds())!.uid);
    const cmd = asTestUser(["touch", join(dir, "written")]);
    const out = await new Deno.Command(cmd[0], { args: cmd.slice(1) }).output();
    assert.ok(out.success);
    assert.ok((await Deno.stat(join(dir, "written"))).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
