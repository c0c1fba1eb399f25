/**
 * `@img/snapshot-overlayfs`: kernel overlayfs snapshots, mounted inside img's user namespace
 * with `userxattr`. Preparing a snapshot costs one directory, however big its parent; its
 * layer comes from its upper directory (`diff`). `--backend auto` picks it when a probe
 * mount works.
 *
 * @example
 * ```ts
 * import overlayfs from "@img/snapshot-overlayfs";
 *
 * const snapshotter = overlayfs.create({ stateDir, env: {}, debug: () => {}, root });
 * const mounts = await snapshotter.prepare("build-1", "base"); // an overlay mount
 * await withMountedDir(mounts, async (dir) => { ... write into dir ... });
 * await snapshotter.commit("step-1", "build-1");
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { API_VERSION, type PluginContext, type SnapshotterPlugin } from "@img/core";
import { OverlayfsSnapshotter, probeOverlayfs } from "./snapshotter.ts";

export {
  OverlayfsSnapshotter,
  type OverlayfsSnapshotterOptions,
  probeOverlayfs,
} from "./snapshotter.ts";

/** The `overlayfs` snapshotter plugin: its `create` gives an {@linkcode OverlayfsSnapshotter}. */
export interface OverlayfsSnapshotterPlugin extends SnapshotterPlugin {
  /** Opens the snapshotter rooted at `ctx.root`. */
  create(ctx: PluginContext & { root: string }): OverlayfsSnapshotter;
}

/** The `overlayfs` snapshotter plugin. */
const plugin: OverlayfsSnapshotterPlugin = {
  kind: "snapshotter",
  name: "overlayfs",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Kernel overlayfs snapshots, mounted in the user namespace with userxattr",
  create(ctx) {
    return new OverlayfsSnapshotter(ctx.root, { debug: ctx.debug });
  },
  priority: 300,
  async supported(ctx) {
    const reason = await probeOverlayfs(ctx.root);
    return reason === undefined ? { supported: true } : { supported: false, reason };
  },
};

export default plugin;
