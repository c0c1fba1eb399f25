import assert from "node:assert/strict";
import { API_VERSION } from "@img/core";
import { pluginEntrySchemas, pluginManifestSchema } from "@img/core/loader";
import { overlaySnapshotterSuite } from "../../tests/_util/overlay_snapshotter_suite.ts";
import overlayfs, { OverlayfsSnapshotter } from "./mod.ts";

Deno.test("the plugin is a valid snapshotter plugin named overlayfs with a probe", () => {
  pluginManifestSchema.parse(overlayfs);
  pluginEntrySchemas.snapshotter.parse(overlayfs);
  assert.equal(overlayfs.name, "overlayfs");
  assert.equal(overlayfs.apiVersion, API_VERSION);
  assert.equal(typeof overlayfs.probe, "function");
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
      assert.equal(
        await overlayfs.probe!({ stateDir: root, env: {}, debug() {}, root }),
        undefined,
      );
      assert.deepEqual([...Deno.readDirSync(root)], [], "the probe cleans up");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
