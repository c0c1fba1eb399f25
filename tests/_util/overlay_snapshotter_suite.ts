/**
 * Test helper: the tests every overlay-layout snapshotter (overlayfs, fuse-overlayfs) must
 * pass. They mount, so they run inside a user + mount namespace: each plugin's test file
 * calls {@linkcode overlaySnapshotterSuite}, which registers one test that re-runs the file
 * there (as the test user when the suite runs as root), and the real tests inside.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { SnapshotInfo, Snapshotter } from "../../core/mod.ts";
import { applyLayer } from "../../core/layer/mod.ts";
import { libc, withMountedDir } from "../../core/sys/mod.ts";
import { diffTrees, snapshotTree, type TreeField } from "./tree.ts";
import { asTestUser } from "./user.ts";

/** A snapshotter under test, with `close()`. */
export type ClosableSnapshotter = Snapshotter & { close(): void };

const IN_USERNS = Deno.env.get("IMG_TEST_IN_USERNS") === "1";
const FIELDS: TreeField[] = ["type", "mode", "uid", "gid", "size", "content", "link"];

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "img-overlay-" });
}

function removeAll(path: string): void {
  new Deno.Command("rm", { args: ["-rf", path] }).outputSync();
}

async function all(s: Snapshotter): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for await (const i of s.walk()) out.push(i);
  return out;
}

async function diffTar(s: Snapshotter, key: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const out = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c.slice()) });
  const { size } = await s.diff!(key, out);
  const tar = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    tar.set(c, off);
    off += c.length;
  }
  return tar;
}

async function tarNames(tar: Uint8Array): Promise<string[]> {
  const child = new Deno.Command("tar", { args: ["-tf", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(tar);
  await w.close();
  const out = await child.output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

function stream(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(data);
      c.close();
    },
  });
}

/**
 * Registers the overlay snapshotter tests for the plugin `name`: `create(root)` opens one,
 * `testFile` is the calling test file (`import.meta.url`), `mountType` the type of the
 * mounts of an active snapshot with a parent.
 */
export function overlaySnapshotterSuite(
  name: string,
  create: (root: string) => ClosableSnapshotter,
  testFile: string,
  mountType: string,
): void {
  const PREFIX = `${name} (in a user namespace): `;
  Deno.test({
    name: `${name}: the snapshotter tests, as root of a user namespace like img runs`,
    ignore: IN_USERNS,
    async fn() {
      const cmd = asTestUser([
        ...["unshare", "--user", "--map-auto", "--map-root-user", "--mount", "--fork"],
        ...["env", "NO_COLOR=1", "IMG_TEST_IN_USERNS=1", Deno.execPath(), "test", "-A"],
        ...["--no-check", "--no-lock", "--filter", PREFIX, new URL(testFile).pathname],
      ]);
      const out = await new Deno.Command(cmd[0], {
        args: cmd.slice(1),
        cwd: new URL("../../", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      assert.match(text, /ok \| 5 passed \| 0 failed/);
    },
  });

  const inner = (title: string, fn: () => Promise<void>) =>
    Deno.test({ name: PREFIX + title, ignore: !IN_USERNS, fn, sanitizeResources: false });

  inner("lifecycle: prepare, mount, commit, view, stat, usage, walk, remove", async () => {
    const root = tmp();
    const s = create(root);
    try {
      const [m1] = await s.prepare("s1", undefined, { "img.step": "1" });
      assert.equal(m1.type, "bind", "a snapshot without parent is its upper directory");
      Deno.mkdirSync(`${m1.source}/etc`);
      Deno.writeTextFileSync(`${m1.source}/etc/a`, "a\n");
      Deno.writeTextFileSync(`${m1.source}/big`, "x".repeat(100_000));
      await s.commit("S1", "s1");
      const mounts = await s.prepare("s2", "S1");
      assert.equal(mounts[0].type, mountType);
      // deno-lint-ignore require-await
      await withMountedDir(mounts, async (dir) => {
        assert.equal(Deno.readTextFileSync(`${dir}/etc/a`), "a\n", "the parent shows through");
        Deno.writeTextFileSync(`${dir}/etc/b`, "b\n");
      });
      await s.commit("S2", "s2", { "img.step": "2" });
      const info = await s.stat("S2");
      assert.equal(info?.kind, "committed");
      assert.equal(info?.parent, "S1");
      assert.deepEqual(info?.labels, { "img.step": "2" });
      const u1 = await s.usage("S1");
      const u2 = await s.usage("S2");
      assert.ok(u1.size >= 100_000, "S1 holds the big file");
      assert.ok(u2.size < 100_000, "S2 uses only what it changed, not its parent's files");
      const view = await s.view("v", "S2");
      // deno-lint-ignore require-await
      await withMountedDir(view, async (dir) => {
        assert.equal(Deno.readTextFileSync(`${dir}/etc/b`), "b\n");
        assert.throws(() => Deno.writeTextFileSync(`${dir}/etc/c`, "c"));
      });
      await assert.rejects(s.mounts("S2"), /committed/);
      await assert.rejects(s.prepare("s3", "s-missing"), /does not exist/);
      await assert.rejects(s.remove("S1"), /has children/);
      assert.deepEqual((await all(s)).map((i) => [i.key, i.kind]), [
        ["S1", "committed"],
        ["S2", "committed"],
        ["v", "view"],
      ]);
      await s.remove("v");
      await s.remove("S2");
      await s.remove("S1");
      assert.deepEqual(await all(s), []);
      assert.deepEqual([...Deno.readDirSync(`${root}/snapshots`)], []);
    } finally {
      s.close();
      removeAll(root);
    }
  });

  inner("whiteouts and opaque directories round trip through diff", async () => {
    const root = tmp();
    const target = tmp();
    const s = create(root);
    try {
      const [m1] = await s.prepare("s1");
      const a = m1.source;
      Deno.mkdirSync(`${a}/d/gone/deep`, { recursive: true });
      Deno.mkdirSync(`${a}/d/opq/sub`, { recursive: true });
      Deno.writeTextFileSync(`${a}/d/opq/old`, "old\n");
      Deno.writeTextFileSync(`${a}/d/opq/sub/x`, "x\n");
      Deno.writeTextFileSync(`${a}/d/gone/deep/f`, "f\n");
      Deno.writeTextFileSync(`${a}/d/del`, "del\n");
      Deno.writeTextFileSync(`${a}/d/chg`, "v1\n");
      Deno.writeTextFileSync(`${a}/becomes-dir`, "file\n");
      Deno.symlinkSync("chg", `${a}/d/link`);
      Deno.chownSync(`${a}/d/chg`, 1000, 1000);
      await s.commit("S1", "s1");
      const base = await diffTar(s, "S1");

      // deno-lint-ignore require-await
      await withMountedDir(await s.prepare("s2", "S1"), async (b) => {
        Deno.removeSync(`${b}/d/del`);
        Deno.removeSync(`${b}/d/gone`, { recursive: true });
        Deno.removeSync(`${b}/d/opq`, { recursive: true });
        Deno.mkdirSync(`${b}/d/opq`);
        Deno.writeTextFileSync(`${b}/d/opq/new`, "new\n");
        Deno.writeTextFileSync(`${b}/d/chg`, "v2\n");
        Deno.chmodSync(`${b}/d/chg`, 0o600);
        Deno.removeSync(`${b}/becomes-dir`);
        Deno.mkdirSync(`${b}/becomes-dir`);
        Deno.writeTextFileSync(`${b}/becomes-dir/in`, "in\n");
        Deno.writeTextFileSync(`${b}/hl1`, "hl\n");
        Deno.linkSync(`${b}/hl1`, `${b}/hl2`);
        libc.lsetxattr(`${b}/hl1`, "user.test", "1");
      });
      await s.commit("S2", "s2");
      const layer = await diffTar(s, "S2");
      const names = await tarNames(layer);
      for (const n of ["d/.wh.del", "d/.wh.gone", "d/opq/", "d/opq/.wh..wh..opq", "d/opq/new"]) {
        assert.ok(names.includes(n), `the layer has ${n}: ${names.join(", ")}`);
      }
      assert.ok(!names.some((n) => n.startsWith("d/gone/")), "a deleted directory is one entry");
      assert.ok(!names.includes("d/link"), "unchanged entries are not in the layer");

      // The two layers applied in order rebuild what a view of S2 shows.
      await applyLayer(target, stream(base), { sameOwner: true, xattrs: { lset: libc.lsetxattr } });
      await applyLayer(target, stream(layer), {
        sameOwner: true,
        xattrs: { lset: libc.lsetxattr },
      });
      // deno-lint-ignore require-await
      await withMountedDir(await s.view("v", "S2"), async (merged) => {
        assert.deepEqual(
          diffTrees(snapshotTree(merged), snapshotTree(target), { fields: FIELDS }),
          [],
        );
      });
      assert.equal(Deno.readTextFileSync(`${target}/d/opq/new`), "new\n");
      assert.deepEqual([...Deno.readDirSync(`${target}/d/opq`)].map((e) => e.name), ["new"]);
      assert.equal(Deno.lstatSync(`${target}/hl1`).ino, Deno.lstatSync(`${target}/hl2`).ino);
      assert.equal(new TextDecoder().decode(libc.lgetxattr(`${target}/hl1`, "user.test")!), "1");
      await s.remove("v");
    } finally {
      s.close();
      removeAll(root);
      removeAll(target);
    }
  });

  inner("a chain of 150 snapshots mounts (options longer than a page)", async () => {
    const root = tmp();
    const s = create(root);
    try {
      let parent: string | undefined;
      for (let i = 0; i < 150; i++) {
        // deno-lint-ignore require-await
        await withMountedDir(await s.prepare(`a${i}`, parent), async (dir) => {
          Deno.writeTextFileSync(`${dir}/f${i}`, `${i}\n`);
          if (i > 0) Deno.removeSync(`${dir}/f${i - 1}`);
        });
        await s.commit(`c${i}`, `a${i}`);
        parent = `c${i}`;
      }
      const mounts = await s.prepare("top", parent);
      const options = mounts[0].options.join(",");
      if (mounts[0].type === "overlay") assert.ok(options.length > 4096, "longer than a page");
      // deno-lint-ignore require-await
      await withMountedDir(mounts, async (dir) => {
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f149"]);
        assert.equal(Deno.readTextFileSync(`${dir}/f149`), "149\n");
      });
      await s.remove("top");
    } finally {
      s.close();
      removeAll(root);
    }
  });

  inner("crash safety: orphaned directories go, a killed prepare stays active", async () => {
    const root = tmp();
    try {
      const s = create(root);
      const [m] = await s.prepare("kept");
      Deno.writeTextFileSync(`${m.source}/half`, "written");
      // A process killed before commit leaves the active snapshot and its row...
      s.close();
      // ... and one killed in the middle of remove() a directory without a row.
      Deno.mkdirSync(`${root}/snapshots/999/fs/x`, { recursive: true });
      const again = create(root);
      try {
        assert.deepEqual([...Deno.readDirSync(`${root}/snapshots`)].map((e) => e.name), ["1"]);
        assert.deepEqual((await all(again)).map((i) => [i.key, i.kind]), [["kept", "active"]]);
        await again.commit("done", "kept");
        assert.equal((await again.stat("done"))?.kind, "committed");
      } finally {
        again.close();
      }
    } finally {
      removeAll(root);
    }
  });
}
