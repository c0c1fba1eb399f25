import { removeTree } from "../../tests/_util/img.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ImgError, MediaType } from "@img/core";
import { writeDockerArchive } from "./docker_archive.ts";
import {
  fileSink,
  hostArch,
  putBaseAndApp,
  putImage,
  putIndex,
  putJSON,
  run,
  tempStore,
  type TestImage,
} from "../../tests/_util/archive_images.ts";

const enc = new TextEncoder();

/**
 * Runs podman against a private storage root in `dir` (podman wants a short runroot path,
 * so `dir` is a short temporary directory of its own).
 */
function podman(dir: string, ...args: string[]): Promise<string> {
  return run(
    "podman",
    "--root",
    join(dir, "root"),
    "--runroot",
    join(dir, "run"),
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "none",
    ...args,
  );
}

/** Runs `fn` with a fresh podman storage directory, removed afterwards. */
async function withPodman(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pm" });
  try {
    await fn(dir);
  } finally {
    // Rootless podman leaves files owned by subordinate ids: remove them from a namespace.
    await removeTree(dir);
  }
}

const hex = (d: string) => d.slice("sha256:".length);

Deno.test("writeDockerArchive writes what docker save writes, and podman loads it", async () => {
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
    const file = join(dir, "docker.tar");
    await writeDockerArchive(images, store, await fileSink(file));

    const manifest = JSON.parse(await run("tar", "-xOf", file, "manifest.json"));
    assert.deepEqual(manifest, [
      {
        Config: `blobs/sha256/${hex(base.config.digest)}`,
        RepoTags: ["busybox:latest", "127.0.0.1:5000/a/b:v1"],
        Layers: base.layers.map((l) => `blobs/sha256/${hex(l.desc.digest)}`),
      },
      {
        Config: `blobs/sha256/${hex(app.config.digest)}`,
        RepoTags: ["app:1.0"],
        Layers: app.layers.map((l) => `blobs/sha256/${hex(l.desc.digest)}`),
      },
    ]);
    const top = (i: TestImage) => hex(i.layers.at(-1)!.desc.digest);
    assert.deepEqual(JSON.parse(await run("tar", "-xOf", file, "repositories")), {
      "busybox": { "latest": top(base) },
      "127.0.0.1:5000/a/b": { "v1": top(base) },
      "app": { "1.0": top(app) },
    });
    const listing = (await run("tar", "--numeric-owner", "-tvf", file)).trim().split("\n");
    const blobs = listing.map((l) => l.split(/\s+/).at(-1)!).filter((n) => n.length > 14);
    // Two configs and the two distinct layers, each once; no manifests, no index.json.
    assert.equal(blobs.length, 4);
    assert.equal(new Set(blobs).size, 4);
    assert.ok(!listing.some((l) => l.endsWith("index.json")));
    for (const line of listing) assert.match(line, /^\S+ 0\/0 .* 1970-01-01 00:00 /);

    // skopeo reads it: layers are reported by their diffIDs, the config as written.
    const info = JSON.parse(await run("skopeo", "inspect", `docker-archive:${file}:app:1.0`));
    assert.deepEqual(info.Layers, app.layers.map((l) => l.diffId));
    const config = JSON.parse(
      await run("skopeo", "inspect", "--config", `docker-archive:${file}:busybox:latest`),
    );
    assert.deepEqual(config, base.configJSON);

    // podman loads it, checks the gzip layers against the diffIDs, and keeps the image IDs.
    await withPodman(async (pm) => {
      const loaded = await podman(pm, "load", "-q", "-i", file);
      assert.match(loaded, /127\.0\.0\.1:5000\/a\/b:v1/);
      // podman names short RepoTags under localhost/ (see the "normalized" option).
      const [appInfo] = JSON.parse(await podman(pm, "image", "inspect", "localhost/app:1.0"));
      assert.equal(appInfo.Id, hex(app.config.digest));
      assert.deepEqual(appInfo.RootFS.Layers, app.layers.map((l) => l.diffId));
      assert.deepEqual(appInfo.Config.Cmd, ["/app/run"]);
      const [bInfo] = JSON.parse(await podman(pm, "image", "inspect", "127.0.0.1:5000/a/b:v1"));
      assert.equal(bInfo.Id, hex(base.config.digest));
      assert.deepEqual(bInfo.RootFS.Layers, base.layers.map((l) => l.diffId));
      assert.equal(bInfo.Architecture, hostArch());
    });

    // The same input gives the same bytes.
    const again = join(dir, "docker-again.tar");
    await writeDockerArchive(images, store, await fileSink(again));
    await run("cmp", file, again);
  } finally {
    await cleanup();
  }
});

Deno.test("writeDockerArchive with normalized RepoTags makes podman keep docker.io names", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const { base } = await putBaseAndApp(store);
    const file = join(dir, "docker.tar");
    const { manifest } = await writeDockerArchive(
      [{ names: ["docker.io/library/busybox:1.36"], manifest: base.manifest }],
      store,
      await fileSink(file),
      { repoTags: "normalized" },
    );
    assert.deepEqual(manifest[0].RepoTags, ["docker.io/library/busybox:1.36"]);
    await withPodman(async (pm) => {
      await podman(pm, "load", "-q", "-i", file);
      const [info] = JSON.parse(
        await podman(pm, "image", "inspect", "docker.io/library/busybox:1.36"),
      );
      assert.equal(info.Id, hex(base.config.digest));
    });
  } finally {
    await cleanup();
  }
});

Deno.test("writeDockerArchive merges names of one image and skips digest-only names", async () => {
  const { dir, store, cleanup } = await tempStore();
  try {
    const { base, app } = await putBaseAndApp(store);
    const { manifest, blobs } = await writeDockerArchive(
      [
        { names: ["docker.io/library/busybox:latest"], manifest: base.manifest },
        {
          names: [`docker.io/library/busybox@${base.manifest.digest}`, "example.com/x/y:2"],
          manifest: base.manifest,
        },
        { names: [], manifest: app.manifest },
      ],
      store,
      await fileSink(join(dir, "docker.tar")),
    );
    assert.deepEqual(manifest.map((m) => m.RepoTags), [
      ["busybox:latest", "example.com/x/y:2"],
      [],
    ]);
    assert.equal(blobs.length, 4);
    const info = JSON.parse(
      await run("skopeo", "inspect", `docker-archive:${join(dir, "docker.tar")}:@1`),
    );
    assert.deepEqual(info.Layers, app.layers.map((l) => l.diffId));
  } finally {
    await cleanup();
  }
});

Deno.test("writeDockerArchive refuses a multi-platform index with a clear error", async () => {
  const { store, cleanup } = await tempStore();
  try {
    const { app } = await putBaseAndApp(store);
    const index = await putIndex(store, [app.manifest]);
    let aborted = false;
    const out = new WritableStream<Uint8Array>({ abort: () => void (aborted = true) });
    await assert.rejects(
      () => writeDockerArchive([{ names: ["docker.io/library/m:1"], manifest: index }], store, out),
      (e: unknown) =>
        e instanceof ImgError && /multi-platform index/.test(e.message) &&
        e.message.includes("docker.io/library/m:1"),
    );
    assert.ok(aborted);
  } finally {
    await cleanup();
  }
});

Deno.test("podman checks the gzip layers of a docker archive against the config's diffIDs", async () => {
  // The control for the test above: an archive whose config lists the wrong diffIDs is refused,
  // so podman really decompresses and verifies the gzip layers img stores as they are.
  const { dir, store, cleanup } = await tempStore();
  try {
    const good = await putImage(store, { files: { "f": enc.encode("content") } });
    const badConfig = await putJSON(store, MediaType.ociConfig, {
      ...good.configJSON,
      rootfs: { type: "layers", diff_ids: good.layers.map((l) => l.desc.digest) },
    });
    const bad = await putJSON(store, MediaType.ociManifest, {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: badConfig,
      layers: good.layers.map((l) => l.desc),
    });
    const file = join(dir, "bad.tar");
    await writeDockerArchive(
      [{ names: ["docker.io/library/bad:1"], manifest: bad }],
      store,
      await fileSink(file),
    );
    await withPodman(async (pm) => {
      await assert.rejects(
        () => podman(pm, "load", "-q", "-i", file),
        new RegExp(
          `docker-archive: .*Digest did not match, expected ${good.layers[0].desc.digest}, got ${
            good.layers[0].diffId
          }`,
        ),
      );
    });
  } finally {
    await cleanup();
  }
});
