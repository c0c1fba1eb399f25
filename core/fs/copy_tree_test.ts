import assert from "node:assert/strict";
import * as libc from "../libc.ts";
import { copyTree } from "./copy_tree.ts";
import { diffTrees, hardlinkGroups, snapshotTree, type TreeField } from "../../tests/_util/tree.ts";
import { asTestUser, makeSharedTempDir } from "../../tests/_util/user.ts";

const isRoot = Deno.uid() === 0;
const USERNS = ["unshare", "--user", "--map-auto", "--map-root-user", "--mount", "--fork"];
const EVERYTHING: TreeField[] = ["type", "mode", "uid", "gid", "size", "mtime", "content", "link"];

/** A tree with one of everything a copy must keep. */
function populate(root: string): void {
  Deno.mkdirSync(`${root}/dir/sub`, { recursive: true });
  Deno.writeTextFileSync(`${root}/dir/file`, "content\n");
  Deno.writeTextFileSync(`${root}/dir/sub/setuid`, "#!/bin/sh\n");
  Deno.chmodSync(`${root}/dir/sub/setuid`, 0o4755);
  Deno.writeTextFileSync(`${root}/sticky-setgid`, "");
  Deno.chmodSync(`${root}/sticky-setgid`, 0o3750);
  Deno.writeFileSync(`${root}/big`, new Uint8Array(3 * 1024 * 1024).fill(7));
  Deno.writeTextFileSync(`${root}/h1`, "linked\n");
  Deno.linkSync(`${root}/h1`, `${root}/dir/h2`);
  Deno.linkSync(`${root}/h1`, `${root}/dir/sub/h3`);
  Deno.symlinkSync("../h1", `${root}/dir/rel-link`);
  Deno.symlinkSync("/does/not/exist", `${root}/dangling`);
  libc.mkfifo(`${root}/fifo`, 0o620);
  libc.lsetxattr(`${root}/dir/file`, "user.note", new Uint8Array([0, 0xff, 1]));
  Deno.mkdirSync(`${root}/readonly`);
  Deno.writeTextFileSync(`${root}/readonly/inside`, "r");
  Deno.chmodSync(`${root}/readonly`, 0o555);
  Deno.utimeSync(`${root}/dir/file`, 1_500_000_000.123, 1_600_000_000.456);
  Deno.utimeSync(`${root}/dir`, 1_600_000_100, 1_600_000_100);
  libc.lutimes(`${root}/dangling`, 1_600_000_200, 1_600_000_200);
}

function removeAll(path: string): void {
  new Deno.Command("rm", { args: ["-rf", path] }).outputSync();
}

Deno.test("copyTree keeps contents, modes, hard links, symlinks, fifos, xattrs and times", async () => {
  const base = Deno.makeTempDirSync({ prefix: "img-copy-" });
  try {
    populate(`${base}/src`);
    if (isRoot) {
      Deno.chownSync(`${base}/src/dir/file`, 1234, 5678);
      Deno.chownSync(`${base}/src/dir/sub`, 42, 43);
      libc.lchown(`${base}/src/dangling`, 7, 8);
      Deno.chmodSync(`${base}/src/dir/sub/setuid`, 0o4755);
    }
    await copyTree(`${base}/src`, `${base}/dst`);
    const src = snapshotTree(`${base}/src`);
    const dst = snapshotTree(`${base}/dst`);
    assert.deepEqual(diffTrees(src, dst, { fields: EVERYTHING }), []);
    assert.deepEqual(hardlinkGroups(dst), ["dir/h2 = dir/sub/h3 = h1"]);
    assert.equal(dst.get("dir/sub/setuid")!.mode, 0o4755);
    assert.equal(dst.get("fifo")!.type, "fifo");
    assert.deepEqual(
      libc.lgetxattr(`${base}/dst/dir/file`, "user.note"),
      new Uint8Array([0, 0xff, 1]),
    );
    // Times to the millisecond, the precision Deno reports.
    assert.equal(Deno.lstatSync(`${base}/dst/dir/file`).mtime!.getTime(), 1_600_000_000_456);
    assert.equal(Deno.lstatSync(`${base}/dst/dir`).mtime!.getTime(), 1_600_000_100_000);
    assert.equal(Deno.lstatSync(`${base}/dst/dangling`).mtime!.getTime(), 1_600_000_200_000);
    // The copy is a copy: writing it leaves the source alone.
    Deno.writeTextFileSync(`${base}/dst/h1`, "changed");
    assert.equal(Deno.readTextFileSync(`${base}/src/dir/h2`), "linked\n");
    assert.equal(Deno.readTextFileSync(`${base}/dst/dir/h2`), "changed");
  } finally {
    removeAll(base);
  }
});

Deno.test("copyTree skips device nodes it may not create and says so", async () => {
  const base = Deno.makeTempDirSync({ prefix: "img-copy-" });
  try {
    Deno.mkdirSync(`${base}/src`);
    // A character device: /dev/null's numbers. Only root outside a user namespace may make it.
    try {
      libc.mknod(`${base}/src/null`, libc.S_IFCHR | 0o666, libc.makedev(1, 3));
    } catch {
      return; // cannot even make the source here
    }
    const warnings: string[] = [];
    await copyTree(`${base}/src`, `${base}/dst`, { onWarning: (m) => warnings.push(m) });
    const made = snapshotTree(`${base}/dst`).get("null");
    if (made) {
      assert.equal(made.type, "char");
      assert.equal(made.rdev, Deno.lstatSync(`${base}/src/null`).rdev);
      assert.deepEqual(warnings, []);
    } else {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /Skipped device .*null \(1:3\)/);
    }
  } finally {
    removeAll(base);
  }
});

Deno.test({
  name: "copyTree keeps owners inside a user namespace, and copying as the user gives its own",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const base = await makeSharedTempDir("img-copy-userns-");
    const repo = new URL("../../", import.meta.url).pathname;
    const script = `
      import { copyTree } from ${JSON.stringify(new URL("./copy_tree.ts", import.meta.url).href)};
      import { snapshotTree } from ${
      JSON.stringify(new URL("../../tests/_util/tree.ts", import.meta.url).href)
    };
      const base = ${JSON.stringify(base)};
      Deno.mkdirSync(base + "/src/d", { recursive: true });
      Deno.writeTextFileSync(base + "/src/d/f", "x");
      Deno.writeTextFileSync(base + "/src/suid", "y");
      Deno.chownSync(base + "/src/d", 1000, 1001);
      Deno.chownSync(base + "/src/d/f", 65534, 65534);
      Deno.chownSync(base + "/src/suid", 0, 1000);
      Deno.chmodSync(base + "/src/suid", 0o6755);
      Deno.symlinkSync("d/f", base + "/src/l");
      await copyTree(base + "/src", base + "/same");
      await copyTree(base + "/src", base + "/mine", { sameOwner: false });
      const pick = (dir) => Object.fromEntries([...snapshotTree(dir)].map(([p, n]) =>
        [p, [n.uid, n.gid, n.mode]]));
      console.log(JSON.stringify({ src: pick(base + "/src"), same: pick(base + "/same"),
        mine: pick(base + "/mine") }));
    `;
    try {
      const cmd = asTestUser([...USERNS, Deno.execPath(), "eval", "--ext=ts", script]);
      const out = await new Deno.Command(cmd[0], {
        args: cmd.slice(1),
        cwd: repo,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, stderr);
      const trees = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(trees.src["d/f"].slice(0, 2), [65534, 65534]);
      assert.deepEqual(trees.src["d"].slice(0, 2), [1000, 1001]);
      assert.deepEqual(trees.same, trees.src, "as root of the namespace, owners are kept");
      assert.equal(trees.same["suid"][2], 0o6755, "setuid and setgid survive the chown");
      for (const [path, [uid, gid]] of Object.entries(trees.mine) as [string, number[]][]) {
        assert.deepEqual([uid, gid], [0, 0], `${path} belongs to the copying user`);
      }
    } finally {
      // Files owned by subordinate ids can only be removed from inside the namespace.
      const rm = asTestUser([...USERNS, "rm", "-rf", base]);
      await new Deno.Command(rm[0], { args: rm.slice(1) }).output();
      removeAll(base);
    }
  },
});
