import assert from "node:assert/strict";
import { API_VERSION, ImgError, NotFoundError, type SnapshotInfo, writeLayerDiff } from "@img/core";
import { pluginEntrySchemas, pluginManifestSchema } from "@img/core/loader";
import { libc } from "@img/core/sys";
import { applyLayer } from "../../core/layer/apply.ts";
import { diffTrees, hardlinkGroups, snapshotTree, type TreeField } from "../../tests/_util/tree.ts";
import { asTestUser } from "../../tests/_util/user.ts";
import native, { NativeSnapshotter, SnapshotExistsError } from "./mod.ts";

const isRoot = Deno.uid() === 0;
const FIELDS: TreeField[] = isRoot
  ? ["type", "mode", "uid", "gid", "size", "mtime", "content", "link"]
  : ["type", "mode", "size", "mtime", "content", "link"];

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "img-native-" });
}

function removeAll(path: string): void {
  new Deno.Command("rm", { args: ["-rf", path] }).outputSync();
}

async function all(snapshotter: NativeSnapshotter): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for await (const info of snapshotter.walk()) out.push(info);
  return out;
}

Deno.test("the plugin is a valid snapshotter plugin named native", () => {
  pluginManifestSchema.parse(native);
  pluginEntrySchemas.snapshotter.parse(native);
  assert.equal(native.kind, "snapshotter");
  assert.equal(native.name, "native");
  assert.equal(native.apiVersion, API_VERSION);
  const root = tmp();
  try {
    const s = native.create({ stateDir: root, env: {}, debug: () => {}, root: `${root}/native` });
    assert.equal(s.name, "native");
    s.close();
    assert.ok(Deno.statSync(`${root}/native/metadata.db`).isFile);
  } finally {
    removeAll(root);
  }
});

Deno.test("snapshot lifecycle: prepare, commit, view, mounts, stat, usage, walk, remove", async () => {
  const root = tmp();
  const s = new NativeSnapshotter(root);
  try {
    const [m] = await s.prepare("build-1", undefined, { "img.step": "1" });
    assert.equal(m.type, "bind");
    assert.deepEqual(m.options, ["rbind", "rw"]);
    assert.deepEqual([...Deno.readDirSync(m.source)], [], "a snapshot without parent is empty");
    assert.equal(Deno.statSync(m.source).mode! & 0o777, 0o755);
    Deno.writeTextFileSync(`${m.source}/hello`, "world\n");
    Deno.writeFileSync(`${m.source}/blob`, new Uint8Array(100_000).fill(1));
    assert.deepEqual(await s.mounts("build-1"), [m]);
    assert.equal((await s.stat("build-1"))?.kind, "active");

    await s.commit("base", "build-1", { "img.done": "yes" });
    assert.equal(await s.stat("build-1"), undefined, "the active key is gone");
    const base = await s.stat("base");
    assert.equal(base?.kind, "committed");
    assert.deepEqual(base?.labels, { "img.step": "1", "img.done": "yes" });
    assert.ok(base!.created instanceof Date && Date.now() - base!.created.getTime() < 60_000);
    await assert.rejects(s.mounts("base"), ImgError, "a committed snapshot has no mounts");
    const usage = await s.usage("base");
    assert.equal(usage.inodes, 3, "the root, hello and blob");
    assert.ok(usage.size >= 100_000 && usage.size < 200_000, `usage ${usage.size}`);

    const [child] = await s.prepare("build-2", "base");
    assert.notEqual(child.source, m.source);
    assert.equal(Deno.readTextFileSync(`${child.source}/hello`), "world\n");
    Deno.writeTextFileSync(`${child.source}/hello`, "changed\n");
    assert.equal(Deno.readTextFileSync(`${m.source}/hello`), "world\n", "the parent is untouched");

    const [view] = await s.view("look", "base");
    assert.deepEqual(view.options, ["rbind", "ro"]);
    assert.equal(view.source, m.source, "a view shares its committed parent's tree");
    assert.equal(s.dir("look"), m.source);
    assert.deepEqual(await s.usage("look"), { size: 0, inodes: 0 });

    await assert.rejects(s.prepare("build-2", "base"), SnapshotExistsError);
    await assert.rejects(s.prepare("x", "nope"), NotFoundError);
    await assert.rejects(s.prepare("x", "build-2"), /commit it before using it as a parent/);
    await assert.rejects(s.commit("base", "build-2"), SnapshotExistsError);
    await assert.rejects(s.commit("y", "base"), /only an active snapshot can be committed/);
    await assert.rejects(s.remove("base"), /has children \("build-2", "look"\); remove them first/);
    await assert.rejects(s.remove("nope"), NotFoundError);

    await s.commit("step-2", "build-2");
    assert.deepEqual(
      (await all(s)).map((i) => [i.key, i.kind, i.parent]),
      [["base", "committed", undefined], ["step-2", "committed", "base"], ["look", "view", "base"]],
    );
    await s.remove("look");
    await assert.rejects(s.remove("base"), /has children \("step-2"\)/);
    await s.remove("step-2");
    await s.remove("base");
    assert.deepEqual(await all(s), []);
    assert.deepEqual([...Deno.readDirSync(`${root}/snapshots`)], [], "every directory is gone");
  } finally {
    s.close();
    removeAll(root);
  }
});

Deno.test("a removed snapshot with read-only directories is removed all the same", async () => {
  const root = tmp();
  const s = new NativeSnapshotter(root);
  try {
    const [m] = await s.prepare("a");
    Deno.mkdirSync(`${m.source}/ro/deeper`, { recursive: true });
    Deno.writeTextFileSync(`${m.source}/ro/deeper/f`, "f");
    Deno.chmodSync(`${m.source}/ro/deeper`, 0o555);
    Deno.chmodSync(`${m.source}/ro`, 0o555);
    await s.commit("A", "a");
    await s.prepare("b", "A");
    await s.remove("b");
    await s.remove("A");
    assert.deepEqual([...Deno.readDirSync(`${root}/snapshots`)], []);
  } finally {
    s.close();
    removeAll(root);
  }
});

Deno.test("a directory left without metadata by a killed process is removed on open", async () => {
  const root = tmp();
  try {
    const s = new NativeSnapshotter(root);
    await s.prepare("kept");
    s.close();
    // What a process killed in the middle of remove() leaves: a directory, no row.
    Deno.mkdirSync(`${root}/snapshots/999/fs/x`, { recursive: true });
    const debug: string[] = [];
    const again = new NativeSnapshotter(root, { debug: (m) => debug.push(m) });
    again.close();
    assert.deepEqual([...Deno.readDirSync(`${root}/snapshots`)].map((e) => e.name), ["1"]);
    assert.match(debug.join("\n"), /orphaned snapshot directory 999/);
  } finally {
    removeAll(root);
  }
});

Deno.test("a process killed before commit leaves an active snapshot, never a committed one", async () => {
  const root = tmp();
  const mod = new URL("./snapshotter.ts", import.meta.url).href;
  const script = `
    import { NativeSnapshotter } from ${JSON.stringify(mod)};
    const s = new NativeSnapshotter(${JSON.stringify(root)});
    const [m] = await s.prepare("work");
    Deno.writeTextFileSync(m.source + "/half", "written");
    console.log("ready");
    await new Promise(() => setTimeout(() => {}, 60_000));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value).trim(), "ready");
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const s = new NativeSnapshotter(root);
    try {
      assert.deepEqual((await all(s)).map((i) => [i.key, i.kind]), [["work", "active"]]);
      await s.remove("work");
    } finally {
      s.close();
    }
  } finally {
    removeAll(root);
  }
});

Deno.test("two processes preparing and committing on one root at once stay consistent", async () => {
  const root = tmp();
  const mod = new URL("./snapshotter.ts", import.meta.url).href;
  const seed = new NativeSnapshotter(root);
  const [m] = await seed.prepare("seed");
  for (let i = 0; i < 50; i++) Deno.writeTextFileSync(`${m.source}/f${i}`, `file ${i}\n`);
  await seed.commit("base", "seed");
  const script = (who: string) => `
    import { NativeSnapshotter } from ${JSON.stringify(mod)};
    const s = new NativeSnapshotter(${JSON.stringify(root)});
    for (let i = 0; i < 15; i++) {
      const [m] = await s.prepare("${who}-active-" + i, "base");
      Deno.writeTextFileSync(m.source + "/who", "${who} " + i);
      await s.commit("${who}-" + i, "${who}-active-" + i);
    }
    s.close();
  `;
  try {
    const runs = ["p", "q"].map((who) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script(who)],
        cwd: new URL("../../", import.meta.url).pathname,
        stderr: "piped",
      }).output()
    );
    for (const out of await Promise.all(runs)) {
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    }
    const infos = await all(seed);
    assert.equal(infos.length, 31);
    for (const who of ["p", "q"]) {
      for (let i = 0; i < 15; i++) {
        const key = `${who}-${i}`;
        assert.equal((await seed.stat(key))?.kind, "committed", key);
        const [v] = await seed.view(`view-${key}`, key);
        assert.equal(Deno.readTextFileSync(`${v.source}/who`), `${who} ${i}`);
        assert.equal(Deno.readTextFileSync(`${v.source}/f49`), "file 49\n");
      }
    }
  } finally {
    seed.close();
    removeAll(root);
  }
});

/** Applies `layer` onto `target`, as unpacking does. */
async function apply(target: string, layer: Uint8Array): Promise<void> {
  await applyLayer(target, ReadableStream.from([layer]), {
    sameOwner: isRoot,
    xattrs: { lset: (p, n, v) => libc.lsetxattr(p, n, v) },
  });
}

async function diff(lower: string | undefined, upper: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeLayerDiff(lower, upper, new WritableStream({ write: (c) => void chunks.push(c) }));
  return new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
}

async function tarNames(layer: Uint8Array): Promise<string[]> {
  const child = new Deno.Command("tar", { args: ["-tf", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(layer);
  await w.close();
  const out = await child.output();
  assert.ok(out.success);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

const CHAIN = "a chain of three snapshots diffs into layers that rebuild each tree exactly";

Deno.test(CHAIN, chain);

Deno.test({
  name: "the chain, owners included, as root of a user namespace like img runs",
  ignore: Deno.env.get("IMG_TEST_IN_USERNS") === "1" || Deno.build.os !== "linux",
  async fn() {
    const cmd = asTestUser([
      ...["unshare", "--user", "--map-auto", "--map-root-user", "--mount", "--fork"],
      ...["env", "NO_COLOR=1", "IMG_TEST_IN_USERNS=1", Deno.execPath(), "test", "-A", "--no-check"],
      ...["--filter", CHAIN, new URL(import.meta.url).pathname],
    ]);
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text);
    assert.match(text, /ok \| 1 passed/);
  },
});

async function chain(): Promise<void> {
  const root = tmp();
  const target = tmp();
  const s = new NativeSnapshotter(root);
  try {
    // 1: a base tree.
    const [m1] = await s.prepare("s1");
    const a = m1.source;
    Deno.mkdirSync(`${a}/etc/conf.d`, { recursive: true });
    Deno.mkdirSync(`${a}/usr/bin`, { recursive: true });
    Deno.mkdirSync(`${a}/var/cache/app`, { recursive: true });
    Deno.writeTextFileSync(`${a}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
    Deno.writeTextFileSync(`${a}/etc/conf.d/a.conf`, "a=1\n");
    Deno.writeTextFileSync(`${a}/usr/bin/tool`, "#!/bin/sh\necho tool\n");
    Deno.chmodSync(`${a}/usr/bin/tool`, 0o4755);
    Deno.linkSync(`${a}/usr/bin/tool`, `${a}/usr/bin/tool-alias`);
    Deno.symlinkSync("tool", `${a}/usr/bin/t`);
    Deno.writeTextFileSync(`${a}/var/cache/app/data`, "cached\n");
    Deno.writeTextFileSync(`${a}/becomes-dir`, "I am a file\n");
    libc.lsetxattr(`${a}/etc/passwd`, "user.origin", "base");
    if (isRoot) Deno.chownSync(`${a}/var/cache/app`, 100, 101);
    await s.commit("S1", "s1");

    // 2: adds, changes and deletes.
    const [m2] = await s.prepare("s2", "S1");
    const b = m2.source;
    assert.deepEqual(
      diffTrees(snapshotTree(a), snapshotTree(b), { fields: FIELDS }),
      [],
      "a prepared snapshot is an exact copy of its parent",
    );
    assert.deepEqual(await tarNames(await diff(a, b)), [], "and nothing differs from it");
    Deno.writeTextFileSync(
      `${b}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n",
    );
    Deno.removeSync(`${b}/etc/conf.d/a.conf`);
    Deno.writeTextFileSync(`${b}/etc/conf.d/b.conf`, "b=2\n");
    Deno.removeSync(`${b}/var/cache`, { recursive: true });
    Deno.removeSync(`${b}/becomes-dir`);
    Deno.mkdirSync(`${b}/becomes-dir/inner`, { recursive: true });
    Deno.writeTextFileSync(`${b}/becomes-dir/inner/x`, "x\n");
    Deno.chmodSync(`${b}/usr/bin/tool`, 0o755); // both names of the hard link change
    Deno.writeTextFileSync(`${b}/usr/new1`, "new pair\n");
    Deno.linkSync(`${b}/usr/new1`, `${b}/usr/new2`);
    if (isRoot) Deno.chownSync(`${b}/etc/conf.d/b.conf`, 1000, 1000);
    await s.commit("S2", "s2");

    // 3: more of the same, on top.
    const [m3] = await s.prepare("s3", "S2");
    const c = m3.source;
    Deno.removeSync(`${c}/becomes-dir`, { recursive: true });
    Deno.writeTextFileSync(`${c}/becomes-dir`, "a file again\n");
    Deno.removeSync(`${c}/usr/bin/t`);
    Deno.symlinkSync("/usr/bin/tool-alias", `${c}/usr/bin/t`);
    Deno.mkdirSync(`${c}/var/cache`);
    Deno.writeTextFileSync(`${c}/var/cache/fresh`, "fresh\n");
    libc.lsetxattr(`${c}/etc/passwd`, "user.origin", "layer 3");
    Deno.chmodSync(`${c}/etc`, 0o700);
    await s.commit("S3", "s3");

    const layers: Uint8Array[] = [];
    let parent: string | undefined;
    for (const key of ["S1", "S2", "S3"]) {
      const [v] = await s.view(`view-${key}`, key);
      layers.push(await diff(parent, v.source));
      parent = v.source;
    }
    assert.ok(
      (await tarNames(layers[1])).includes("var/.wh.cache"),
      "a deleted dir is one whiteout",
    );
    assert.ok(!(await tarNames(layers[1])).some((n) => n.startsWith("var/cache/")));
    assert.ok((await tarNames(layers[1])).includes("etc/conf.d/.wh.a.conf"));

    for (const [i, key] of ["S1", "S2", "S3"].entries()) {
      await apply(target, layers[i]);
      const want = snapshotTree(s.dir(key));
      const got = snapshotTree(target);
      assert.deepEqual(diffTrees(want, got, { fields: FIELDS }), [], `after layer ${i + 1}`);
      assert.deepEqual(
        hardlinkGroups(got),
        hardlinkGroups(want),
        `hard links after layer ${i + 1}`,
      );
    }
    assert.equal(
      new TextDecoder().decode(libc.lgetxattr(`${target}/etc/passwd`, "user.origin")!),
      "layer 3",
    );
    assert.equal(Deno.readLinkSync(`${target}/usr/bin/t`), "/usr/bin/tool-alias");
    assert.deepEqual(hardlinkGroups(snapshotTree(target)), [
      "usr/bin/tool = usr/bin/tool-alias",
      "usr/new1 = usr/new2",
    ]);
  } finally {
    s.close();
    removeAll(root);
    removeAll(target);
  }
}
