/**
 * `--backend auto`: the fastest snapshotter that works here. Each candidate plugin probes
 * itself (a scratch mount under its own root); the first that works is chosen: kernel
 * overlayfs, else fuse-overlayfs, else native, which needs nothing.
 *
 * @module
 */
import type { PluginContext } from "../plugin.ts";
import type { PluginLoader } from "../plugin_loader.ts";

/** The backends `auto` tries, in order. */
export const SNAPSHOTTER_PREFERENCE: readonly string[] = ["overlayfs", "fuse-overlayfs", "native"];

/** What {@linkcode chooseSnapshotter} chose, and why it passed over the others. */
export interface BackendChoice {
  /** The chosen backend. */
  name: string;
  /** The backends passed over, each with the reason. */
  skipped: { name: string; reason: string }[];
}

/**
 * Chooses the first of `candidates` whose plugin is installed and whose probe (if it has
 * one) succeeds, and says why each earlier one was passed over. `rootFor` gives each
 * backend's own snapshot root. The last candidate is taken without a probe when nothing
 * else worked.
 */
export async function chooseSnapshotter(
  loader: PluginLoader,
  ctx: PluginContext,
  rootFor: (backend: string) => string,
  candidates: readonly string[] = SNAPSHOTTER_PREFERENCE,
): Promise<BackendChoice> {
  const skipped: { name: string; reason: string }[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const name = candidates[i];
    if (!loader.has("snapshotter", name)) {
      skipped.push({ name, reason: "no such snapshotter plugin is installed" });
      continue;
    }
    const last = i === candidates.length - 1;
    let reason: string | undefined;
    try {
      const plugin = await loader.get("snapshotter", name);
      reason = plugin.probe && !last
        ? await plugin.probe({ ...ctx, root: rootFor(name) })
        : undefined;
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    if (reason === undefined) return { name, skipped };
    skipped.push({ name, reason });
  }
  return { name: candidates[candidates.length - 1], skipped };
}
