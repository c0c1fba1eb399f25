/**
 * `@img/snapshot-native`: the copy-based snapshotter. Each snapshot is a plain directory;
 * preparing one on a parent copies the parent's tree with `copy_file_range` (reflinks where
 * the filesystem has them), keeping hard links, symlinks, devices, modes, owners, xattrs and
 * times. It needs no mount and works on any filesystem, which makes it the fallback of
 * `--backend auto`; layers are computed by walking a snapshot and its parent side by side
 * (`writeLayerDiff` in `@img/core`).
 *
 * @example
 * ```ts
 * import native from "@img/snapshot-native";
 *
 * const snapshotter = await native.create({ stateDir, env: {}, debug: () => {}, root });
 * const [mount] = await snapshotter.prepare("build-1", "base");
 * // ... write into mount.source ...
 * await snapshotter.commit("step-1", "build-1");
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import { API_VERSION, type PluginContext, type SnapshotterPlugin } from "@img/core";
import { NativeSnapshotter } from "./snapshotter.ts";

export {
  NativeSnapshotter,
  type NativeSnapshotterOptions,
  SnapshotExistsError,
} from "./snapshotter.ts";

/** The `native` snapshotter plugin: its `create` gives a {@linkcode NativeSnapshotter}. */
export interface NativeSnapshotterPlugin extends SnapshotterPlugin {
  /** Opens the snapshotter rooted at `ctx.root`. */
  create(ctx: PluginContext & { root: string }): NativeSnapshotter;
}

/** The `native` snapshotter plugin. */
const plugin: NativeSnapshotterPlugin = {
  kind: "snapshotter",
  name: "native",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Copy-based snapshots: plain directories, copied with copy_file_range",
  priority: 100,
  create(ctx) {
    return new NativeSnapshotter(ctx.root, { debug: ctx.debug });
  },
};

export default plugin;
