/**
 * Hostile layers end to end, against the real registry: names that are not UTF-8 kept byte
 * for byte through `img unpack` and through a build (`FROM` + `RUN` + `-o type=oci`); a layer
 * whose uncompressed digest is not its config's diff_id refused by `unpack` and by `FROM`.
 * Run as the unprivileged test user in CI.
 */
import { equal, match, ok } from "node:assert/strict";
import { decodeName } from "../core/fs/raw_name.ts";
import { startRegistry } from "./_util/registry.ts";
import { busyboxConfig, busyboxLayer, pushBusybox } from "./_util/busybox.ts";
import { buildLayer, OciLayoutWriter } from "./_util/oci_layout.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";

/** A name given as bytes (each char of `s` one byte), decoded as img decodes tar names. */
const raw = (s: string) => decodeName(new Uint8Array([...s].map((c) => c.charCodeAt(0))));

const BAD = raw("bad-\xff\xfe-name");
const DIR = raw("dir-\xe9\x80");
const GONE = raw("gone-\xc3");

/** Lists a tree by bytes (python3 `os` on bytes paths): `repr` of names, link targets, inodes. */
const LIST_TREE = `
import os, sys
root = os.fsencode(sys.argv[1])
out = []
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        link = os.readlink(p) if os.path.islink(p) else b""
        out.append(repr((rel, link, st.st_ino if st.st_nlink > 1 and not os.path.isdir(p) else 0)))
print("\\n".join(sorted(out)))
`;

/** The entries of each layer of an OCI archive (python3 tarfile, names as bytes). */
const LIST_OCI_LAYERS = `
import io, json, sys, tarfile
outer = tarfile.open(sys.argv[1])
def blob(d):
    return outer.extractfile("blobs/sha256/" + d.split(":")[1]).read()
index = json.loads(outer.extractfile("index.json").read())
manifest = json.loads(blob(index["manifests"][0]["digest"]))
for layer in manifest["layers"]:
    t = tarfile.open(fileobj=io.BytesIO(blob(layer["digest"])), encoding="utf-8", errors="surrogateescape")
    names = []
    for m in t.getmembers():
        link = m.linkname.encode("utf-8", "surrogateescape")
        names.append(repr((m.name.encode("utf-8", "surrogateescape"), link)))
    print("|".join(names))
`;

Deno.test("names that are not UTF-8 stay byte-exact through unpack and through build + export", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-hostile-names-" });
  const state = `${tmp}/state`;
  try {
    await pushBusybox(registry.host, "hostile/names", "latest", {
      extraLayers: [
        [
          { path: BAD, content: "bad" },
          { path: DIR, type: "dir" },
          { path: `${DIR}/child`, content: "child" },
          { path: "sym", type: "symlink", target: BAD },
          { path: "hard", type: "hardlink", target: BAD },
          { path: GONE, content: "gone" },
        ],
        [{ path: `.wh.${GONE}`, content: "" }],
      ],
    });
    const ref = `${registry.host}/hostile/names:latest`;
    await imgOk(["pull", ref], { state });
    await imgOk(["unpack", "-o", `${tmp}/rootfs`, ref], { state });
    const tree = (await run(["python3", "-c", LIST_TREE, `${tmp}/rootfs`])).split("\n");
    const ino = tree.find((l) => l.startsWith("(b'hard'"))!.match(/, (\d+)\)$/)![1];
    ok(ino !== "0", "hard is a hard link");
    for (
      const line of [
        `(b'bad-\\xff\\xfe-name', b'', ${ino})`,
        "(b'dir-\\xe9\\x80', b'', 0)",
        "(b'dir-\\xe9\\x80/child', b'', 0)",
        "(b'sym', b'bad-\\xff\\xfe-name', 0)",
        `(b'hard', b'', ${ino})`,
      ]
    ) ok(tree.includes(line), `${line} in\n${tree.join("\n")}`);
    ok(!tree.some((l) => l.includes("gone")), "the whiteout removed gone-\\xc3");
    ok(!tree.some((l) => l.includes("\\xef\\xbf\\xbd")), "no U+FFFD anywhere");

    const ctx = `${tmp}/ctx`;
    await Deno.mkdir(ctx);
    // The RUN also appends to a file in the directory with a hostile name: the differ writes
    // both again. (Not to bad-\xff\xfe-name: it has a hard link, and fuse-overlayfs copies up
    // a hard-linked file under whichever of its names it met first.)
    await Deno.writeTextFile(
      `${ctx}/Dockerfile`,
      `FROM ${ref}\nRUN touch /other && printf more >> "$(printf '/dir-\\351\\200/child')"\n`,
    );
    // Every snapshotter: the RUN step's snapshot holds the names (copied by native, a lower
    // layer for the overlays), and each differ must leave them alone.
    for (const backend of ["native", "overlayfs", "fuse-overlayfs"]) {
      const dest = `${tmp}/oci-${backend}.tar`;
      await imgOk(["-b", backend, "build", "--no-console", "-o", `type=oci,dest=${dest}`, ctx], {
        state,
      });
      const layers = (await run(["python3", "-c", LIST_OCI_LAYERS, dest])).trim().split("\n");
      equal(layers.length, 4, `${backend}: ${layers.join("\n")}`);
      const names = layers[1].split("|");
      for (
        const entry of [
          "(b'bad-\\xff\\xfe-name', b'')",
          "(b'dir-\\xe9\\x80/child', b'')",
          "(b'sym', b'bad-\\xff\\xfe-name')",
          "(b'hard', b'bad-\\xff\\xfe-name')",
          "(b'gone-\\xc3', b'')",
        ]
      ) ok(names.includes(entry), `${backend}: ${entry} in ${names.join(" ")}`);
      ok(layers[2].split("|").includes("(b'.wh.gone-\\xc3', b'')"), `${backend}: ${layers[2]}`);
      const runLayer = layers[3].split("|");
      ok(runLayer.includes("(b'other', b'')"), `${backend}: ${layers[3]}`);
      ok(
        runLayer.includes("(b'dir-\\xe9\\x80/child', b'')"),
        `${backend}: ${layers[3]}`,
      );
      ok(!layers.join("").includes("\\xef\\xbf\\xbd"), `${backend}: no U+FFFD in any layer`);
    }
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("a layer whose content is not its diff_id is refused by unpack and by FROM, leaving nothing", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-hostile-diffid-" });
  const state = `${tmp}/state`;
  try {
    const layout = `${tmp}/layout`;
    const w = new OciLayoutWriter(layout);
    const base = await busyboxLayer();
    const extra = await buildLayer([{ path: "tampered.txt", content: "not what was signed" }]);
    const lie = await buildLayer([{ path: "tampered.txt", content: "what was signed" }]);
    const config = busyboxConfig([base, { ...extra, diffId: lie.diffId }]);
    await w.tag(await w.writeImage(config, [base, extra]), "latest");
    const ref = `${registry.host}/hostile/diffid:latest`;
    await run([
      "skopeo",
      "--insecure-policy",
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:latest`,
      `docker://${ref}`,
    ]);
    await imgOk(["pull", ref], { state });
    const layerRe = new RegExp(
      `Layer ${extra.digest} does not match the image config: its uncompressed content is ${extra.diffId}, the config's diff_id is ${lie.diffId}`,
    );

    const r = await img(["unpack", "-o", `${tmp}/rootfs`, ref], { state });
    equal(r.code, 1, r.stdout);
    match(r.stderr, layerRe);
    equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    ok(!(await Deno.stat(`${tmp}/rootfs`).catch(() => false)), "no rootfs");
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.includes("rootfs"));
    equal(left.length, 0, `nothing half-unpacked: ${left}`);

    const ctx = `${tmp}/ctx`;
    await Deno.mkdir(ctx);
    await Deno.writeTextFile(`${ctx}/Dockerfile`, `FROM ${ref}\nRUN cat /tampered.txt\n`);
    for (const attempt of ["first", "second"]) {
      // The second build must not find a snapshot the first one left as if complete.
      const b = await img(["build", "--no-console", ctx], { state });
      equal(b.code, 1, `${attempt}: ${b.stdout}`);
      match(b.stderr, layerRe, attempt);
    }
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("COPY keeps names that are not UTF-8 byte-exact into -o type=oci and type=local, and caches", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-hostile-copy-" });
  const state = `${tmp}/state`;
  try {
    await pushBusybox(registry.host, "hostile/copy", "latest", {
      extraLayers: [[
        { path: "dir", type: "dir" },
        { path: `dir/${BAD}`, content: "bad" },
        { path: `dir/${DIR}`, type: "dir" },
        { path: `dir/${DIR}/child`, content: "child" },
        { path: "dir/sym", type: "symlink", target: BAD },
        { path: "dir/hard", type: "hardlink", target: `dir/${BAD}` },
      ]],
    });
    const ref = `${registry.host}/hostile/copy:latest`;
    const ctx = `${tmp}/ctx`;
    await Deno.mkdir(ctx);
    // The context holds such a name too: its checksum is the COPY's cache key.
    await run([
      "python3",
      "-c",
      "import os,sys; os.makedirs(os.fsencode(sys.argv[1]) + b'/ctxdir/ctx-\\xff')",
      ctx,
    ]);
    await Deno.writeTextFile(
      `${ctx}/Dockerfile`,
      `FROM ${ref} AS hostile\nFROM scratch\nCOPY --from=hostile /dir /copied\nCOPY ctxdir /fromctx\n`,
    );
    const expected = [
      "(b'copied/bad-\\xff\\xfe-name', b'', INO)",
      "(b'copied/dir-\\xe9\\x80', b'', 0)",
      "(b'copied/dir-\\xe9\\x80/child', b'', 0)",
      "(b'copied/sym', b'bad-\\xff\\xfe-name', 0)",
      "(b'copied/hard', b'', INO)",
      "(b'fromctx/ctx-\\xff', b'', 0)",
    ];
    const checkTree = async (dir: string, what: string) => {
      const tree = (await run(["python3", "-c", LIST_TREE, dir])).split("\n");
      const ino = tree.find((l) => l.startsWith("(b'copied/hard'"))?.match(/, (\d+)\)$/)?.[1];
      ok(ino && ino !== "0", `${what}: copied/hard is a hard link in\n${tree.join("\n")}`);
      for (const line of expected.map((l) => l.replace("INO", ino))) {
        ok(tree.includes(line), `${what}: ${line} in\n${tree.join("\n")}`);
      }
      ok(!tree.some((l) => l.includes("\\xef\\xbf\\xbd")), `${what}: no U+FFFD`);
    };

    const oci = `${tmp}/copy.tar`;
    const build = ["build", "--no-console", "-o", `type=oci,dest=${oci}`, ctx];
    const first = await imgOk(build, { state });
    equal((first.stderr.match(/ CACHED$/gm) ?? []).length, 0, first.stderr);
    const layers = (await run(["python3", "-c", LIST_OCI_LAYERS, oci])).trim().split("\n");
    equal(layers.length, 2, layers.join("\n"));
    const copied = layers[0].split("|");
    for (
      const entry of [
        "(b'copied/bad-\\xff\\xfe-name', b'')",
        "(b'copied/dir-\\xe9\\x80/child', b'')",
        "(b'copied/sym', b'bad-\\xff\\xfe-name')",
        "(b'copied/hard', b'copied/bad-\\xff\\xfe-name')",
      ]
    ) ok(copied.includes(entry), `${entry} in ${copied.join(" ")}`);
    ok(layers[1].split("|").includes("(b'fromctx/ctx-\\xff', b'')"), layers[1]);
    ok(!layers.join("").includes("\\xef\\xbf\\xbd"), "no U+FFFD in any layer");

    // The same build again: both COPY steps' cache keys are stable.
    const second = await imgOk(build, { state });
    match(second.stderr, /COPY ctxdir \/fromctx\n#\d+ CACHED/, second.stderr);
    ok(
      !/ DONE /.test(second.stderr.replace(/load metadata[^\n]*\n#\d+ DONE[^\n]*/g, "")),
      second.stderr,
    );

    // A new directory, and one that exists (the tree is merged into it).
    const fresh = `${tmp}/local-new`;
    await imgOk(["build", "--no-console", "-o", `type=local,dest=${fresh}`, ctx], { state });
    await checkTree(fresh, "new dest");
    const existing = `${tmp}/local-existing`;
    await Deno.mkdir(`${existing}/copied`, { recursive: true });
    await Deno.writeTextFile(`${existing}/keep.txt`, "keep");
    await imgOk(["build", "--no-console", "-o", `type=local,dest=${existing}`, ctx], { state });
    await checkTree(existing, "existing dest");
    equal(await Deno.readTextFile(`${existing}/keep.txt`), "keep");
  } finally {
    await removeTree(tmp);
  }
});
