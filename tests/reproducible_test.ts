/**
 * Reproducible builds and layer options of the image exporters, end to end as the user
 * running the suite (CI: the unprivileged test user), checked with tools nobody here wrote:
 *
 * - two builds with `SOURCE_DATE_EPOCH` and `rewrite-timestamp=true` in two fresh state dirs,
 *   from two copies of the context made at different times, give byte-identical `type=oci`
 *   archives (`cmp`) with the same manifest digest;
 * - `compression=zstd` layers pushed to the loopback registry round-trip through `skopeo copy`
 *   (registry -> OCI layout -> registry), and `img pull` + `img unpack` of them give the files;
 * - gzip and zstd layers of one build coexist in one state dir, neither compressed again;
 * - `oci-mediatypes=false` gives a Docker schema 2 manifest (`skopeo inspect --raw`);
 * - `annotation.*` lands on the manifest, `annotation-index.*` on `index.json`;
 * - `compression=uncompressed` layers are plain tars whose digest is their diffID.
 */
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, removeTree, run } from "./_util/img.ts";
import { startRegistry, type TestRegistry } from "./_util/registry.ts";

const EPOCH = 1_700_000_000;
const EPOCH_ISO = new Date(EPOCH * 1000).toISOString();

const DOCKERFILE = `ARG BASE
FROM \${BASE}
WORKDIR /app/work
COPY files/ /app/files/
COPY greeting.txt deep/er/
RUN mkdir -p /data/new/sub && echo made > /data/new/sub/file && touch /app/work/touched \\
 && echo more >> /app/files/a.txt && ln -s sub/file /data/new/link
ENV GREETING=/app/work/deep/er/greeting.txt
CMD ["cat", "/app/work/deep/er/greeting.txt"]
`;

const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociTar: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** Writes the build context into `dir` (fresh files: their mtimes are now). */
async function writeContext(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/files/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/Dockerfile`, DOCKERFILE);
  await Deno.writeTextFile(`${dir}/greeting.txt`, "hello, reproducibly\n");
  await Deno.writeTextFile(`${dir}/files/a.txt`, "a\n");
  await Deno.writeTextFile(`${dir}/files/sub/b.txt`, "b\n");
  return dir;
}

async function withRegistry(
  fn: (env: { registry: TestRegistry; base: string; tmp: string }) => Promise<void>,
): Promise<void> {
  await using registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-repro-" });
  try {
    await fn({ registry, base: `${registry.host}/library/busybox:latest`, tmp });
  } finally {
    await removeTree(tmp);
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Reads a blob of an OCI layout directory. */
async function layoutBlob(dir: string, digest: string): Promise<Uint8Array> {
  return await Deno.readFile(`${dir}/blobs/sha256/${digest.slice(7)}`);
}

async function layoutJSON<T>(dir: string, digest: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await layoutBlob(dir, digest))) as T;
}

/** The single manifest of an OCI layout directory, with `index.json`. */
async function layoutManifest(
  dir: string,
): Promise<
  { index: { manifests: Descriptor[]; annotations?: Record<string, string> }; manifest: Manifest }
> {
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  equal(index.manifests.length, 1);
  return { index, manifest: await layoutJSON<Manifest>(dir, index.manifests[0].digest) };
}

/** `(mtime seconds, name)` of every entry of a layer tar, as GNU tar lists them. */
async function tarTimes(file: string): Promise<{ name: string; mtime: number }[]> {
  const out = await run([
    "tar",
    "--list",
    "--verbose",
    "--full-time",
    "--numeric-owner",
    "-f",
    file,
  ], {
    env: { TZ: "UTC", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  return out.split("\n").filter(Boolean).map((line) => {
    const m = line.match(/ (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) (.*?)(?: -> .*)?$/);
    if (!m) throw new Error(`Cannot parse tar listing line: ${line}`);
    return { name: m[3], mtime: Date.parse(`${m[1]}T${m[2]}Z`) / 1000 };
  });
}

Deno.test("SOURCE_DATE_EPOCH and rewrite-timestamp give byte-identical OCI archives", async (t) => {
  await withRegistry(async ({ base, tmp }) => {
    const build = (
      backend: string,
      state: string,
      ctx: string,
      dest: string,
      extra: string[],
      env = {},
    ) =>
      imgOk(
        [
          "--backend",
          backend,
          "build",
          "--no-console",
          "--build-arg",
          `BASE=${base}`,
          ...extra,
          "-o",
          `type=oci,dest=${dest},rewrite-timestamp=true`,
          ctx,
        ],
        { state, env },
      );

    // The default backend (overlayfs where the kernel allows it) and the copying one.
    for (const backend of ["auto", "native"]) {
      await t.step(`--backend ${backend}`, async () => {
        const dir = `${tmp}/${backend}`;
        const ctxA = await writeContext(`${dir}/ctx-a`);
        // The first build takes SOURCE_DATE_EPOCH from the environment.
        await build(backend, `${dir}/state-a`, ctxA, `${dir}/a.tar`, [], {
          SOURCE_DATE_EPOCH: String(EPOCH),
        });
        // Later (so every file and directory made at build time has a newer mtime), a fresh
        // copy of the context, a fresh state dir, and the epoch as a build argument.
        await new Promise((r) => setTimeout(r, 1100));
        const ctxB = await writeContext(`${dir}/ctx-b`);
        await build(backend, `${dir}/state-b`, ctxB, `${dir}/b.tar`, [
          "--build-arg",
          `SOURCE_DATE_EPOCH=${EPOCH}`,
        ]);

        await run(["cmp", `${dir}/a.tar`, `${dir}/b.tar`]);

        // Not vacuous: the archive is the image, its times are the epoch, its new layers
        // hold the files (made after the epoch) with their mtimes clamped.
        const layout = `${dir}/layout`;
        await Deno.mkdir(layout);
        await run(["tar", "-xf", `${dir}/a.tar`, "-C", layout]);
        const { index, manifest } = await layoutManifest(layout);
        const inspect = JSON.parse(await run(["skopeo", "inspect", `oci-archive:${dir}/b.tar`]));
        equal(inspect.Digest, index.manifests[0].digest, "the same manifest digest");
        equal(manifest.layers.length, 5, "busybox, WORKDIR, COPY files/, COPY greeting.txt, RUN");
        const config = await layoutJSON<{ created: string; history: { created: string }[] }>(
          layout,
          manifest.config.digest,
        );
        equal(config.created, EPOCH_ISO);
        for (const h of config.history.slice(1)) equal(h.created, EPOCH_ISO);
        const names = new Set<string>();
        for (const layer of manifest.layers.slice(1)) {
          const file = `${layout}/blobs/sha256/${layer.digest.slice(7)}`;
          for (const e of await tarTimes(file)) {
            ok(e.mtime <= EPOCH, `${e.name} has mtime ${e.mtime}, after ${EPOCH}`);
            names.add(e.name.replace(/\/$/, ""));
          }
        }
        for (
          const n of [
            "app/work",
            "app/work/deep/er/greeting.txt",
            "app/files/sub/b.txt",
            "data/new/sub/file",
            "app/work/touched",
          ]
        ) {
          ok(names.has(n), `the new layers hold ${n}: ${[...names].join(" ")}`);
        }

        // A build argument wins over the environment.
        const layout2 = `${dir}/layout2`;
        await imgOk(
          [
            "--backend",
            backend,
            "build",
            "--no-console",
            "--build-arg",
            `BASE=${base}`,
            "--build-arg",
            `SOURCE_DATE_EPOCH=${EPOCH}`,
            "-o",
            `type=oci,dest=${layout2},tar=false,rewrite-timestamp=true`,
            ctxA,
          ],
          { state: `${dir}/state-a`, env: { SOURCE_DATE_EPOCH: "1" } },
        );
        deepEqual((await layoutManifest(layout2)).manifest, manifest);
      });
    }
  });
});

Deno.test("layer compression, media types and annotations of the image exporters", async (t) => {
  await withRegistry(async ({ registry, base, tmp }) => {
    const ctx = await writeContext(`${tmp}/ctx`);
    const state = `${tmp}/state`;
    const build = (output: string) =>
      imgOk(["build", "--no-console", "--build-arg", `BASE=${base}`, "-o", output, ctx], {
        state,
      });
    const raw = async (ref: string) =>
      JSON.parse(
        await run(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
      );
    const rawConfig = async (ref: string) =>
      JSON.parse(
        await run([
          "skopeo",
          "inspect",
          "--config",
          "--raw",
          "--tls-verify=false",
          `docker://${ref}`,
        ]),
      );
    const busybox = await raw(base) as Manifest;
    const busyboxDiffID = (await rawConfig(base)).rootfs.diff_ids[0];
    const blobPath = (digest: string) => `${state}/content/blobs/sha256/${digest.slice(7)}`;
    const repo = `${registry.host}/repro/app`;

    let zstdLayers: Descriptor[] = [];
    await t.step("compression=zstd: new layers zstd, the base layer as pulled", async () => {
      await build(`type=image,name=${repo}:zstd,push=true,compression=zstd`);
      const m = await raw(`${repo}:zstd`) as Manifest;
      equal(m.mediaType, MEDIA.ociManifest);
      equal(m.layers.length, 5);
      deepEqual(m.layers[0], busybox.layers[0], "the base layer is reused as pulled");
      for (const l of m.layers.slice(1)) equal(l.mediaType, MEDIA.ociZstd);
      const head = (await Deno.readFile(blobPath(m.layers[4].digest))).subarray(0, 4);
      deepEqual([...head], [0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
      zstdLayers = m.layers;
    });

    await t.step("gzip and zstd layers coexist; neither is compressed again", async () => {
      const before = await Promise.all(zstdLayers.map((l) => Deno.stat(blobPath(l.digest))));
      await build(`type=oci,dest=${tmp}/gz,tar=false`);
      const gz = (await layoutManifest(`${tmp}/gz`)).manifest;
      for (const l of gz.layers) equal(l.mediaType, MEDIA.ociGzip);
      deepEqual(gz.layers[0], busybox.layers[0]);
      await build(`type=oci,dest=${tmp}/zs,tar=false,compression=zstd`);
      const zs = (await layoutManifest(`${tmp}/zs`)).manifest;
      deepEqual(zs.layers, zstdLayers, "the zstd blobs made before");
      const after = await Promise.all(zstdLayers.map((l) => Deno.stat(blobPath(l.digest))));
      deepEqual(after.map((s) => s.ino), before.map((s) => s.ino), "the blobs were not rewritten");
      // Same tars, whatever the compression.
      const gzConfig = await layoutJSON<{ rootfs: { diff_ids: string[] } }>(
        `${tmp}/gz`,
        gz.config.digest,
      );
      const zsConfig = await layoutJSON<{ rootfs: { diff_ids: string[] } }>(
        `${tmp}/zs`,
        zs.config.digest,
      );
      deepEqual(zsConfig.rootfs.diff_ids, gzConfig.rootfs.diff_ids);
    });

    await t.step("zstd layers round-trip through skopeo copy and img pull", async () => {
      await build(
        `type=image,name=${repo}:zstd-all,push=true,compression=zstd,force-compression=true`,
      );
      const pushed = await raw(`${repo}:zstd-all`) as Manifest;
      for (const l of pushed.layers) equal(l.mediaType, MEDIA.ociZstd);
      notEqual(pushed.layers[0].digest, busybox.layers[0].digest, "the base layer recompressed");
      equal((await rawConfig(`${repo}:zstd-all`)).rootfs.diff_ids[0], busyboxDiffID);

      // Registry -> OCI layout (skopeo) -> registry.
      await run([
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${repo}:zstd-all`,
        `oci:${tmp}/skopeo:v1`,
      ]);
      const copied = (await layoutManifest(`${tmp}/skopeo`)).manifest;
      equal(copied.layers.length, 5);
      for (const l of copied.layers) match(l.mediaType, /\+zstd$/);
      await run([
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci:${tmp}/skopeo:v1`,
        `docker://${registry.host}/repro/back:v1`,
      ]);
      const back = await raw(`${registry.host}/repro/back:v1`) as Manifest;
      deepEqual(back.layers.map((l) => l.digest), pushed.layers.map((l) => l.digest));

      const fresh = `${tmp}/state-pull`;
      await imgOk(["pull", `${registry.host}/repro/back:v1`], { state: fresh });
      await imgOk(["unpack", "-o", `${tmp}/rootfs`, `${registry.host}/repro/back:v1`], {
        state: fresh,
      });
      const read = (p: string) => Deno.readTextFile(`${tmp}/rootfs/${p}`);
      equal(await read("app/work/deep/er/greeting.txt"), "hello, reproducibly\n");
      equal(await read("app/files/a.txt"), "a\nmore\n");
      equal(await read("app/files/sub/b.txt"), "b\n");
      equal(await read("data/new/sub/file"), "made\n");
      equal(await Deno.readLink(`${tmp}/rootfs/data/new/link`), "sub/file");
      ok((await Deno.stat(`${tmp}/rootfs/bin/busybox`)).size > 100_000, "the base layer");
    });

    await t.step("oci-mediatypes=false gives a Docker schema 2 manifest", async () => {
      await build(`type=image,name=${repo}:docker,push=true,oci-mediatypes=false`);
      const m = await raw(`${repo}:docker`) as Manifest;
      equal(m.mediaType, MEDIA.dockerManifest);
      equal(m.config.mediaType, MEDIA.dockerConfig);
      equal(m.layers.length, 5);
      for (const l of m.layers) equal(l.mediaType, MEDIA.dockerGzip);
      equal(m.layers[0].digest, busybox.layers[0].digest, "the same blobs, other media types");
      const inspect = JSON.parse(
        await run(["skopeo", "inspect", "--tls-verify=false", `docker://${repo}:docker`]),
      );
      ok(inspect.Env.includes("GREETING=/app/work/deep/er/greeting.txt"));
      // The default stays OCI.
      await build(`type=image,name=${repo}:oci,push=true`);
      equal((await raw(`${repo}:oci`)).mediaType, MEDIA.ociManifest);
    });

    await t.step("annotations on the manifest, the index and the index entry", async () => {
      await build(
        `type=oci,dest=${tmp}/ann,tar=false,name=${repo}:ann,` +
          "annotation.org.opencontainers.image.title=hello," +
          '"annotation.org.opencontainers.image.description=a, b",' +
          "annotation-index.com.example.index=yes," +
          "annotation-manifest-descriptor.com.example.entry=e",
      );
      const { index, manifest } = await layoutManifest(`${tmp}/ann`);
      deepEqual(manifest.annotations, {
        "org.opencontainers.image.description": "a, b",
        "org.opencontainers.image.title": "hello",
      });
      deepEqual(index.annotations, { "com.example.index": "yes" });
      equal(index.manifests[0].annotations?.["com.example.entry"], "e");
      equal(index.manifests[0].annotations?.["org.opencontainers.image.ref.name"], "ann");
      // skopeo reads the layout and sees the manifest's annotations.
      const inspected = JSON.parse(await run(["skopeo", "inspect", "--raw", `oci:${tmp}/ann:ann`]));
      equal(inspected.annotations["org.opencontainers.image.title"], "hello");
      // Pushed with type=image too.
      await build(`type=image,name=${repo}:ann,push=true,annotation.com.example.pushed=1`);
      deepEqual((await raw(`${repo}:ann`)).annotations, { "com.example.pushed": "1" });
    });

    await t.step("compression=uncompressed layers are plain tars", async () => {
      await build(`type=oci,dest=${tmp}/plain,tar=false,compression=uncompressed`);
      const { manifest } = await layoutManifest(`${tmp}/plain`);
      const config = await layoutJSON<{ rootfs: { diff_ids: string[] } }>(
        `${tmp}/plain`,
        manifest.config.digest,
      );
      equal(manifest.layers[0].mediaType, MEDIA.ociGzip, "the base layer as pulled");
      for (const [i, l] of manifest.layers.entries()) {
        if (i === 0) continue;
        equal(l.mediaType, MEDIA.ociTar);
        const blob = await layoutBlob(`${tmp}/plain`, l.digest);
        equal(`sha256:${sha256Hex(blob)}`, config.rootfs.diff_ids[i], "the blob is the tar");
        equal(new TextDecoder().decode(blob.subarray(257, 262)), "ustar");
      }
      const listed = await run([
        "tar",
        "-tf",
        `${tmp}/plain/blobs/sha256/${manifest.layers[4].digest.slice(7)}`,
      ]);
      match(listed, /^data\/new\/sub\/file$/m);

      await build(
        `type=oci,dest=${tmp}/plain-all,tar=false,compression=uncompressed,force-compression=true`,
      );
      const all = (await layoutManifest(`${tmp}/plain-all`)).manifest;
      equal(all.layers[0].mediaType, MEDIA.ociTar);
      equal(all.layers[0].digest, busyboxDiffID, "the base layer's tar, as its diffID names it");
    });

    await t.step("invalid layer attributes are refused before building", async () => {
      const refused = async (output: string, message: string) => {
        const r = await img(["build", "--no-console", "-o", output, ctx], { state });
        equal(r.code, 1);
        equal(r.stderr.trim().split("\n").at(-1), message);
      };
      await refused(
        `type=oci,dest=${tmp}/x.tar,compression=brotli`,
        'img: exporter oci: Invalid value "brotli" for compression=: use gzip, zstd or uncompressed',
      );
      await refused(
        `type=oci,dest=${tmp}/x.tar,compression=gzip,compression-level=12`,
        'img: exporter oci: Invalid value "12" for compression-level=: gzip takes 0 to 9',
      );
      await refused(
        `type=oci,dest=${tmp}/x.tar,oci-mediatypes=false`,
        "img: exporter oci: An OCI layout always has OCI media types: remove oci-mediatypes=false, or use type=docker",
      );
      await refused(
        `type=image,name=${repo}:x,oci-mediatypes=false,annotation.a=b`,
        "img: exporter image: Annotations need OCI media types: remove oci-mediatypes=false or the annotation.* attributes",
      );
      await refused(
        `type=docker,dest=${tmp}/x.tar,annotation-index.a=b`,
        'img: exporter docker: Unknown attribute "annotation-index.a": use dest=, name=, ' +
          "compression=, compression-level=, force-compression=, oci-mediatypes=, " +
          "rewrite-timestamp=, annotation.<key>=, annotation-manifest.<key>=",
      );
    });
  });
});
