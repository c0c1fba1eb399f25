import assert from "node:assert/strict";
import { join } from "node:path";
import { type Index, MediaType, NotFoundError } from "@img/core";
import { writeOciArchive, writeOciLayout } from "./oci_layout.ts";
import {
  fileSink,
  hostArch,
  putBaseAndApp,
  putImage,
  putIndex,
  putJSON,
  run,
  tempStore,
} from "../../tests/_util/archive_images.ts";

const enc = new TextEncoder();

async function skopeoJSON(...args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse(await run("skopeo", ...args));
}

Deno.test("writeOciArchive writes an OCI layout that skopeo reads by tag, byte for byte reproducibly", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const { base, app } = await putBaseAndApp(store);
    const images = [
      {
        names: ["docker.io/library/busybox:latest", "127.0.0.1:5000/a/b:v1"],
        manifest: base.manifest,
      },
      { names: ["docker.io/library/app:1.0"], manifest: app.manifest },
    ];
    const file = join(dir, "oci.tar");
    const result = await writeOciArchive(images, store, await fileSink(file));

    // The tar: metadata first, every blob once, fixed owners and times.
    const listing = (await run("tar", "--numeric-owner", "-tvf", file)).trim().split("\n");
    const names = listing.map((l) => l.split(/\s+/).at(-1));
    const blobNames = names.filter((n) => n!.startsWith("blobs/sha256/") && n!.length > 13);
    assert.deepEqual(names.slice(0, 4), ["oci-layout", "index.json", "blobs/", "blobs/sha256/"]);
    assert.equal(new Set(blobNames).size, blobNames.length, "a blob was written twice");
    // busybox: manifest (converted) + config + 1 layer; app: manifest + config + 1 new layer.
    assert.equal(blobNames.length, 6);
    for (const line of listing) assert.match(line, /^\S+ 0\/0 .* 1970-01-01 00:00 /);
    assert.equal(
      await run("tar", "-xOf", file, "oci-layout"),
      JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    );
    const index = JSON.parse(await run("tar", "-xOf", file, "index.json")) as Index;
    assert.deepEqual(index, result.index);
    assert.equal(index.mediaType, MediaType.ociIndex);
    assert.deepEqual(
      index.manifests.map((m) => m.annotations),
      [
        {
          "io.containerd.image.name": "docker.io/library/busybox:latest",
          "org.opencontainers.image.ref.name": "latest",
        },
        {
          "io.containerd.image.name": "127.0.0.1:5000/a/b:v1",
          "org.opencontainers.image.ref.name": "v1",
        },
        {
          "io.containerd.image.name": "docker.io/library/app:1.0",
          "org.opencontainers.image.ref.name": "1.0",
        },
      ],
    );

    // skopeo finds each tag; the OCI image keeps its digest, the Docker one is converted.
    const busybox = await skopeoJSON("inspect", `oci-archive:${file}:latest`);
    const v1 = await skopeoJSON("inspect", `oci-archive:${file}:v1`);
    const appInfo = await skopeoJSON("inspect", `oci-archive:${file}:1.0`);
    assert.equal(appInfo.Digest, app.manifest.digest);
    assert.deepEqual(appInfo.Layers, app.layers.map((l) => l.desc.digest));
    assert.deepEqual(busybox.Layers, base.layers.map((l) => l.desc.digest));
    assert.equal(busybox.Digest, v1.Digest);
    assert.notEqual(busybox.Digest, base.manifest.digest);
    assert.equal(busybox.Digest, index.manifests[0].digest);
    const raw = await skopeoJSON("inspect", "--raw", `oci-archive:${file}:latest`);
    assert.equal(raw.mediaType, MediaType.ociManifest);
    assert.deepEqual(raw.config, {
      mediaType: MediaType.ociConfig,
      digest: base.config.digest,
      size: base.config.size,
    });
    const config = await skopeoJSON("inspect", "--config", `oci-archive:${file}:1.0`);
    assert.deepEqual(config, app.configJSON);

    // skopeo copy verifies every blob digest while it copies.
    await run("skopeo", "copy", "-q", `oci-archive:${file}:1.0`, `oci:${join(dir, "copy")}:1.0`);
    await run("skopeo", "copy", "-q", `oci-archive:${file}:v1`, `oci:${join(dir, "copy")}:v1`);

    // The same input gives the same bytes.
    const again = join(dir, "oci-again.tar");
    await writeOciArchive(images, store, await fileSink(again));
    await run("cmp", file, again);
  } finally {
    await cleanup();
  }
});

Deno.test("writeOciLayout writes a directory that umoci unpacks and skopeo reads", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const { base, app } = await putBaseAndApp(store);
    const layout = join(dir, "layout");
    const images = [
      { names: ["docker.io/library/busybox:latest"], manifest: base.manifest },
      { names: ["docker.io/library/app:1.0"], manifest: app.manifest },
    ];
    await writeOciLayout(images, store, layout);
    const bundle = join(dir, "bundle");
    await run("umoci", "unpack", "--rootless", "--image", `${layout}:1.0`, bundle);
    assert.equal(await Deno.readTextFile(join(bundle, "rootfs/app/run")), "#!/bin/sh\necho app\n");
    assert.equal(await Deno.readTextFile(join(bundle, "rootfs/bin/hello")), "hello\n");
    const runtime = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
    assert.deepEqual(runtime.process.args, ["/app/run"]);
    const info = await skopeoJSON("inspect", `oci:${layout}:latest`);
    assert.deepEqual(info.Layers, base.layers.map((l) => l.desc.digest));

    // Writing again replaces index.json, keeps the blobs, and leaves no temporary files.
    await writeOciLayout(images.slice(1), store, layout);
    const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json"))) as Index;
    assert.deepEqual(index.manifests.map((m) => m.digest), [app.manifest.digest]);
    const files = [...Deno.readDirSync(join(layout, "blobs/sha256"))].map((e) => e.name);
    assert.ok(files.every((f) => /^[a-f0-9]{64}$/.test(f)), files.join(" "));
    assert.ok(files.includes(app.manifest.digest.slice(7)));
  } finally {
    await cleanup();
  }
});

Deno.test("writeOciArchive keeps Docker manifests unchanged when asked", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const { base } = await putBaseAndApp(store);
    const file = join(dir, "oci.tar");
    const { index } = await writeOciArchive(
      [{ names: ["docker.io/library/busybox:latest"], manifest: base.manifest }],
      store,
      await fileSink(file),
      { keepDockerMediaTypes: true },
    );
    assert.equal(index.manifests[0].digest, base.manifest.digest);
    assert.equal(index.manifests[0].mediaType, MediaType.dockerManifest);
    const listing = await run("tar", "-tf", file);
    assert.ok(listing.includes(base.manifest.digest.slice(7)));
  } finally {
    await cleanup();
  }
});

Deno.test("writeOciArchive writes an index with only the platforms whose content is in the store", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const here = await putImage(store, { files: { "here": enc.encode("here") } });
    const other = hostArch() === "amd64" ? "arm64" : "amd64";
    const there = await putImage(store, { arch: other, files: { "there": enc.encode("there") } });
    await store.delete(there.layers[0].desc.digest as `sha256:${string}`);
    const platform = (architecture: string) => ({ architecture, os: "linux" });
    const ociIndex = await putIndex(store, [
      { ...here.manifest, platform: platform(hostArch()) },
      { ...there.manifest, platform: platform(other) },
    ]);
    const file = join(dir, "oci.tar");
    const { index, blobs } = await writeOciArchive(
      [{ names: ["docker.io/library/multi:1"], manifest: ociIndex }],
      store,
      await fileSink(file),
    );
    // An all-OCI index is kept as it is (its digest is the image's identity).
    assert.equal(index.manifests[0].digest, ociIndex.digest);
    assert.ok(!blobs.some((b) => b.digest === there.manifest.digest));
    const raw = await skopeoJSON("inspect", "--raw", `oci-archive:${file}:1`);
    assert.equal((raw as unknown as Index).manifests.length, 2);
    const info = await skopeoJSON("inspect", `oci-archive:${file}:1`);
    // skopeo reports the index digest and the layers of the host platform's manifest.
    assert.equal(info.Digest, ociIndex.digest);
    assert.deepEqual(info.Layers, here.layers.map((l) => l.desc.digest));

    // A Docker manifest list is rewritten as an OCI index of the converted manifests it holds.
    const dockerHere = await putImage(store, { docker: true, files: { "d": enc.encode("d") } });
    const list = await putJSON(store, MediaType.dockerManifestList, {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [
        { ...dockerHere.manifest, platform: platform(hostArch()) },
        { ...there.manifest, mediaType: MediaType.dockerManifest, platform: platform(other) },
      ],
    });
    const file2 = join(dir, "oci2.tar");
    await writeOciArchive(
      [{ names: ["docker.io/library/list:1"], manifest: list }],
      store,
      await fileSink(file2),
    );
    const raw2 = await skopeoJSON("inspect", "--raw", `oci-archive:${file2}:1`) as unknown as Index;
    assert.equal(raw2.mediaType, MediaType.ociIndex);
    assert.equal(raw2.manifests.length, 1);
    assert.equal(raw2.manifests[0].mediaType, MediaType.ociManifest);
    assert.deepEqual(raw2.manifests[0].platform, platform(hostArch()));
    await run("skopeo", "copy", "-q", `oci-archive:${file2}:1`, `oci:${join(dir, "copy")}:1`);
  } finally {
    await cleanup();
  }
});

Deno.test("writeOciArchive fails with a clear error and aborts the output when a layer is missing", async () => {
  const { store, cleanup } = await tempStore();
  try {
    const { app } = await putBaseAndApp(store);
    await store.delete(app.layers[1].desc.digest as `sha256:${string}`);
    let aborted = false;
    let written = 0;
    const out = new WritableStream<Uint8Array>({
      write: (c) => void (written += c.byteLength),
      abort: () => void (aborted = true),
    });
    await assert.rejects(
      () =>
        writeOciArchive(
          [{ names: ["docker.io/library/app:1.0"], manifest: app.manifest }],
          store,
          out,
        ),
      (e: unknown) =>
        e instanceof NotFoundError &&
        e.message.includes(app.layers[1].desc.digest) &&
        e.message.includes("docker.io/library/app:1.0"),
    );
    assert.ok(aborted);
    assert.equal(written, 0);
  } finally {
    await cleanup();
  }
});
