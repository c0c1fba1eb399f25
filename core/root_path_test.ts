import assert from "node:assert/strict";
import { rootPath as resolveInRoot } from "./root_path.ts";

Deno.test("rootPath keeps symlinks and .. inside the root", async () => {
  const root = await Deno.makeTempDir({ prefix: "img-rootpath-test-" });
  try {
    await Deno.mkdir(`${root}/real/dir`, { recursive: true });
    await Deno.symlink("/real", `${root}/abs`);
    await Deno.symlink("real/dir", `${root}/rel`);
    await Deno.symlink("../../../../etc", `${root}/escape`);
    assert.equal(resolveInRoot(root, "/abs/dir/file"), `${root}/real/dir/file`);
    assert.equal(resolveInRoot(root, "rel/../x"), `${root}/real/x`);
    assert.equal(resolveInRoot(root, "/../../etc/passwd"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/escape/passwd"), `${root}/etc/passwd`);
    assert.equal(resolveInRoot(root, "/"), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
