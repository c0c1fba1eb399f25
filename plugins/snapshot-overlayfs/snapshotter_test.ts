import assert from "node:assert/strict";
import { API_VERSION, pluginEntrySchemas, pluginManifestSchema } from "@img/core";
import { overlaySnapshotterSuite } from "../../tests/_util/overlay_snapshotter_suite.ts";
import overlayfs, { OverlayfsSnapshotter } from "./mod.ts";

Deno.test("the plugin is a valid snapshotter plugin named overlayfs with a supported() probe and a priority", () => {
  pluginManifestSchema.parse(overlayfs);
  pluginEntrySchemas.snapshotter.parse(overlayfs);
  assert.equal(overlayfs.name, "overlayfs");
  assert.equal(overlayfs.apiVersion, API_VERSION);
  assert.equal(typeof overlayfs.supported, "function");
  assert.equal(typeof overlayfs.priority, "number");
});

overlaySnapshotterSuite(
  "overlayfs",
  (root) => new OverlayfsSnapshotter(root),
  import.meta.url,
  "overlay",
);

Deno.test({
  name: "overlayfs (in a user namespace): the probe succeeds here",
  ignore: Deno.env.get("IMG_TEST_IN_USERNS") !== "1",
  async fn() {
    const root = Deno.makeTempDirSync();
    try {
      assert.deepEqual(
        await overlayfs.supported!({ stateDir: root, env: {}, debug() {}, root }),
        { supported: true },
      );
      assert.deepEqual([...Deno.readDirSync(root)], [], "the probe cleans up");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
