import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { createHash } from "node:crypto";
import { applyLayer, type ApplyLayerOptions, type XattrWriter } from "./apply.ts";
import { decompressStream } from "./decompress.ts";
import { decompressInWorker } from "./decompress_worker.ts";
import { encodeHeader } from "./tar_writer.ts";
import { decodeName } from "../fs/raw_name.ts";
import { concatBytes } from "../_bytes.ts";
import { sha256 } from "../digest.ts";
import { ImgError } from "../errors.ts";
import { type LayerEntry, streamOf, tarLayer } from "../../tests/_util/layers.ts";
import { diffTrees, hardlinkGroups, snapshotTree, type Tree } from "../../tests/_util/tree.ts";

const isRoot = Deno.uid() === 0;

/** A scratch area: `target` to unpack into, `sentinel` next to it that must never change. */
function scratch(): { base: string; target: string; sentinel: string; cleanup: () => void } {
  const base = Deno.makeTempDirSync({ prefix: "img-layer-" });
  const target = `${base}/target`;
  const sentinel = `${base}/sentinel`;
  Deno.mkdirSync(target);
  Deno.mkdirSync(`${sentinel}/dir`, { recursive: true });
  Deno.writeTextFileSync(`${sentinel}/secret`, "do not touch");
  Deno.writeTextFileSync(`${sentinel}/dir/inner`, "inner");
  Deno.chmodSync(`${sentinel}/secret`, 0o600);
  const cleanup = () => {
    // Layers may leave read-only directories behind; make them writable to remove them.
    new Deno.Command("chmod", { args: ["-R", "u+rwX", base] }).outputSync();
    Deno.removeSync(base, { recursive: true });
  };
  return { base, target, sentinel, cleanup };
}

function apply(dir: string, entries: LayerEntry[], options?: ApplyLayerOptions) {
  return applyLayer(dir, streamOf(tarLayer(entries), 1000), options);
}

function text(path: string): string {
  return Deno.readTextFileSync(path);
}

function mode(path: string): number {
  return Deno.lstatSync(path).mode! & 0o7777;
}

function mtime(path: string): number {
  return Deno.lstatSync(path).mtime!.getTime() / 1000;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Snapshot of everything in `base` but `target`, with times, to prove nothing else changed. */
function outsideState(base: string): Tree {
  const tree = snapshotTree(base);
  for (const p of [...tree.keys()]) if (p === "target" || p.startsWith("target/")) tree.delete(p);
  return tree;
}

function assertUnchanged(before: Tree, after: Tree) {
  assert.deepEqual(
    diffTrees(before, after, {
      fields: ["type", "mode", "uid", "gid", "size", "mtime", "content"],
    }),
    [],
  );
}

Deno.test("applyLayer writes files, dirs, symlinks, hard links, devices, modes and mtimes", async () => {
  const { target, cleanup } = scratch();
  try {
    const seen: string[] = [];
    const result = await apply(target, [
      { type: "dir", path: "bin", mode: 0o755, mtime: 1_500_000_000 },
      { type: "file", path: "bin/su", content: "su binary", mode: 0o4755, mtime: 1_400_000_000 },
      { type: "file", path: "bin/sg", content: "sg", mode: 0o2711 },
      { type: "dir", path: "tmp", mode: 0o1777, mtime: 1_300_000_000 },
      { type: "dir", path: "ro", mode: 0o555 },
      { type: "file", path: "ro/file", content: "inside a read-only dir", mode: 0o444 },
      { type: "symlink", path: "bin/sh", target: "busybox", mtime: 1_200_000_000 },
      { type: "symlink", path: "etc-passwd", target: "/etc/passwd" },
      { type: "file", path: "bin/busybox", content: "x".repeat(5000), mode: 0o755 },
      { type: "hardlink", path: "bin/ls", target: "bin/busybox" },
      { type: "hardlink", path: "bin/cat", target: "/bin/busybox" },
      { type: "file", path: "usr/share/doc/deep/README", content: "missing parents" },
      { type: "file", path: "/abs/rooted", content: "absolute names are rooted in the dir" },
      { type: "file", path: "./dot/./slash//name", content: "cleaned" },
      { type: "fifo", path: "run/fifo", mode: 0o620 },
      { type: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
      { type: "file", path: "empty", content: "" },
    ], { onEntry: (p) => seen.push(p) });

    assert.equal(result.entries, 17);
    assert.equal(result.bytes, 9 + 2 + 22 + 5000 + 15 + 36 + 7);
    assert.deepEqual(seen.slice(0, 3), ["bin", "bin/su", "bin/sg"]);
    assert.ok(seen.includes("abs/rooted") && seen.includes("dot/slash/name"));

    assert.equal(text(`${target}/bin/su`), "su binary");
    assert.equal(mode(`${target}/bin/su`), 0o4755);
    assert.equal(mode(`${target}/bin/sg`), 0o2711);
    assert.equal(mode(`${target}/tmp`), 0o1777);
    assert.equal(mode(`${target}/ro`), 0o555);
    assert.equal(mode(`${target}/ro/file`), 0o444);
    assert.equal(text(`${target}/ro/file`), "inside a read-only dir");
    assert.equal(mtime(`${target}/bin/su`), 1_400_000_000);
    // Directory times are set at the end, after their children were written.
    assert.equal(mtime(`${target}/bin`), 1_500_000_000);
    assert.equal(mtime(`${target}/tmp`), 1_300_000_000);
    assert.equal(Deno.readLinkSync(`${target}/bin/sh`), "busybox");
    assert.equal(mtime(`${target}/bin/sh`), 1_200_000_000);
    assert.equal(Deno.readLinkSync(`${target}/etc-passwd`), "/etc/passwd");
    const busybox = Deno.lstatSync(`${target}/bin/busybox`);
    assert.equal(busybox.nlink, 3);
    assert.equal(Deno.lstatSync(`${target}/bin/ls`).ino, busybox.ino);
    assert.equal(Deno.lstatSync(`${target}/bin/cat`).ino, busybox.ino);
    assert.equal(text(`${target}/usr/share/doc/deep/README`), "missing parents");
    assert.equal(mode(`${target}/usr/share/doc`), 0o755);
    assert.equal(text(`${target}/abs/rooted`), "absolute names are rooted in the dir");
    assert.equal(text(`${target}/dot/slash/name`), "cleaned");
    assert.equal(Deno.readFileSync(`${target}/empty`).length, 0);
    assert.ok(Deno.lstatSync(`${target}/run/fifo`).isFifo);
    assert.equal(mode(`${target}/run/fifo`), 0o620);
    if (isRoot) {
      const dev = Deno.lstatSync(`${target}/dev/null`);
      assert.ok(dev.isCharDevice);
      assert.equal(dev.rdev, (1 << 8) | 3);
      assert.equal(result.skippedDevices, 0);
    }
  } finally {
    cleanup();
  }
});

Deno.test("applyLayer skips devices it cannot create and says so", async () => {
  const { target, cleanup } = scratch();
  try {
    const warnings: string[] = [];
    const result = await apply(target, [
      { type: "char", path: "dev/console", major: 5, minor: 1 },
      { type: "block", path: "dev/sda", major: 8, minor: 0 },
      { type: "file", path: "after", content: "still applied" },
    ], {
      nodes: {
        mknod() {
          throw new Error("Operation not permitted");
        },
      },
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(result.skippedDevices, 2);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /dev\/console.*Operation not permitted/);
    assert.ok(!exists(`${target}/dev/console`));
    assert.equal(text(`${target}/after`), "still applied");
  } finally {
    cleanup();
  }
});

Deno.test("a second layer whites out files and makes a directory opaque", async () => {
  const { target, cleanup } = scratch();
  try {
    await apply(target, [
      { type: "dir", path: "etc" },
      { type: "file", path: "etc/passwd", content: "root:x:0:0" },
      { type: "file", path: "etc/gone", content: "lower" },
      { type: "dir", path: "etc/gonedir" },
      { type: "file", path: "etc/gonedir/f", content: "lower" },
      { type: "dir", path: "d" },
      { type: "file", path: "d/old1", content: "lower" },
      { type: "dir", path: "d/sub" },
      { type: "file", path: "d/sub/old2", content: "lower" },
      { type: "symlink", path: "d/oldlink", target: "/etc/passwd" },
      { type: "file", path: "d/replaced", content: "lower" },
    ]);
    const result = await apply(target, [
      { type: "whiteout", path: "etc/gone" },
      { type: "whiteout", path: "etc/gonedir" },
      { type: "whiteout", path: "nothere/x" }, // a whiteout of nothing is a no-op
      { type: "dir", path: "d", mode: 0o750 },
      { type: "file", path: "d/before", content: "same layer, before the marker" },
      { type: "dir", path: "d/sub" },
      { type: "file", path: "d/sub/new", content: "same layer" },
      { type: "file", path: "d/replaced", content: "upper" },
      { type: "opaque", path: "d" },
      { type: "file", path: "d/after", content: "same layer, after the marker" },
    ]);
    assert.equal(result.entries, 10);
    assert.equal(text(`${target}/etc/passwd`), "root:x:0:0");
    assert.ok(!exists(`${target}/etc/gone`));
    assert.ok(!exists(`${target}/etc/gonedir`));
    assert.ok(!exists(`${target}/etc/.wh.gone`));
    assert.ok(!exists(`${target}/nothere`), "a whiteout must not create its parent");
    assert.deepEqual([...Deno.readDirSync(`${target}/d`)].map((e) => e.name).sort(), [
      "after",
      "before",
      "replaced",
      "sub",
    ]);
    assert.equal(text(`${target}/d/replaced`), "upper");
    assert.deepEqual([...Deno.readDirSync(`${target}/d/sub`)].map((e) => e.name), ["new"]);
    assert.equal(mode(`${target}/d`), 0o750);
  } finally {
    cleanup();
  }
});

Deno.test("entries replace what is there: file over dir, dir over file, dir over dir merges", async () => {
  const { target, cleanup } = scratch();
  try {
    await apply(target, [
      { type: "dir", path: "a" },
      { type: "file", path: "a/child", content: "x" },
      { type: "file", path: "b", content: "file b" },
      { type: "dir", path: "c", mode: 0o700, mtime: 1_000 },
      { type: "file", path: "c/kept", content: "kept" },
      { type: "symlink", path: "e", target: "c" },
      { type: "file", path: "f", content: "f" },
      { type: "hardlink", path: "g", target: "f" },
    ]);
    await apply(target, [
      { type: "file", path: "a", content: "now a file", mode: 0o600 },
      { type: "dir", path: "b", mode: 0o711 },
      { type: "dir", path: "c", mode: 0o751, mtime: 2_000 },
      { type: "dir", path: "e" },
      { type: "file", path: "e/inside", content: "a real dir now" },
      { type: "file", path: "g", content: "g replaced" },
    ]);
    assert.equal(text(`${target}/a`), "now a file");
    assert.equal(mode(`${target}/a`), 0o600);
    assert.ok(Deno.lstatSync(`${target}/b`).isDirectory);
    assert.equal(mode(`${target}/b`), 0o711);
    assert.equal(text(`${target}/c/kept`), "kept");
    assert.equal(mode(`${target}/c`), 0o751);
    assert.equal(mtime(`${target}/c`), 2_000);
    assert.ok(Deno.lstatSync(`${target}/e`).isDirectory);
    assert.ok(!exists(`${target}/c/inside`), "the dir must replace the symlink, not follow it");
    // Replacing one name of a hard link leaves the other alone.
    assert.equal(text(`${target}/f`), "f");
    assert.equal(text(`${target}/g`), "g replaced");
    assert.equal(Deno.lstatSync(`${target}/f`).nlink, 1);
  } finally {
    cleanup();
  }
});

Deno.test("xattrs go through the XattrWriter with binary values intact", async () => {
  const { target, cleanup } = scratch();
  try {
    const binary = new Uint8Array(256).map((_, i) => i);
    const calls: [string, string, Uint8Array][] = [];
    const writer: XattrWriter = { lset: (p, n, v) => calls.push([p, n, v]) };
    const entries: LayerEntry[] = [
      {
        type: "file",
        path: "bin/ping",
        content: "ping",
        xattrs: { "security.capability": binary },
      },
      { type: "dir", path: "d", xattrs: { "user.a": "1", "user.b": "två" } },
      { type: "symlink", path: "l", target: "/nowhere", xattrs: { "user.link": "on the link" } },
    ];
    const result = await apply(target, entries, { xattrs: writer });
    assert.equal(result.skippedXattrs, 0);
    assert.deepEqual(calls.map(([p, n]) => [p.slice(target.length), n]), [
      ["/bin/ping", "security.capability"],
      ["/d", "user.a"],
      ["/d", "user.b"],
      ["/l", "user.link"],
    ]);
    assert.deepEqual([...calls[0][2]], [...binary]);
    assert.equal(new TextDecoder().decode(calls[2][2]), "två");

    const { target: t2, cleanup: c2 } = scratch();
    try {
      const warnings: string[] = [];
      const failing: XattrWriter = {
        lset() {
          throw new Error("Operation not supported");
        },
      };
      const r2 = await apply(t2, entries, { xattrs: failing, onWarning: (m) => warnings.push(m) });
      assert.equal(r2.skippedXattrs, 4);
      assert.match(warnings[0], /security\.capability.*bin\/ping.*not supported/);
      const r3 = await applyLayer(t2 + "/d", streamOf(tarLayer(entries)));
      assert.equal(r3.skippedXattrs, 4, "without a writer, xattrs are skipped and counted");
    } finally {
      c2();
    }
  } finally {
    cleanup();
  }
});

Deno.test("long names, long link targets and fractional mtimes survive (PAX)", async () => {
  const { target, cleanup } = scratch();
  try {
    const long = "d".repeat(90) + "/" + "n".repeat(120) + "/file-ü.txt";
    const longTarget = "/" + "t".repeat(150);
    await apply(target, [
      { type: "file", path: long, content: "long", mtime: 1_600_000_000.5 },
      { type: "symlink", path: "s", target: longTarget },
    ]);
    assert.equal(text(`${target}/${long}`), "long");
    assert.equal(Deno.lstatSync(`${target}/${long}`).mtime!.getTime(), 1_600_000_000_500);
    assert.equal(Deno.readLinkSync(`${target}/s`), longTarget);
  } finally {
    cleanup();
  }
});

Deno.test("applyLayer refuses entries that climb out of the directory", async (t) => {
  const cases: [string, LayerEntry[], RegExp][] = [
    [
      "../x",
      [{ type: "file", path: "../x", content: "evil" }],
      /"\.\.\/x" would be written outside/,
    ],
    ["a/../../x", [
      { type: "dir", path: "a" },
      { type: "file", path: "a/../../x", content: "evil" },
    ], /"a\/\.\.\/\.\.\/x" would be written outside/],
    ["../sentinel/secret", [
      { type: "file", path: "../sentinel/secret", content: "evil" },
    ], /would be written outside/],
    ["hard link to ../sentinel/secret", [
      { type: "hardlink", path: "h", target: "../sentinel/secret" },
    ], /hard link to "\.\.\/sentinel\/secret", outside the target directory/],
    ["whiteout ../sentinel/.wh.secret", [
      { type: "whiteout", path: "../sentinel/secret" },
    ], /would be written outside/],
    ["symlink named ../escape", [
      { type: "symlink", path: "../escape", target: "/" },
    ], /would be written outside/],
  ];
  for (const [name, entries, message] of cases) {
    await t.step(name, async () => {
      const { base, target, cleanup } = scratch();
      try {
        const before = outsideState(base);
        await assert.rejects(apply(target, entries), (e: unknown) => {
          assert.ok(e instanceof ImgError, `expected ImgError, got ${e}`);
          assert.match(e.message, message);
          assert.match(e.message, /refusing to unpack it$/);
          return true;
        });
        assertUnchanged(before, outsideState(base));
        assert.equal(Deno.lstatSync(`${base}/sentinel/secret`).nlink, 1);
      } finally {
        cleanup();
      }
    });
  }
});

Deno.test("nothing is ever written through a symlink to the outside", async (t) => {
  // Symlinks may point anywhere, but their targets are resolved inside the directory, as in
  // a chroot (what containerd and umoci do): the host is never reached through them.
  await t.step("write through a symlink to an absolute outside path", async () => {
    const { base, target, sentinel, cleanup } = scratch();
    try {
      const before = outsideState(base);
      await apply(target, [
        { type: "symlink", path: "evil", target: sentinel },
        { type: "file", path: "evil/secret", content: "overwritten?" },
        { type: "file", path: "evil/dir/new", content: "new?" },
      ]);
      assertUnchanged(before, outsideState(base));
      assert.equal(Deno.readLinkSync(`${target}/evil`), sentinel);
      assert.equal(text(`${target}${sentinel}/secret`), "overwritten?");
      assert.equal(text(`${target}${sentinel}/dir/new`), "new?");
    } finally {
      cleanup();
    }
  });

  await t.step("relative links inside the root are followed", async () => {
    const { base, target, cleanup } = scratch();
    try {
      const before = outsideState(base);
      await apply(target, [
        { type: "dir", path: "usr/lib" },
        { type: "symlink", path: "lib", target: "usr/lib" },
        { type: "dir", path: "sub" },
        { type: "symlink", path: "sub/up", target: "../usr/./lib/.." },
        { type: "symlink", path: "chain", target: "sub/up/lib" },
        { type: "file", path: "lib/a", content: "a" },
        { type: "file", path: "chain/b", content: "b" },
      ]);
      assertUnchanged(before, outsideState(base));
      assert.equal(text(`${target}/usr/lib/a`), "a");
      assert.equal(text(`${target}/usr/lib/b`), "b");
    } finally {
      cleanup();
    }
  });

  // A relative link that climbs above the root exists to reach the host: writing through it
  // is refused (docker refuses to even create one; a symlink alone is harmless).
  const climbing: [string, LayerEntry[], RegExp][] = [
    [
      "link -> ../../.. then link/x",
      [
        { type: "symlink", path: "link", target: "../../.." },
        { type: "file", path: "link/sentinel/secret", content: "a" },
      ],
      /"link\/sentinel\/secret" would be written outside the target directory through the symlink "link" -> "..\/..\/.."/,
    ],
    [
      "sub/up -> ../../sentinel then a chain through it",
      [
        { type: "dir", path: "sub" },
        { type: "symlink", path: "sub/up", target: "../../sentinel" },
        { type: "symlink", path: "chain", target: "sub/up" },
        { type: "dir", path: "chain/dir" },
      ],
      /"chain\/dir\/" would be written outside the target directory through the symlink "sub\/up"/,
    ],
    ["whiteout through a climbing link", [
      { type: "symlink", path: "up", target: "../sentinel" },
      { type: "whiteout", path: "up/secret" },
    ], /"up\/\.wh\.secret" would be written outside/],
    ["hard link through a climbing link", [
      { type: "symlink", path: "up", target: "../sentinel" },
      { type: "hardlink", path: "h", target: "up/secret" },
    ], /hard link to "up\/secret", outside the target directory \(through the symlink "up"/],
  ];
  for (const [name, entries, message] of climbing) {
    await t.step(name, async () => {
      const { base, target, cleanup } = scratch();
      try {
        const before = outsideState(base);
        await assert.rejects(apply(target, entries), (e: unknown) => {
          assert.ok(e instanceof ImgError, `expected ImgError, got ${e}`);
          assert.match(e.message, message);
          assert.match(e.message, /refusing to unpack it$/);
          return true;
        });
        assertUnchanged(before, outsideState(base));
        assert.equal(Deno.lstatSync(`${base}/sentinel/secret`).nlink, 1);
      } finally {
        cleanup();
      }
    });
  }

  await t.step("a symlink parent pointing at /", async () => {
    const { base, target, cleanup } = scratch();
    try {
      const before = outsideState(base);
      const hostTmp = base.split("/").filter(Boolean);
      await apply(target, [
        { type: "symlink", path: "root", target: "/" },
        { type: "file", path: `root/${hostTmp.join("/")}/sentinel/secret`, content: "no" },
        { type: "file", path: "root/etc/hostname", content: "inside" },
      ]);
      assertUnchanged(before, outsideState(base));
      assert.equal(text(`${target}/etc/hostname`), "inside");
      assert.equal(text(`${target}${base}/sentinel/secret`), "no");
    } finally {
      cleanup();
    }
  });

  await t.step("a file entry replaces a symlink instead of writing through it", async () => {
    const { base, target, sentinel, cleanup } = scratch();
    try {
      await apply(target, [
        { type: "symlink", path: "passwd", target: `${sentinel}/secret` },
        { type: "symlink", path: "dirlink", target: sentinel },
      ]);
      const before = outsideState(base);
      await apply(target, [
        { type: "file", path: "passwd", content: "replaced", mode: 0o666 },
        { type: "hardlink", path: "dirlink", target: "passwd" },
      ]);
      assertUnchanged(before, outsideState(base));
      assert.ok(Deno.lstatSync(`${target}/passwd`).isFile);
      assert.equal(text(`${target}/dirlink`), "replaced");
    } finally {
      cleanup();
    }
  });

  await t.step("hard links, whiteouts and opaque markers through an outside symlink", async () => {
    const { base, target, sentinel, cleanup } = scratch();
    try {
      await apply(target, [{ type: "symlink", path: "evil", target: sentinel }]);
      const before = outsideState(base);
      await assert.rejects(
        apply(target, [{ type: "hardlink", path: "h", target: "evil/secret" }]),
        /Cannot create hard link "h" to "evil\/secret"/,
      );
      await apply(target, [{ type: "whiteout", path: "evil/secret" }]);
      await apply(target, [{ type: "opaque", path: "evil" }, { type: "opaque", path: "evil/dir" }]);
      assertUnchanged(before, outsideState(base));
      assert.equal(Deno.lstatSync(`${sentinel}/secret`).nlink, 1);
    } finally {
      cleanup();
    }
  });

  await t.step(
    "directory modes and times set at the end follow a later symlink inside",
    async () => {
      const { base, target, cleanup } = scratch();
      try {
        const before = outsideState(base);
        // `a/b`'s metadata is applied after the layer: by then `a` is a symlink to the sentinel.
        await apply(target, [
          { type: "dir", path: "a" },
          { type: "dir", path: "a/dir", mode: 0o777, mtime: 12345 },
          { type: "whiteout", path: "a" },
          { type: "symlink", path: "a", target: "../sentinel" },
        ]);
        assertUnchanged(before, outsideState(base));
        assert.equal(Deno.readLinkSync(`${target}/a`), "../sentinel");
      } finally {
        cleanup();
      }
    },
  );
});

Deno.test("applyLayer reports symlink loops and files used as directories", async () => {
  const { target, cleanup } = scratch();
  try {
    await assert.rejects(
      apply(target, [
        { type: "symlink", path: "a", target: "b" },
        { type: "symlink", path: "b", target: "/a" },
        { type: "file", path: "a/x", content: "x" },
      ]),
      (e: unknown) => e instanceof ImgError && /Too many levels of symbolic links/.test(e.message),
    );
    await assert.rejects(
      apply(target, [
        { type: "file", path: "f", content: "a file" },
        { type: "symlink", path: "l", target: "f" },
        { type: "file", path: "l/x", content: "x" },
      ]),
      (e: unknown) => e instanceof ImgError && /needs "f" to be a directory/.test(e.message),
    );
  } finally {
    cleanup();
  }
});

for (const format of ["pax", "gnu"]) {
  Deno.test(`applyLayer reproduces a tree that GNU tar packed (${format} format)`, async () => {
    const { base, target, cleanup } = scratch();
    try {
      const src = `${base}/src`;
      const long = `${src}/${"l".repeat(120)}/${"m".repeat(120)}`;
      Deno.mkdirSync(long, { recursive: true });
      Deno.writeTextFileSync(`${long}/file-with-a-rather-long-name-${"n".repeat(80)}`, "long");
      Deno.mkdirSync(`${src}/bin`);
      Deno.writeFileSync(`${src}/bin/busybox`, new Uint8Array(100_000).map((_, i) => i % 251));
      Deno.chmodSync(`${src}/bin/busybox`, 0o4755);
      Deno.linkSync(`${src}/bin/busybox`, `${src}/bin/ls`);
      Deno.symlinkSync("busybox", `${src}/bin/sh`);
      Deno.symlinkSync("/" + "t".repeat(150), `${src}/longlink`);
      Deno.mkdirSync(`${src}/tmp`);
      Deno.chmodSync(`${src}/tmp`, 0o1777);
      Deno.writeTextFileSync(`${src}/owned`, "owned");
      if (isRoot) Deno.chownSync(`${src}/owned`, 1234, 5678);
      Deno.utimeSync(`${src}/bin`, 1_000_000, 1_000_000);
      Deno.utimeSync(`${src}/tmp`, 2_000_000, 2_000_000);
      const tar = new Deno.Command("tar", {
        args: [`--format=${format}`, "--numeric-owner", "-cf", "-", "-C", src, "."],
        stdout: "piped",
      }).outputSync();
      assert.ok(tar.success);
      await applyLayer(target, streamOf(tar.stdout), { sameOwner: isRoot });
      const diff = diffTrees(snapshotTree(src), snapshotTree(target), {
        fields: ["type", "mode", "uid", "gid", "size", "content", "link", "mtime"],
      });
      assert.deepEqual(diff, []);
    } finally {
      cleanup();
    }
  });
}

Deno.test("applyLayer reports a malformed or truncated tar as an ImgError", async () => {
  const { target, cleanup } = scratch();
  try {
    const garbage = new Uint8Array(2048).fill(0x41);
    await assert.rejects(applyLayer(target, streamOf(garbage)), (e: unknown) => {
      assert.ok(e instanceof ImgError);
      assert.match(e.message, /not a valid tar archive/);
      return true;
    });
    const tar = tarLayer([{ type: "file", path: "big", content: "z".repeat(10_000) }]);
    await assert.rejects(applyLayer(target, streamOf(tar.slice(0, 3000))), /not a valid tar/);
  } finally {
    cleanup();
  }
});

Deno.test("applyLayer takes gzip and zstd layers through decompressStream", async () => {
  const entries: LayerEntry[] = [
    { type: "dir", path: "data" },
    ...Array.from({ length: 50 }, (_, i) => ({
      type: "file" as const,
      path: `data/f${i}`,
      content: `${i}`.repeat(i * 100),
    })),
    { type: "symlink", path: "latest", target: "data/f49" },
  ];
  const tar = tarLayer(entries);
  const { target: plain, cleanup: c0 } = scratch();
  try {
    await applyLayer(plain, streamOf(tar));
    for (const compress of [gzipSync, zstdCompressSync]) {
      const { target, cleanup } = scratch();
      try {
        const blob = new Uint8Array(compress(tar));
        const result = await applyLayer(target, decompressStream(streamOf(blob, 777)));
        assert.equal(result.entries, 52);
        assert.deepEqual(
          diffTrees(snapshotTree(plain), snapshotTree(target), {
            fields: ["type", "mode", "size", "content", "link", "mtime"],
          }),
          [],
        );
        assert.equal(text(`${target}/latest`), "49".repeat(49 * 100));
      } finally {
        cleanup();
      }
    }
  } finally {
    c0();
  }
});

Deno.test({
  name: "sameOwner chowns files, dirs and symlinks (as root)",
  ignore: !isRoot,
  async fn() {
    const { target, cleanup } = scratch();
    try {
      await apply(target, [
        { type: "dir", path: "home/user", uid: 1000, gid: 1000, mode: 0o700 },
        { type: "file", path: "home/user/suid", uid: 1000, gid: 50, mode: 0o4750, content: "s" },
        { type: "symlink", path: "home/user/link", target: "/x", uid: 1000, gid: 1001 },
        { type: "file", path: "big-ids", uid: 3_000_000, gid: 4_000_000 },
      ], { sameOwner: true });
      const dir = Deno.lstatSync(`${target}/home/user`);
      assert.deepEqual([dir.uid, dir.gid], [1000, 1000]);
      const suid = Deno.lstatSync(`${target}/home/user/suid`);
      assert.deepEqual([suid.uid, suid.gid, suid.mode! & 0o7777], [1000, 50, 0o4750]);
      const link = Deno.lstatSync(`${target}/home/user/link`);
      assert.deepEqual([link.uid, link.gid], [1000, 1001]);
      const big = Deno.lstatSync(`${target}/big-ids`);
      assert.deepEqual([big.uid, big.gid], [3_000_000, 4_000_000]);
      // Without sameOwner everything belongs to the caller.
      const { target: t2, cleanup: c2 } = scratch();
      try {
        await apply(t2, [{ type: "file", path: "f", uid: 1000, gid: 1000 }]);
        assert.equal(Deno.lstatSync(`${t2}/f`).uid, Deno.uid());
      } finally {
        c2();
      }
    } finally {
      cleanup();
    }
  },
});

Deno.test({
  name:
    "sameOwner: entries owned by the process's own ids are right under a setgid directory (as root)",
  ignore: !isRoot,
  async fn() {
    const { target, cleanup } = scratch();
    try {
      // A lower layer's setgid directory gives what is created in it its group: the chown to
      // 0:0 that the process's own ids would make redundant elsewhere is needed here.
      await apply(target, [{ type: "dir", path: "var/mail", gid: 8, mode: 0o2775 }], {
        sameOwner: true,
      });
      await apply(target, [
        { type: "file", path: "var/mail/root", content: "m", mode: 0o660 },
        { type: "dir", path: "var/mail/sub" },
        { type: "file", path: "var/mail/sub/f", content: "f" },
        { type: "symlink", path: "var/mail/link", target: "root" },
        { type: "file", path: "plain/f", content: "p", mode: 0o444 },
        { type: "file", path: "plain/suid", content: "s", mode: 0o4755 },
        { type: "file", path: "plain/g", content: "g", mode: 0o664 },
        { type: "file", path: "plain/none", content: "n", mode: 0 },
      ], { sameOwner: true });
      for (const p of ["var/mail/root", "var/mail/sub", "var/mail/sub/f", "var/mail/link"]) {
        const info = Deno.lstatSync(`${target}/${p}`);
        assert.deepEqual([p, info.uid, info.gid], [p, 0, 0]);
      }
      assert.equal(mode(`${target}/var/mail/root`), 0o660);
      assert.equal(mode(`${target}/var/mail/sub`), 0o755);
      // Modes given at creation or by chmod: the same, whatever the umask takes away.
      assert.deepEqual(
        ["f", "suid", "g", "none"].map((n) => mode(`${target}/plain/${n}`)),
        [0o444, 0o4755, 0o664, 0],
      );
      assert.deepEqual(["f", "none"].map((n) => text(`${target}/plain/${n}`)), ["p", "n"]);
    } finally {
      cleanup();
    }
  },
});

function canRunAs(user: string): boolean {
  try {
    return new Deno.Command("id", { args: ["-u", user], stdout: "null", stderr: "null" })
      .outputSync().success && isRoot;
  } catch {
    return false;
  }
}

Deno.test({
  name: "sameOwner inside an unprivileged user namespace maps owners to the subordinate range",
  ignore: !canRunAs("imgtest"),
  async fn() {
    const base = Deno.makeTempDirSync({ prefix: "img-layer-userns-" });
    try {
      Deno.chmodSync(base, 0o755);
      const layerPath = `${base}/layer.tar`;
      Deno.writeFileSync(
        layerPath,
        tarLayer([
          { type: "dir", path: "etc", mode: 0o755 },
          { type: "file", path: "etc/shadow", uid: 0, gid: 42, mode: 0o640, content: "s" },
          { type: "dir", path: "home/app", uid: 1000, gid: 1000, mode: 0o750 },
          { type: "file", path: "home/app/run", uid: 1000, gid: 1000, mode: 0o4755, content: "r" },
          { type: "hardlink", path: "home/app/run2", target: "home/app/run", uid: 1000, gid: 1000 },
          { type: "symlink", path: "home/app/link", target: "/etc/shadow", uid: 1000, gid: 1000 },
          { type: "fifo", path: "home/app/fifo", uid: 1000, gid: 1000 },
          { type: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
        ]),
      );
      const target = `${base}/rootfs`;
      Deno.mkdirSync(target);
      const script = `${base}/apply.ts`;
      const applyUrl = new URL("./apply.ts", import.meta.url).href;
      Deno.writeTextFileSync(
        script,
        `import { applyLayer } from ${JSON.stringify(applyUrl)};
const file = await Deno.open(${JSON.stringify(layerPath)});
const r = await applyLayer(${JSON.stringify(target)}, file.readable, { sameOwner: true });
const inside = {};
for (const p of ["etc/shadow", "home/app", "home/app/run", "home/app/link", "home/app/fifo"]) {
  const s = Deno.lstatSync(${JSON.stringify(target)} + "/" + p);
  inside[p] = [s.uid, s.gid, s.mode & 0o7777];
}
console.log(JSON.stringify({ uid: Deno.uid(), result: r, inside }));
`,
      );
      for (const p of [base, target, layerPath, script]) {
        new Deno.Command("chown", { args: ["imgtest:imgtest", p] }).outputSync();
      }
      // The test user's Deno cache: a copy of ours, so that nothing is downloaded.
      const denoDir = `${base}/deno-dir`;
      const ourDenoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
      new Deno.Command("cp", { args: ["-a", ourDenoDir, denoDir] }).outputSync();
      new Deno.Command("chown", { args: ["-R", "imgtest:imgtest", denoDir] }).outputSync();
      const out = await new Deno.Command("runuser", {
        args: [
          "-u",
          "imgtest",
          "--",
          "env",
          `DENO_DIR=${denoDir}`,
          "unshare",
          "--user",
          "--map-auto",
          "--map-root-user",
          "--mount",
          "--fork",
          Deno.execPath(),
          "run",
          "-A",
          "--no-lock",
          `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
          script,
        ],
        cwd: base,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `the namespaced apply failed: ${stderr}`);
      const report = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(report.uid, 0);
      assert.deepEqual(report.inside, {
        "etc/shadow": [0, 42, 0o640],
        "home/app": [1000, 1000, 0o750],
        "home/app/run": [1000, 1000, 0o4755],
        "home/app/link": [1000, 1000, 0o777],
        "home/app/fifo": [1000, 1000, 0o600],
      });
      // A user namespace may not create devices: skipped, not fatal.
      assert.equal(report.result.skippedDevices, 1);
      // Outside, owners are the test user (uid 0 inside) and its subordinate range.
      const imgtestUid = Number(
        new TextDecoder().decode(
          new Deno.Command("id", { args: ["-u", "imgtest"] }).outputSync().stdout,
        ),
      );
      const sub = Deno.readTextFileSync("/etc/subuid").split("\n").find((l) =>
        l.startsWith("imgtest:")
      )!.split(":");
      const subStart = Number(sub[1]);
      assert.equal(Deno.lstatSync(`${target}/etc/shadow`).uid, imgtestUid);
      assert.equal(Deno.lstatSync(`${target}/home/app/run`).uid, subStart + 999);
      assert.equal(Deno.lstatSync(`${target}/home/app/run`).mode! & 0o7777, 0o4755);
    } finally {
      Deno.removeSync(base, { recursive: true });
    }
  },
});

// --- comparison with umoci, an independent implementation -------------------------------

function hasTool(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function sha256hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes an OCI image layout with `layers` (gzip) tagged `tag`, by hand. */
function writeLayout(dir: string, layers: Uint8Array[], tag: string): void {
  Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
  const put = (data: Uint8Array) => {
    const hex = sha256hex(data);
    Deno.writeFileSync(`${dir}/blobs/sha256/${hex}`, data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const enc = new TextEncoder();
  const layerDescs = layers.map((l) => ({
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    ...put(new Uint8Array(gzipSync(l))),
  }));
  const config = put(enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha256hex(l)}`) },
  })));
  const manifest = put(enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layerDescs,
  })));
  Deno.writeTextFileSync(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  Deno.writeTextFileSync(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
}

Deno.test({
  name: "applyLayer gives the same tree as umoci unpack on the same two layers",
  ignore: !hasTool("umoci"),
  async fn() {
    const base = Deno.makeTempDirSync({ prefix: "img-layer-umoci-" });
    try {
      const layer1 = tarLayer([
        { type: "dir", path: "bin", mode: 0o755 },
        { type: "file", path: "bin/busybox", mode: 0o755, content: "busybox".repeat(300) },
        { type: "hardlink", path: "bin/ls", target: "bin/busybox" },
        { type: "hardlink", path: "bin/cat", target: "bin/busybox" },
        { type: "symlink", path: "bin/sh", target: "busybox" },
        { type: "file", path: "bin/su", mode: 0o4755, content: "su" },
        { type: "dir", path: "tmp", mode: 0o1777 },
        { type: "dir", path: "etc", mode: 0o755 },
        { type: "file", path: "etc/passwd", mode: 0o644, content: "root:x:0:0::/root:/bin/sh\n" },
        { type: "file", path: "etc/shadow", mode: 0o640, content: "root:*::::::\n" },
        { type: "file", path: "etc/motd", content: "lower motd" },
        { type: "dir", path: "etc/conf.d", mode: 0o755 },
        { type: "file", path: "etc/conf.d/a", content: "a" },
        { type: "dir", path: "etc/conf.d/sub", mode: 0o755 },
        { type: "file", path: "etc/conf.d/sub/b", content: "b" },
        { type: "dir", path: "var", mode: 0o755 },
        { type: "dir", path: "var/lib", mode: 0o755 },
        { type: "file", path: "var/lib/data", content: "data" },
        { type: "symlink", path: "var/run", target: "/run" },
        { type: "dir", path: "run", mode: 0o755 },
        { type: "symlink", path: "lib", target: "usr/lib" },
        { type: "dir", path: "usr", mode: 0o755 },
        { type: "dir", path: "usr/lib", mode: 0o755 },
        { type: "file", path: "usr/lib/libc.so", mode: 0o755, content: "libc" },
        { type: "dir", path: "opt", mode: 0o755 },
        { type: "file", path: "opt/file-becomes-dir", content: "f" },
        { type: "dir", path: "opt/dir-becomes-file", mode: 0o755 },
        { type: "file", path: "opt/dir-becomes-file/x", content: "x" },
        { type: "fifo", path: "run/fifo", mode: 0o644 },
        { type: "file", path: "new/parents/file", content: "parents missing from the tar" },
      ]);
      const layer2 = tarLayer([
        { type: "dir", path: "etc", mode: 0o755 },
        { type: "whiteout", path: "etc/motd" },
        { type: "file", path: "etc/passwd", mode: 0o600, content: "root:x:0:0::/root:/bin/ash\n" },
        { type: "dir", path: "etc/conf.d", mode: 0o750 },
        { type: "file", path: "etc/conf.d/new", content: "new" },
        { type: "opaque", path: "etc/conf.d" },
        { type: "file", path: "etc/conf.d/after", content: "after" },
        { type: "whiteout", path: "var/lib" },
        { type: "file", path: "var/run/app.pid", content: "42" }, // through an absolute symlink
        { type: "file", path: "lib/libz.so", mode: 0o755, content: "libz" }, // through a relative one
        { type: "hardlink", path: "usr/lib/libc.so.6", target: "lib/libc.so" },
        { type: "dir", path: "opt/file-becomes-dir", mode: 0o700 },
        { type: "file", path: "opt/dir-becomes-file", mode: 0o600, content: "now a file" },
        { type: "file", path: "bin/sh", mode: 0o755, content: "a real shell" },
        { type: "dir", path: "tmp", mode: 0o1777 },
        { type: "file", path: "tmp/sticky-child", content: "t" },
        { type: "whiteout", path: "no/such/thing" },
      ]);
      const layout = `${base}/layout`;
      writeLayout(layout, [layer1, layer2], "test");
      const bundle = `${base}/bundle`;
      const out = new Deno.Command("umoci", {
        args: ["unpack", "--rootless", "--image", `${layout}:test`, bundle],
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      assert.ok(out.success, `umoci unpack failed: ${new TextDecoder().decode(out.stderr)}`);

      const ours = `${base}/ours`;
      Deno.mkdirSync(ours);
      for (const layer of [layer1, layer2]) {
        await applyLayer(ours, decompressStream(streamOf(new Uint8Array(gzipSync(layer)))));
      }
      const theirs = snapshotTree(`${bundle}/rootfs`);
      const mine = snapshotTree(ours);
      // Directories created for parents missing from the tar get the time of the unpack,
      // which may differ by a second between the two runs.
      const created = (p: string) => p === "new" || p === "new/parents";
      assert.deepEqual(
        diffTrees(theirs, mine, {
          fields: ["type", "mode", "size", "content", "link", "rdev", "mtime"],
          ignore: created,
        }),
        [],
      );
      assert.deepEqual(diffTrees(theirs, mine), []);
      // The comparison is not vacuous: the trees hold what the layers say.
      assert.ok(mine.size > 25);
      assert.deepEqual(hardlinkGroups(mine), [
        "bin/busybox = bin/cat = bin/ls",
        "usr/lib/libc.so = usr/lib/libc.so.6",
      ]);
      assert.equal(mine.get("etc/conf.d")?.mode, 0o750);
      assert.ok(!mine.has("etc/conf.d/a") && mine.has("etc/conf.d/new"));
      assert.equal(mine.get("run/app.pid")?.type, "file");
      assert.equal(mine.get("bin/su")?.mode, 0o4755);
    } finally {
      Deno.removeSync(base, { recursive: true });
    }
  },
});

Deno.test("applyLayer keeps names that are not UTF-8 byte-exact (files, dirs, links, whiteouts)", async () => {
  const raw = (s: string) => decodeName(new Uint8Array([...s].map((c) => c.charCodeAt(0))));
  const bad = raw("bad-\xff\xfe-name");
  const entry = (name: string, type: "file" | "directory" | "symlink" | "link", linkname = "") =>
    encodeHeader({
      name,
      type,
      mode: type === "directory" ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: 0,
      linkname,
    });
  const tar = (...parts: Uint8Array[]) => concatBytes([...parts, new Uint8Array(1024)]);
  const lower = tar(
    entry(bad, "file"),
    entry(`${raw("dir-\xe9")}/`, "directory"),
    entry(`${raw("dir-\xe9")}/child`, "file"),
    entry("sym", "symlink", bad),
    entry("hard", "link", bad),
    entry(raw("gone-\x80"), "file"),
  );
  const upper = tar(entry(`.wh.${raw("gone-\x80")}`, "file"));
  const target = Deno.makeTempDirSync({ prefix: "img-apply-raw-" });
  try {
    await applyLayer(target, streamOf(lower));
    await applyLayer(target, streamOf(upper));
    const py = new Deno.Command("python3", {
      args: [
        "-c",
        "import os,sys;r=os.fsencode(sys.argv[1]);print(sorted(os.listdir(r)), os.listdir(r+b'/dir-\\xe9'), os.readlink(r+b'/sym'), os.stat(r+b'/hard').st_ino == os.stat(r+b'/bad-\\xff\\xfe-name').st_ino)",
        target,
      ],
      stdout: "piped",
    }).outputSync();
    assert.equal(
      new TextDecoder().decode(py.stdout).trim(),
      "[b'bad-\\xff\\xfe-name', b'dir-\\xe9', b'hard', b'sym'] [b'child'] b'bad-\\xff\\xfe-name' True",
    );
  } finally {
    Deno.removeSync(target, { recursive: true });
  }
});

Deno.test("applyLayer verifies the diff ID while applying and names the layer on a mismatch", async () => {
  const tar = tarLayer([{ type: "file", path: "f", content: "content" }]);
  const target = Deno.makeTempDirSync({ prefix: "img-apply-diffid-" });
  try {
    const ok = await applyLayer(target, streamOf(tar), { diffID: sha256(tar), layer: "sha256:aa" });
    assert.equal(ok.entries, 1);
    const wrong = sha256("something else");
    await assert.rejects(
      applyLayer(`${target}`, streamOf(tarLayer([{ type: "file", path: "g", content: "x" }])), {
        diffID: wrong,
        layer: "sha256:bb",
      }),
      (e: unknown) =>
        e instanceof ImgError && e.message.includes("Layer sha256:bb does not match") &&
        e.message.includes(wrong),
    );
  } finally {
    Deno.removeSync(target, { recursive: true });
  }
});

Deno.test("applyLayer checks a digest the decompression worker computed against the diff ID", async () => {
  const tar = tarLayer([{ type: "file", path: "f", content: "content" }]);
  const target = Deno.makeTempDirSync({ prefix: "img-apply-worker-diffid-" });
  try {
    const good = decompressInWorker(streamOf(new Uint8Array(gzipSync(tar))), "gzip")!;
    const ok = await applyLayer(target, good.stream, {
      diffID: sha256(tar),
      streamDigest: good.digest,
      layer: "sha256:aa",
    });
    assert.equal(ok.entries, 1);
    assert.equal(text(`${target}/f`), "content");
    const other = tarLayer([{ type: "file", path: "g", content: "x" }]);
    const bad = decompressInWorker(streamOf(new Uint8Array(gzipSync(other))), "gzip")!;
    await assert.rejects(
      applyLayer(target, bad.stream, {
        diffID: sha256(tar),
        streamDigest: bad.digest,
        layer: "sha256:bb",
      }),
      (e: unknown) =>
        e instanceof ImgError && e.message.includes("Layer sha256:bb does not match") &&
        e.message.includes(sha256(other)),
    );
  } finally {
    Deno.removeSync(target, { recursive: true });
  }
});
