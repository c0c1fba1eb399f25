/**
 * Every `--output` type of `img build`, checked with tools nobody here wrote, as the user
 * running the suite (CI: the unprivileged test user): `type=oci` with skopeo and umoci,
 * `type=docker` with podman, `type=tar` with GNU tar, `type=local` against those trees; `-o -`
 * on stdout; the example third-party exporter loaded from its path; a plugin for another API
 * version refused; a plugin that throws reported as that plugin's error.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgCommand, imgOk, removeTree, ROOT, run, spawnImg } from "./_util/img.ts";
import { diffTrees, snapshotTree, type Tree } from "./_util/tree.ts";

const isRoot = Deno.uid() === 0;

const DOCKERFILE = `ARG BASE
FROM \${BASE}
COPY greeting.txt /srv/greeting.txt
RUN mkdir -p /data/sub && echo hello > /data/sub/file && ln /data/sub/file /data/hard \\
 && ln -s sub/file /data/link && mkfifo /data/fifo && echo x > /data/suid \\
 && chown -R 1000:1000 /data/sub && chmod 4755 /data/suid && chmod 1777 /data/sub
ENV GREETING=/srv/greeting.txt
CMD ["cat", "/srv/greeting.txt"]
`;
const GREETING = "hello from the exporters test\n";

/** The node kinds a test tree must show, so that no comparison passes on an empty tree. */
function assertInteresting(tree: Tree, what: string): void {
  equal(tree.get("srv/greeting.txt")?.sha256, sha256Hex(GREETING), `${what}: greeting`);
  equal(tree.get("data/link")?.linkTarget, "sub/file", `${what}: symlink`);
  equal(tree.get("data/fifo")?.type, "fifo", `${what}: fifo`);
  equal(tree.get("data/suid")?.mode, 0o4755, `${what}: setuid`);
  equal(tree.get("data/sub")?.mode, 0o1777, `${what}: sticky`);
  equal(tree.get("data/hard")?.ino, tree.get("data/sub/file")?.ino, `${what}: hard link`);
  ok((tree.get("bin/busybox")?.size ?? 0) > 100_000, `${what}: busybox`);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The entry names of a tar as GNU tar lists them, without trailing slashes, sorted. */
async function tarNames(file: string): Promise<string[]> {
  return (await run(["tar", "-tf", file])).split("\n").filter(Boolean)
    .map((n) => n.replace(/^\.\//, "").replace(/\/$/, "")).sort();
}

function podmanCommand(dir: string): { cmd: string[]; env: Record<string, string> } {
  return {
    cmd: [
      "podman",
      "--root",
      `${dir}/root`,
      "--runroot",
      `${dir}/run`,
      "--storage-driver",
      "vfs",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "none",
    ],
    env: { XDG_RUNTIME_DIR: `${dir}/xdg`, HOME: dir, PATH: Deno.env.get("PATH")! },
  };
}

Deno.test("every output type, checked by skopeo, umoci, podman and tar", async (t) => {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-exporters-" });
  const state = `${tmp}/state`;
  const ctx = `${tmp}/ctx`;
  await Deno.mkdir(ctx);
  await Deno.writeTextFile(`${ctx}/Dockerfile`, DOCKERFILE);
  await Deno.writeTextFile(`${ctx}/greeting.txt`, GREETING);
  const base = ["build", "--no-console", "--build-arg", `BASE=${registry.host}/library/busybox`];
  const build = (...args: string[]) => imgOk([...base, ...args, ctx], { state });
  try {
    // The reference every comparison is made against: the result as a directory (-o DIR).
    await build("-o", `${tmp}/local`);
    const local = snapshotTree(`${tmp}/local`);
    assertInteresting(local, "type=local");

    await t.step(
      "type=local writes files as the user running img (owners kept as root)",
      async () => {
        const me = Deno.uid()!;
        if (isRoot) {
          equal(local.get("data/sub")?.uid, 1000);
          equal(local.get("data/sub/file")?.gid, 1000);
          equal(local.get("srv/greeting.txt")?.uid, 0);
        } else {
          for (const [path, node] of local) equal(node.uid, me, `${path} belongs to the user`);
        }
        // The user can delete the whole tree without entering a user namespace.
        if (!isRoot) {
          await Deno.remove(`${tmp}/local/data/sub/file`);
          await build("-o", `type=local,dest=${tmp}/local`);
          deepEqual(diffTrees(local, snapshotTree(`${tmp}/local`)), []);
        }
        // An existing directory receives the tree; its other files stay, nothing is left over.
        await Deno.mkdir(`${tmp}/into/srv`, { recursive: true });
        await Deno.writeTextFile(`${tmp}/into/mine.txt`, "mine\n");
        await Deno.writeTextFile(`${tmp}/into/srv/greeting.txt`, "old\n");
        await build("-o", `type=local,dest=${tmp}/into`);
        const into = snapshotTree(`${tmp}/into`);
        equal(into.get("mine.txt")?.type, "file");
        into.delete("mine.txt");
        deepEqual(diffTrees(local, into), []);
      },
    );

    await t.step(
      "type=oci passes skopeo inspect; umoci unpack gives the type=local tree",
      async () => {
        const name = `${registry.host}/exporters/app:v1`;
        const built = await build("-t", name, "-o", `type=oci,dest=${tmp}/oci.tar`);
        match(built.stdout, /^Successfully built sha256:[a-f0-9]{64}$/m);
        const inspect = JSON.parse(await run(["skopeo", "inspect", `oci-archive:${tmp}/oci.tar`]));
        equal(inspect.Layers.length, 3, "busybox, the COPY and the RUN");
        deepEqual(inspect.Env.includes("GREETING=/srv/greeting.txt"), true);
        const config = JSON.parse(
          await run(["skopeo", "inspect", "--config", `oci-archive:${tmp}/oci.tar:v1`]),
        );
        deepEqual(config.config.Cmd, ["cat", "/srv/greeting.txt"]);

        // umoci reads the layout the tarball holds.
        await Deno.mkdir(`${tmp}/oci-layout`);
        await run(["tar", "-xf", `${tmp}/oci.tar`, "-C", `${tmp}/oci-layout`]);
        await run([
          "umoci",
          "unpack",
          "--rootless",
          "--image",
          `${tmp}/oci-layout:v1`,
          `${tmp}/bundle`,
        ]);
        const unpacked = snapshotTree(`${tmp}/bundle/rootfs`);
        assertInteresting(unpacked, "umoci");
        deepEqual(diffTrees(local, unpacked), []);

        // tar=false writes the same layout as a directory.
        await build("-o", `type=oci,tar=false,name=${name},dest=${tmp}/oci-dir`);
        const dirInspect = JSON.parse(await run(["skopeo", "inspect", `oci:${tmp}/oci-dir:v1`]));
        // The same layers (the config's created time differs from build to build).
        deepEqual(dirInspect.Layers, inspect.Layers);
      },
    );

    await t.step(
      "type=docker loads with podman load; podman image inspect shows the config",
      async () => {
        const name = "example.com/exporters/app:v2";
        await build("-t", name, "-o", `type=docker,dest=${tmp}/docker.tar`);
        const { cmd, env } = podmanCommand(`${tmp}/podman`);
        await Deno.mkdir(`${tmp}/podman/xdg`, { recursive: true, mode: 0o700 });
        try {
          const loaded = await run([...cmd, "load", "-i", `${tmp}/docker.tar`], { env });
          match(loaded, /Loaded image.*example\.com\/exporters\/app:v2/);
          const [image] = JSON.parse(await run([...cmd, "image", "inspect", name], { env }));
          deepEqual(image.Config.Cmd, ["cat", "/srv/greeting.txt"]);
          ok(image.Config.Env.includes("GREETING=/srv/greeting.txt"));
          equal(image.RootFS.Layers.length, 3);
        } finally {
          await run([...cmd, "system", "reset", "--force"], { env }).catch(() => {});
        }
      },
    );

    await t.step("type=tar lists with tar -t and matches type=local", async () => {
      await build("-o", `type=tar,dest=${tmp}/rootfs.tar`);
      deepEqual(await tarNames(`${tmp}/rootfs.tar`), [...local.keys()].sort());
      // Owners are the image's (numeric, as docker export writes them), not the user's.
      const verbose = await run(["tar", "--numeric-owner", "-tvf", `${tmp}/rootfs.tar`]);
      match(verbose, /^drwxrwxrwt 1000\/1000 .* data\/sub\/$/m);
      match(verbose, /^-rwsr-xr-x 0\/0 .* data\/suid$/m);
      match(
        verbose,
        /^hrw-r--r-- 1000\/1000 .* data\/(hard|sub\/file) link to data\/(sub\/file|hard)$/m,
      );
      await Deno.mkdir(`${tmp}/untarred`);
      await run([
        "tar",
        "-xpf",
        `${tmp}/rootfs.tar`,
        "--no-same-owner",
        "-C",
        `${tmp}/untarred`,
      ]);
      deepEqual(diffTrees(local, snapshotTree(`${tmp}/untarred`)), []);
    });

    await t.step("-o - streams the tar to stdout; type=oci without dest does too", async () => {
      for (
        const [args, file] of [[["-o", "-"], "stdout.tar"], [["-o", "type=oci"], "stdout-oci.tar"]]
      ) {
        const child = spawnImg([...base, ...args, ctx], { state });
        const out = await child.output();
        equal(out.code, 0, new TextDecoder().decode(out.stderr));
        await Deno.writeFile(`${tmp}/${file}`, out.stdout);
        ok(
          !new TextDecoder().decode(out.stdout.subarray(-4096)).includes("Successfully built"),
          "nothing but the archive on stdout",
        );
      }
      deepEqual(await tarNames(`${tmp}/stdout.tar`), [...local.keys()].sort());
      const inspect = JSON.parse(
        await run(["skopeo", "inspect", `oci-archive:${tmp}/stdout-oci.tar`]),
      );
      equal(inspect.Layers.length, 3);
      // A terminal is refused before anything is built.
      const [cmd, ...rest] = imgCommand([...base, "-o", "-", ctx], state);
      const tty = await new Deno.Command("script", {
        args: ["-qec", [cmd, ...rest].map((a) => `'${a}'`).join(" "), "/dev/null"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      equal(tty.code, 1);
      match(
        new TextDecoder().decode(tty.stdout),
        /img: exporter tar: Refusing to write a tar archive to a terminal/,
      );
    });

    await t.step("the example third-party exporter works from its file path", async () => {
      const plugin = "./examples/plugins/listing/mod.ts";
      const r = await imgOk(
        [...base, "--plugin", plugin, "-o", `type=listing,dest=${tmp}/files.json`, ctx],
        { state, cwd: ROOT },
      );
      match(r.stderr, /DONE|CACHED/);
      const listing = JSON.parse(await Deno.readTextFile(`${tmp}/files.json`));
      equal(listing.schema, "img-listing/v1");
      const byPath = new Map<string, Record<string, unknown>>(
        listing.files.map((f: { path: string }) => [f.path, f]),
      );
      deepEqual(byPath.get("/srv/greeting.txt"), {
        path: "/srv/greeting.txt",
        type: "file",
        size: GREETING.length,
        mode: "0644",
        sha256: `sha256:${sha256Hex(GREETING)}`,
      });
      deepEqual(byPath.get("/data/link"), {
        path: "/data/link",
        type: "symlink",
        size: "sub/file".length,
        mode: "0777",
        target: "sub/file",
      });
      equal(byPath.get("/data/suid")?.mode, "4755");
      equal(byPath.size, local.size, "every file of the result is listed");

      const version = await imgOk(["--plugin", plugin, "version"], { cwd: ROOT });
      match(
        version.stdout,
        /^exporter plugin\s+: listing 0\.1\.0 \(\.\/examples\/plugins\/listing\/mod\.ts\)$/m,
      );
      match(version.stdout, /^exporter plugin\s+: oci 0\.1\.0$/m);

      const unknown = await img([...base, "--plugin", plugin, "-o", "type=nope", ctx], {
        state,
        cwd: ROOT,
      });
      equal(unknown.code, 1);
      equal(
        unknown.stderr.trim(),
        'img: Unknown exporter "nope": available: docker, image, listing, local, oci, tar',
      );
    });

    await t.step("a plugin for another API version is refused, naming both versions", async () => {
      const r = await img(
        [...base, "--plugin", "tests/testdata/api_v99_exporter.ts", "-o", "type=future", ctx],
        { state, cwd: ROOT },
      );
      equal(r.code, 1);
      match(
        r.stderr,
        /^img: Plugin exporter\/future 2\.0\.0 \(tests\/testdata\/api_v99_exporter\.ts\) needs plugin API version 99, but this img supports API version 1/,
      );
      equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });

    await t.step("a plugin's failures are reported as that plugin's, leaving no file", async () => {
      const r = await img(
        [
          ...base,
          "--plugin",
          "tests/testdata/throwing_exporter.ts",
          "-o",
          `type=throwing,dest=${tmp}/out/thrown.bin`,
          ctx,
        ],
        { state, cwd: ROOT },
      );
      equal(r.code, 1);
      const last = r.stderr.trim().split("\n").at(-1);
      equal(last, "img: exporter throwing: disk on fire");
      ok(!r.stderr.includes("internal.ts"), "no stack trace without --debug");
      deepEqual([...Deno.readDirSync(`${tmp}/out`)], [], "no half-written file is left");

      const bad = await img([...base, "-o", `type=oci,dest=${tmp}/x.tar,bogus=1`, ctx], { state });
      equal(bad.code, 1);
      equal(
        bad.stderr.trim(),
        'img: exporter oci: Unknown attribute "bogus": use dest=, name=, tar=, compression=, ' +
          "compression-level=, force-compression=, oci-mediatypes=, rewrite-timestamp=, " +
          "annotation.<key>=, annotation-manifest.<key>=, annotation-index.<key>=, " +
          "annotation-manifest-descriptor.<key>=",
      );
      const badBool = await img([...base, "-o", `type=oci,dest=${tmp}/x,tar=maybe`, ctx], {
        state,
      });
      equal(
        badBool.stderr.trim(),
        'img: exporter oci: Invalid value "maybe" for tar=: use true or false',
      );
    });
  } finally {
    await removeTree(tmp);
  }
});
