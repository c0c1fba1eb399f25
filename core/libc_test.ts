import assert from "node:assert/strict";
import {
  CLONE_NEWUSER,
  isErrno,
  lchown,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  lutimes,
  major,
  makedev,
  minor,
  mkfifo,
  mknod,
  S_IFIFO,
  setns,
  unshare,
} from "./libc.ts";

const LIBC_URL = new URL("./libc.ts", import.meta.url).href;

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-libc-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs a TypeScript snippet in a fresh deno process, optionally under a command prefix. */
async function runScript(
  dir: string,
  source: string,
  prefix: string[] = [],
  permissions = ["-A"],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `${dir}/script.ts`;
  await Deno.writeTextFile(script, source);
  const argv = [...prefix, Deno.execPath(), "run", ...permissions, script];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("xattrs: set, get, list and remove user.* attributes on a file", async () => {
  await withTempDir((dir) => {
    const file = `${dir}/file`;
    Deno.writeTextFileSync(file, "content");
    assert.deepEqual(llistxattr(file), []);
    assert.equal(lgetxattr(file, "user.img.test"), null);

    lsetxattr(file, "user.img.test", "hello");
    lsetxattr(file, "user.img.bin", new Uint8Array([0, 1, 2, 255]));
    lsetxattr(file, "user.img.empty", new Uint8Array());
    assert.equal(new TextDecoder().decode(lgetxattr(file, "user.img.test")!), "hello");
    assert.deepEqual(lgetxattr(file, "user.img.bin"), new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual(lgetxattr(file, "user.img.empty"), new Uint8Array());
    assert.deepEqual(
      llistxattr(file).sort(),
      ["user.img.bin", "user.img.empty", "user.img.test"],
    );

    lremovexattr(file, "user.img.test");
    assert.equal(lgetxattr(file, "user.img.test"), null);
    assert.deepEqual(llistxattr(file).sort(), ["user.img.bin", "user.img.empty"]);
  });
});

Deno.test("xattrs: the l* calls act on the symlink itself, not its target", async () => {
  await withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/target`, "x");
    Deno.symlinkSync("target", `${dir}/link`);
    // Linux refuses user.* attributes on symlinks: proof that the link was not followed.
    assert.throws(() => lsetxattr(`${dir}/link`, "user.img.test", "v"), (e: unknown) => {
      assert.ok(e instanceof Deno.errors.PermissionDenied);
      assert.ok(isErrno(e, "EPERM"));
      assert.match((e as Error).message, /lsetxattr '.*\/link'/);
      return true;
    });
    assert.deepEqual(llistxattr(`${dir}/target`), []);
  });
});

Deno.test("errors carry the errno name, number, call and path like Deno's own", () => {
  assert.throws(() => lgetxattr("/nonexistent/img-test", "user.x"), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.NotFound);
    const err = e as Error & { code: string; errno: number; syscall: string; path: string };
    assert.equal(err.code, "ENOENT");
    assert.equal(err.errno, 2);
    assert.equal(err.syscall, "lgetxattr");
    assert.equal(err.path, "/nonexistent/img-test");
    assert.equal(
      err.message,
      "No such file or directory (os error 2): lgetxattr '/nonexistent/img-test'",
    );
    return true;
  });
  assert.throws(() => setns(-1, 0), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.BadResource);
    assert.ok(isErrno(e, "EBADF"));
    return true;
  });
});

Deno.test("unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded Deno process", () => {
  assert.throws(() => unshare(CLONE_NEWUSER), (e: unknown) => isErrno(e, "EINVAL"));
});

Deno.test("mknod and mkfifo create named pipes", async () => {
  await withTempDir((dir) => {
    mknod(`${dir}/fifo1`, S_IFIFO | 0o644);
    mkfifo(`${dir}/fifo2`, 0o600);
    const st1 = Deno.lstatSync(`${dir}/fifo1`);
    const st2 = Deno.lstatSync(`${dir}/fifo2`);
    assert.ok(st1.isFifo);
    assert.ok(st2.isFifo);
    assert.equal(st2.mode! & 0o777, 0o600);
    assert.throws(() => mkfifo(`${dir}/fifo2`), Deno.errors.AlreadyExists);
  });
});

Deno.test("makedev, major and minor agree with the kernel's device numbers", () => {
  assert.equal(makedev(1, 3), 259n);
  assert.equal(BigInt(Deno.statSync("/dev/null").rdev!), makedev(1, 3));
  assert.equal(makedev(0, 0), 0n);
  const dev = makedev(0x12345, 0xabcdef);
  assert.equal(major(dev), 0x12345);
  assert.equal(minor(dev), 0xabcdef);
});

Deno.test("lutimes sets a symlink's own times and leaves its target alone", async () => {
  await withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/target`, "x");
    Deno.symlinkSync("target", `${dir}/link`);
    const before = Deno.statSync(`${dir}/target`).mtime!.getTime();
    lutimes(`${dir}/link`, 1_000_000_000, new Date(1_234_567_890_500));
    const link = Deno.lstatSync(`${dir}/link`);
    assert.equal(link.mtime!.getTime(), 1_234_567_890_500);
    assert.equal(link.atime!.getTime(), 1_000_000_000_000);
    assert.equal(Deno.statSync(`${dir}/target`).mtime!.getTime(), before);
    // null leaves a time as it was.
    lutimes(`${dir}/link`, 5, null);
    assert.equal(Deno.lstatSync(`${dir}/link`).mtime!.getTime(), 1_234_567_890_500);
    assert.equal(Deno.lstatSync(`${dir}/link`).atime!.getTime(), 5000);
  });
});

Deno.test("lchown changes a symlink's owner, not its target's", async () => {
  await withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/target`, "x");
    Deno.symlinkSync("target", `${dir}/link`);
    const uid = Deno.uid()!;
    const gid = Deno.gid()!;
    if (uid !== 0) {
      lchown(`${dir}/link`, uid, gid); // a no-op change is allowed to anyone
      assert.equal(Deno.lstatSync(`${dir}/link`).uid, uid);
      return;
    }
    lchown(`${dir}/link`, 4242, 4343);
    assert.equal(Deno.lstatSync(`${dir}/link`).uid, 4242);
    assert.equal(Deno.lstatSync(`${dir}/link`).gid, 4343);
    assert.equal(Deno.statSync(`${dir}/target`).uid, 0);
  });
});

Deno.test("importing libc does not open the library: no --allow-ffi needed", async () => {
  await withTempDir(async (dir) => {
    const res = await runScript(
      dir,
      `import { isLoaded, makedev, MS_BIND } from ${JSON.stringify(LIBC_URL)};
       console.log(JSON.stringify({ loaded: isLoaded(), dev: String(makedev(1, 3)), MS_BIND }));`,
      [],
      ["--allow-read"],
    );
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), { loaded: false, dev: "259", MS_BIND: 4096 });
  });
});

Deno.test({
  name: "mount, umount2 and pivotRoot work inside unshare --user --map-root-user --mount",
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      const res = await runScript(
        dir,
        `import * as libc from ${JSON.stringify(LIBC_URL)};
const dir = ${JSON.stringify(dir)};
const out: Record<string, unknown> = { uid: Deno.uid() };
libc.mount(null, "/", null, libc.MS_REC | libc.MS_PRIVATE, null);
Deno.mkdirSync(dir + "/mnt");
libc.mount("tmpfs", dir + "/mnt", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m,mode=0755");
Deno.writeTextFileSync(dir + "/mnt/inside", "hi");
out.mounted = Deno.readTextFileSync("/proc/self/mountinfo").split("\\n")
  .some((l) => l.split(" ")[4] === dir + "/mnt" && l.includes(" - tmpfs "));
// a whiteout (0:0 character device) may be created in a user namespace
libc.mknod(dir + "/mnt/whiteout", libc.S_IFCHR, libc.makedev(0, 0));
out.whiteout = Deno.lstatSync(dir + "/mnt/whiteout").isCharDevice;
// read-only bind mount
Deno.mkdirSync(dir + "/ro");
libc.mount(dir + "/mnt", dir + "/ro", null, libc.MS_BIND, null);
libc.mount(null, dir + "/ro", null, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY, null);
try { Deno.writeTextFileSync(dir + "/ro/x", "x"); out.roWrite = "ok"; }
catch (e) { out.roWrite = (e as { code?: string }).code; }
libc.umount2(dir + "/ro", libc.MNT_DETACH);
try { libc.umount2(dir + "/ro", 0); } catch (e) { out.umountAgain = (e as { code?: string }).code; }
// pivot_root into the tmpfs
Deno.mkdirSync(dir + "/mnt/old");
libc.pivotRoot(dir + "/mnt", dir + "/mnt/old");
Deno.chdir("/");
out.rootEntries = [...Deno.readDirSync("/")].map((e) => e.name).sort();
out.inside = Deno.readTextFileSync("/inside");
libc.umount2("/old", libc.MNT_DETACH);
out.oldEntries = [...Deno.readDirSync("/old")].length;
console.log(JSON.stringify(out));
`,
        ["unshare", "--user", "--map-root-user", "--mount"],
      );
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), {
        uid: 0,
        mounted: true,
        whiteout: true,
        roWrite: "EROFS",
        umountAgain: "EINVAL",
        rootEntries: ["inside", "old", "whiteout"],
        inside: "hi",
        oldEntries: 0,
      });
      // Outside the namespace nothing was mounted.
      assert.deepEqual([...Deno.readDirSync(`${dir}/mnt`)], []);
    });
  },
});
