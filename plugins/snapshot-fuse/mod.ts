/**
 * `@img/snapshot-fuse`: overlay snapshots mounted by the `fuse-overlayfs` program, for hosts
 * where kernel overlayfs is not allowed unprivileged. Same layout as `@img/snapshot-overlayfs`
 * (a snapshot's layer comes from its upper directory); the snapshotter mounts each active
 * snapshot or view itself and hands out a bind mount of it. `--backend auto` picks it when
 * kernel overlayfs does not work and a probe mount does.
 *
 * @example
 * ```ts
 * import fuse from "@img/snapshot-fuse";
 *
 * const snapshotter = fuse.create({ stateDir, env: {}, debug: () => {}, root });
 * const [mount] = await snapshotter.prepare("build-1", "base"); // a bind of the FUSE mount
 * // ... write into mount.source ...
 * await snapshotter.commit("step-1", "build-1"); // unmounts, then commits
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { API_VERSION, type PluginContext, type SnapshotterPlugin } from "@img/core";
import { FuseOverlayfsSnapshotter, probeFuseOverlayfs } from "./snapshotter.ts";

export {
  FuseOverlayfsSnapshotter,
  type FuseOverlayfsSnapshotterOptions,
  mountFuseOverlayfs,
  probeFuseOverlayfs,
  unmountFuse,
} from "./snapshotter.ts";

/** The `fuse-overlayfs` snapshotter plugin. */
export interface FuseOverlayfsSnapshotterPlugin extends SnapshotterPlugin {
  /** Opens the snapshotter rooted at `ctx.root`. */
  create(ctx: PluginContext & { root: string }): FuseOverlayfsSnapshotter;
}

/** The `fuse-overlayfs` snapshotter plugin. */
const plugin: FuseOverlayfsSnapshotterPlugin = {
  kind: "snapshotter",
  name: "fuse-overlayfs",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Overlay snapshots mounted by the fuse-overlayfs program",
  create(ctx) {
    return new FuseOverlayfsSnapshotter(ctx.root, {
      debug: ctx.debug,
      program: ctx.env.IMG_FUSE_OVERLAYFS || undefined,
    });
  },
  priority: 200,
  async supported(ctx) {
    const reason = await probeFuseOverlayfs(ctx.root, ctx.env.IMG_FUSE_OVERLAYFS || undefined);
    return reason === undefined ? { supported: true } : { supported: false, reason };
  },
};

export default plugin;
