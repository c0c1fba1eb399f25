import assert from "node:assert/strict";
import { gitContextSpec, KEEP_GIT_DIR_ARG } from "./_git_context.ts";

Deno.test("gitContextSpec: git URLs by BuildKit's rules, .git kept by the build argument", async () => {
  assert.equal(await gitContextSpec("./ctx", {}), undefined);
  assert.equal(await gitContextSpec("https://example.com/ctx.tar.gz", {}), undefined);
  assert.deepEqual(await gitContextSpec("https://h/org/r.git#v1:app", {}), {
    remote: "https://h/org/r.git",
    ref: "v1",
    subdir: "app",
    keepGitDir: false,
  });
  for (const v of ["1", "true"]) {
    assert.equal(
      (await gitContextSpec("git@h:r.git", { [KEEP_GIT_DIR_ARG]: v }))?.keepGitDir,
      true,
    );
  }
  assert.equal(
    (await gitContextSpec("git@h:r.git", { [KEEP_GIT_DIR_ARG]: "0" }))?.keepGitDir,
    false,
  );
  // SOURCE_DATE_EPOCH: the commit's time on every file (BuildKit's git.mtime=commit).
  assert.equal((await gitContextSpec("git@h:r.git", {}))?.mtime, undefined);
  assert.equal((await gitContextSpec("git@h:r.git", { SOURCE_DATE_EPOCH: "1" }))?.mtime, "commit");
  assert.equal(
    (await gitContextSpec("git@h:r.git", {}, { SOURCE_DATE_EPOCH: "1" }))?.mtime,
    "commit",
  );
  assert.equal(
    (await gitContextSpec("github.com/org/r", {}))?.remote,
    "https://github.com/org/r",
    "github.com/... without a scheme, when no such directory exists",
  );
});

Deno.test("gitContextSpec: a local directory named github.com/... stays a directory", async () => {
  const dir = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  try {
    await Deno.mkdir(`${dir}/github.com/org/r`, { recursive: true });
    Deno.chdir(dir);
    assert.equal(await gitContextSpec("github.com/org/r", {}), undefined);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});
