/**
 * The snapshot backends end to end, as the user running the suite (CI: the unprivileged
 * test user): one Dockerfile that adds, changes and deletes files and directories across
 * stages, over a base image whose layers hold whiteouts and an opaque directory, builds to
 * the same file tree with native, overlayfs and fuse-overlayfs on one state directory
 * (checked with `umoci unpack` of `img save --format oci`); overlayfs builds 150 layers;
 * `--backend auto` picks overlayfs here.
 *
 * Changing one name of a hard link made in an earlier layer is left out: an overlay copies
 * the changed name up alone (rootless overlayfs has no `index=on`), which breaks the link,
 * as with docker's overlay2 and BuildKit's overlayfs snapshotter.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { imgOk, removeTree, run } from "./_util/img.ts";
import { lgetxattr } from "../core/libc.ts";
import { diffTrees, snapshotTree, type Tree } from "./_util/tree.ts";

const BACKENDS = ["native", "overlayfs", "fuse-overlayfs"] as const;

const DOCKERFILE = (base: string) => `
FROM ${base} AS build
# What the base image's whiteouts and opaque directory left, as RUN sees it.
RUN find /data | sort > /data-listing && test ! -e /data/deleted.txt && test ! -e /data/gone \\
 && test ! -e /data/opaque/old.txt && test ! -e /data/opaque/sub && test -f /data/opaque/new.txt \\
 && test "$(stat -c %a /data/mode.txt)" = 600 && echo ok > /unpack-ok
RUN mkdir -p /app/dir/sub /app/gone/deep /app/replaced && echo one > /app/one \\
 && echo two > /app/dir/two && echo x > /app/gone/deep/x && echo r > /app/replaced/r \\
 && ln -s one /app/link && echo same > /app/linked && ln /app/linked /app/hard && chmod 640 /app/dir/two \\
 && chown 1000:1000 /app/dir && echo keep > /app/replaced/keep
RUN echo changed > /app/one && rm -rf /app/gone && rm /app/dir/two \\
 && echo new > /app/dir/sub/new && chmod 700 /app/dir/sub && rm -rf /app/replaced \\
 && mkdir /app/replaced && echo fresh > /app/replaced/fresh && rm /data/hl-b \\
 && rm -rf /data/opaque && mkdir /data/opaque && echo again > /data/opaque/again \\
 && chown 1000:1000 /data/mode.txt && rm /data/link-dangling && echo file > /app/becomes-dir
RUN rm /app/becomes-dir && mkdir /app/becomes-dir && touch /app/becomes-dir/inside \\
 && chown -R 1000:1000 /app/becomes-dir
COPY ctx.txt /app/ctx.txt

FROM ${base}
RUN rm -rf /home/builder /data/opaque && mkdir -p /out/empty && echo a > /out/a
COPY --from=build /app /app
COPY --from=build /data/opaque /data/opaque
COPY --from=build /data/mode.txt /data/mode.txt
COPY --from=build /data-listing /unpack-ok /out/
RUN rm /out/a && echo b > /out/b && chmod 4755 /out/b
`;

/** The image's file tree as umoci unpacks it from `img save --format oci`. */
async function unpackedTree(
  state: string,
  name: string,
  tmp: string,
): Promise<{ tree: Tree; rootfs: string }> {
  const tar = `${tmp}/${name.replaceAll(/[/:]/g, "_")}.tar`;
  await imgOk(["save", "--format", "oci", "-o", tar, name], { state });
  const layout = `${tar}.d`;
  await Deno.mkdir(layout);
  await run(["tar", "-xf", tar, "-C", layout]);
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const tag = index.manifests[0].annotations?.["org.opencontainers.image.ref.name"] ?? "latest";
  const bundle = `${tar}.bundle`;
  await run(["umoci", "unpack", "--rootless", "--image", `${layout}:${tag}`, bundle]);
  return { tree: snapshotTree(`${bundle}/rootfs`), rootfs: `${bundle}/rootfs` };
}

/** Owners as umoci --rootless records them (`user.rootlesscontainers`), else stat's. */
function owner(path: string): string {
  const out = new Deno.Command("stat", { args: ["-c", "%u:%g", path], stdout: "piped" })
    .outputSync();
  const stat = new TextDecoder().decode(out.stdout).trim();
  const b = lgetxattr(path, "user.rootlesscontainers");
  if (b === null || b.length === 0) return Deno.uid() === 0 ? stat : "0:0";
  // A protobuf: field 1 uid, field 2 gid (varints); an absent field means 0.
  const ids: Record<number, number> = { 1: 0, 2: 0 };
  for (let i = 0; i < b.length;) {
    const key = b[i++];
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) break;
    }
    ids[key >> 3] = v;
  }
  return `${ids[1]}:${ids[2]}`;
}

Deno.test({
  name: "one Dockerfile builds to the same tree with native, overlayfs and fuse-overlayfs",
  sanitizeResources: false,
  async fn() {
    await using registry = await startRegistry();
    const pushed = await pushBusybox(registry.host, "library/layered", "latest", {
      layered: true,
    });
    const tmp = await Deno.makeTempDir({ prefix: "img-backends-" });
    try {
      const ctx = `${tmp}/ctx`;
      await Deno.mkdir(ctx);
      await Deno.writeTextFile(`${ctx}/Dockerfile`, DOCKERFILE(pushed.reference));
      await Deno.writeTextFile(`${ctx}/ctx.txt`, "from the context\n");
      // One state directory for all: each backend keeps its own snapshots and cache rows.
      const state = `${tmp}/state`;
      const trees = new Map<string, { tree: Tree; rootfs: string }>();
      for (const backend of BACKENDS) {
        const name = `backends/${backend}:latest`;
        const built = await imgOk(
          ["--debug", "-b", backend, "build", "--no-console", "-t", name, ctx],
          { state },
        );
        match(built.stderr, new RegExp(`backend: ${backend} \\(from --backend\\)`));
        trees.set(backend, await unpackedTree(state, name, tmp));
      }
      const native = trees.get("native")!;
      // What every backend must have built (checked on native, then compared).
      const r = native.rootfs;
      equal(await Deno.readTextFile(`${r}/out/unpack-ok`), "ok\n");
      const listing = (await Deno.readTextFile(`${r}/out/data-listing`)).trim().split("\n");
      ok(listing.includes("/data/opaque/new.txt"));
      for (const gone of ["/data/deleted.txt", "/data/gone", "/data/opaque/old.txt"]) {
        ok(!listing.includes(gone), `${gone} was deleted by the base image's whiteouts`);
      }
      equal(await Deno.readTextFile(`${r}/app/one`), "changed\n");
      equal(await Deno.readTextFile(`${r}/app/ctx.txt`), "from the context\n");
      equal(await Deno.readTextFile(`${r}/app/dir/sub/new`), "new\n");
      equal(await Deno.readTextFile(`${r}/app/replaced/fresh`), "fresh\n");
      equal(await Deno.readTextFile(`${r}/data/opaque/again`), "again\n");
      equal(await Deno.readTextFile(`${r}/out/b`), "b\n");
      equal(Deno.lstatSync(`${r}/out/b`).mode! & 0o7777, 0o4755);
      equal(Deno.lstatSync(`${r}/app/dir/sub`).mode! & 0o7777, 0o700);
      ok(Deno.lstatSync(`${r}/app/becomes-dir`).isDirectory);
      equal(Deno.readLinkSync(`${r}/app/link`), "one");
      equal(Deno.lstatSync(`${r}/app/hard`).ino, Deno.lstatSync(`${r}/app/linked`).ino);
      for (
        const gone of [
          "app/gone",
          "app/dir/two",
          "app/replaced/r",
          "app/replaced/keep",
          "home/builder",
          "data/opaque/new.txt",
          "data/deleted.txt",
          "out/a",
        ]
      ) {
        ok(!native.tree.has(gone), `${gone} is deleted`);
      }
      ok(![...native.tree.keys()].some((p) => p.includes(".wh.")), "no whiteout is left");
      equal(owner(`${r}/app/dir`), "1000:1000");
      equal(owner(`${r}/app/becomes-dir/inside`), "1000:1000");
      equal(owner(`${r}/data/mode.txt`), "1000:1000");
      equal(owner(`${r}/app/one`), "0:0");
      for (const backend of ["overlayfs", "fuse-overlayfs"]) {
        const other = trees.get(backend)!;
        const diff = diffTrees(native.tree, other.tree, {
          fields: ["type", "mode", "size", "content", "link"],
        });
        deepEqual(diff, [], `native and ${backend} built different trees:\n${diff.join("\n")}`);
        for (const p of native.tree.keys()) {
          equal(owner(`${other.rootfs}/${p}`), owner(`${r}/${p}`), `${backend}: owner of ${p}`);
        }
      }
    } finally {
      await removeTree(tmp);
    }
  },
});

Deno.test({
  name: "a 150-layer build works with overlayfs, and --backend auto picks overlayfs here",
  sanitizeResources: false,
  async fn() {
    await using registry = await startRegistry();
    const pushed = await pushBusybox(registry.host, "library/busybox", "latest");
    const tmp = await Deno.makeTempDir({ prefix: "img-backends-150-" });
    try {
      const ctx = `${tmp}/ctx`;
      await Deno.mkdir(ctx);
      const runs = Array.from({ length: 150 }, (_, i) => `RUN echo ${i} > /f${i}`);
      await Deno.writeTextFile(
        `${ctx}/Dockerfile`,
        `FROM ${pushed.reference}\n${runs.join("\n")}\nRUN cat /f0 /f75 /f149 > /sum\n`,
      );
      const state = `${tmp}/state`;
      const built = await imgOk(
        ["--debug", "build", "--no-console", "-t", "many:latest", ctx],
        { state },
      );
      match(built.stderr, /backend auto: chose overlayfs/);
      const { tree, rootfs } = await unpackedTree(state, "many:latest", tmp);
      equal(await Deno.readTextFile(`${rootfs}/sum`), "0\n75\n149\n");
      for (let i = 0; i < 150; i++) ok(tree.has(`f${i}`), `f${i} is in the image`);
      const manifest = JSON.parse(
        await run(["skopeo", "inspect", "--raw", `oci-archive:${tmp}/many_latest.tar`]),
      );
      equal(manifest.layers.length, 152, "busybox, 150 RUN layers and the last one");
    } finally {
      await removeTree(tmp);
    }
  },
});
