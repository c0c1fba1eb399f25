/**
 * `img unpack` against `umoci unpack`, hostile layers refused, `img save` checked with
 * podman and skopeo, and `img save --format NAME` with a third-party exporter plugin. Run as the unprivileged test user in CI.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { LAYERED_EXPECTED, pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, outsideId, removeTree, ROOT, run } from "./_util/img.ts";
import { diffTrees, snapshotTree } from "./_util/tree.ts";

Deno.test("unpack gives the same tree as umoci unpack, with owners, links and whiteouts applied", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-unpack-" });
  const state = `${tmp}/state`;
  try {
    await pushBusybox(registry.host, "library/layered", "latest", { layered: true });
    const ref = `${registry.host}/library/layered:latest`;
    await imgOk(["pull", ref], { state });
    const out = await imgOk(["unpack", "-o", `${tmp}/rootfs`, ref], { state });
    equal(out.stdout.trim(), `Successfully unpacked rootfs for image ${ref} to: ${tmp}/rootfs`);

    await run([
      "skopeo",
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${tmp}/layout:latest`,
    ]);
    await run([
      "umoci",
      "unpack",
      "--rootless",
      "--image",
      `${tmp}/layout:latest`,
      `${tmp}/bundle`,
    ]);

    const mine = snapshotTree(`${tmp}/rootfs`);
    const theirs = snapshotTree(`${tmp}/bundle/rootfs`);
    deepEqual(diffTrees(mine, theirs), []);
    ok(mine.size > 20);

    for (const e of LAYERED_EXPECTED.present) {
      const node = mine.get(e.path);
      ok(node, `${e.path} exists`);
      equal(node.type, e.type, e.path);
      if (e.mode !== undefined) equal(node.mode, e.mode, `${e.path} mode`);
      if (e.target !== undefined) equal(node.linkTarget, e.target, `${e.path} target`);
      if (e.uid !== undefined) equal(node.uid, await outsideId(e.uid), `${e.path} uid`);
      if (e.gid !== undefined) {
        equal(node.gid, await outsideId(e.gid, "/etc/subgid"), `${e.path} gid`);
      }
      if (e.content !== undefined) {
        equal(await Deno.readTextFile(`${tmp}/rootfs/${e.path}`), e.content);
      }
    }
    for (const path of LAYERED_EXPECTED.absent) ok(!mine.has(path), `${path} is gone`);
    for (const [a, b] of LAYERED_EXPECTED.hardlinks) {
      equal(mine.get(a)!.ino, mine.get(b)!.ino, `${a} = ${b}`);
    }
    const xattr = await run([
      "getfattr",
      "--only-values",
      "-n",
      "user.test",
      `${tmp}/rootfs/data/xattr.txt`,
    ])
      .catch(() => undefined);
    if (xattr !== undefined) equal(xattr, "1");

    const again = await img(["unpack", "-o", `${tmp}/rootfs`, ref], { state });
    equal(again.code, 1);
    match(again.stderr, /already exists and is not empty/);
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("unpack refuses layers that escape the target: ../ paths and symlinks pointing outside", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-unpack-evil-" });
  const state = `${tmp}/state`;
  const cases = {
    dotdot: [{ path: "../escaped.txt", content: "evil" }],
    deep: [{ path: "a/../../escaped.txt", content: "evil" }],
    relsymlink: [
      {
        path: "up",
        type: "symlink" as const,
        target: "../../../../../../../../.." + `${tmp}/outside`,
      },
      { path: "up/escaped.txt", content: "evil" },
    ],
    hardlink: [{ path: "hl", type: "hardlink" as const, target: "../outside/sentinel" }],
  };
  try {
    await Deno.mkdir(`${tmp}/outside`);
    await Deno.writeTextFile(`${tmp}/outside/sentinel`, "untouched");
    await Deno.chmod(`${tmp}/outside`, 0o777);
    for (const [name, layer] of Object.entries(cases)) {
      await pushBusybox(registry.host, `evil/${name}`, "latest", { extraLayers: [layer] });
      const ref = `${registry.host}/evil/${name}:latest`;
      await imgOk(["pull", ref], { state });
      const r = await img(["unpack", "-o", `${tmp}/out-${name}`, ref], { state });
      equal(r.code, 1, `${name}: ${r.stdout}`);
      match(r.stderr, /outside the target directory/, name);
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      const entries = [...Deno.readDirSync(`${tmp}/outside`)].map((e) => e.name);
      deepEqual(entries, ["sentinel"], `${name}: nothing was written outside`);
      equal(await Deno.readTextFile(`${tmp}/outside/sentinel`), "untouched");
      ok(!(await Deno.stat(`${tmp}/escaped.txt`).catch(() => false)), `${name}: no escaped.txt`);
      ok(
        !(await Deno.stat(`${tmp}/out-${name}`).catch(() => false)),
        `${name}: no half-unpacked tree`,
      );
    }
    // An absolute symlink points into the image's own root, as in a chroot: writing through it
    // lands inside DIR, never on the host path it names.
    await pushBusybox(registry.host, "evil/absolute", "latest", {
      extraLayers: [[
        { path: "evil", type: "symlink" as const, target: `${tmp}/outside` },
        { path: "evil/escaped.txt", content: "contained" },
      ]],
    });
    const ref = `${registry.host}/evil/absolute:latest`;
    await imgOk(["pull", ref], { state });
    await imgOk(["unpack", "-o", `${tmp}/out-absolute`, ref], { state });
    deepEqual([...Deno.readDirSync(`${tmp}/outside`)].map((e) => e.name), ["sentinel"]);
    equal(await Deno.readTextFile(`${tmp}/out-absolute${tmp}/outside/escaped.txt`), "contained");
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("save --format docker loads with podman; save --format oci passes skopeo inspect", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-save-" });
  const state = `${tmp}/state`;
  try {
    const pushed = await pushBusybox(registry.host, "library/busybox", "latest", { layered: true });
    const ref = `${registry.host}/library/busybox:latest`;
    await imgOk(["pull", ref], { state });
    await imgOk(["save", "-o", `${tmp}/docker.tar`, ref], { state });
    await imgOk(["save", "--format", "oci", "-o", `${tmp}/oci.tar`, ref], { state });

    const podman = [
      "podman",
      "--root",
      `${tmp}/podman/root`,
      "--runroot",
      `${tmp}/podman/run`,
      "--storage-driver",
      "vfs",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "none",
    ];
    const env = { XDG_RUNTIME_DIR: `${tmp}/podman/xdg`, HOME: tmp, PATH: Deno.env.get("PATH")! };
    await Deno.mkdir(`${tmp}/podman/xdg`, { recursive: true, mode: 0o700 });
    const loaded = await run([...podman, "load", "-i", `${tmp}/docker.tar`], { env });
    match(
      loaded,
      new RegExp(`Loaded image.*${registry.host.replace(/\./g, "\\.")}/library/busybox:latest`),
    );
    const inspect = JSON.parse(await run([...podman, "image", "inspect", ref], { env }));
    deepEqual(inspect[0].Config.Cmd, ["sh"]);
    equal(inspect[0].RootFS.Layers.length, pushed.image!.layers.length);

    const oci = JSON.parse(await run(["skopeo", "inspect", `oci-archive:${tmp}/oci.tar`]));
    deepEqual(oci.Layers, pushed.image!.layers.map((l) => l.digest));

    // To stdout, as docker does; a terminal is refused (not testable here without a pty).
    const streamed = await img(["save", ref], { state });
    equal(streamed.code, 0);
    equal(streamed.stdout.length > 0, true);
    const missing = await img(["save", "-o", `${tmp}/none.tar`, "nothing:here"], { state });
    equal(missing.code, 1);
    match(missing.stderr, /No such image: nothing:here/);
    ok(!(await Deno.stat(`${tmp}/none.tar`).catch(() => false)));
  } finally {
    await removeTree(tmp);
  }
});

Deno.test("save --format uses a third-party exporter that can save; one that cannot is refused", async () => {
  await using registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "img-save-plugin-" });
  const state = `${tmp}/state`;
  const saver = ["--plugin", "tests/testdata/manifests_exporter.ts"];
  try {
    const pushed = await pushBusybox(registry.host, "library/busybox", "latest", { layered: true });
    const ref = `${registry.host}/library/busybox:latest`;
    await imgOk(["pull", ref], { state });
    const digest = pushed.digest;
    const image = {
      manifest: digest,
      config: pushed.image!.configDigest,
      layers: pushed.image!.layers.map((l) => l.digest),
    };
    // By name the image keeps it; by id (a digest prefix) it has none, as docker save does.
    const expected = [{ names: [ref], ...image }, { names: [], ...image }];
    const id = digest.slice("sha256:".length, "sha256:".length + 12);
    const args = [...saver, "save", "--format", "manifests"];
    await imgOk([...args, "-o", `${tmp}/summary.json`, ref, id], { state, cwd: ROOT });
    deepEqual(JSON.parse(await Deno.readTextFile(`${tmp}/summary.json`)), expected);
    const streamed = await imgOk([...args, ref, id], { state, cwd: ROOT });
    deepEqual(JSON.parse(streamed.stdout), expected);

    // An exporter without saveImages, third-party or built-in, is refused before anything is
    // written, naming the exporters that can save (the third-party one among them).
    for (const format of ["listing", "tar"]) {
      const refused = await img([
        ...saver,
        "--plugin",
        "./examples/plugins/listing/mod.ts",
        "save",
        "--format",
        format,
        "-o",
        `${tmp}/refused.out`,
        ref,
      ], { state, cwd: ROOT });
      equal(refused.code, 1);
      equal(
        refused.stderr.trim(),
        `img: The ${format} exporter cannot save images: use --format with one of docker, manifests, oci`,
      );
      ok(!(await Deno.stat(`${tmp}/refused.out`).catch(() => false)));
    }
    const unknown = await img(["save", "--format", "nope", "-o", `${tmp}/refused.out`, ref], {
      state,
    });
    equal(unknown.code, 1);
    equal(
      unknown.stderr.trim(),
      "img: There is no exporter named nope: use --format with one of docker, oci",
    );
  } finally {
    await removeTree(tmp);
  }
});
