import assert from "node:assert/strict";
import { API_VERSION, pluginEntrySchemas, pluginManifestSchema } from "@img/core";
import { overlaySnapshotterSuite } from "../../tests/_util/overlay_snapshotter_suite.ts";
import fuse, { FuseOverlayfsSnapshotter, probeFuseOverlayfs } from "./mod.ts";

Deno.test("the plugin is a valid snapshotter plugin named fuse-overlayfs with a supported() probe and a priority", () => {
  pluginManifestSchema.parse(fuse);
  pluginEntrySchemas.snapshotter.parse(fuse);
  assert.equal(fuse.name, "fuse-overlayfs");
  assert.equal(fuse.apiVersion, API_VERSION);
  assert.equal(typeof fuse.supported, "function");
  assert.equal(typeof fuse.priority, "number");
});

Deno.test("the probe says why when fuse-overlayfs is not installed", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const reason = await probeFuseOverlayfs(root, "/nonexistent/fuse-overlayfs");
    assert.match(reason ?? "", /not installed|\/dev\/fuse/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

overlaySnapshotterSuite(
  "fuse-overlayfs",
  (root) => new FuseOverlayfsSnapshotter(root),
  import.meta.url,
  "bind",
);

Deno.test({
  name: "fuse-overlayfs (in a user namespace): the probe succeeds here",
  ignore: Deno.env.get("IMG_TEST_IN_USERNS") !== "1",
  async fn() {
    const root = Deno.makeTempDirSync();
    try {
      assert.deepEqual(
        await fuse.supported!({ stateDir: root, env: {}, debug() {}, root }),
        { supported: true },
      );
      assert.deepEqual([...Deno.readDirSync(root)], [], "the probe cleans up");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
