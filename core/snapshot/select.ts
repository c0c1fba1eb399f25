/**
 * `--backend auto`: the preferred snapshotter that works here, among every loaded snapshotter
 * plugin (built-in or external). Each declares a `priority` and may probe itself with
 * `supported()` (a scratch mount under its own root); the highest priority that works is
 * chosen. With the built-ins: kernel overlayfs, else fuse-overlayfs, else native, which needs
 * nothing.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { PluginContext, SnapshotterPlugin } from "../plugin.ts";
import type { PluginLoader } from "../plugin_loader.ts";

/** What {@linkcode chooseSnapshotter} chose, and why it passed over the others. */
export interface BackendChoice {
  /** The chosen backend. */
  name: string;
  /** The backends passed over, each with the reason. */
  skipped: { name: string; reason: string }[];
}

/** The snapshotter plugins in the order `auto` tries them: highest priority first, then by name. */
function byPriority(plugins: readonly SnapshotterPlugin[]): SnapshotterPlugin[] {
  return [...plugins].sort((a, b) =>
    (b.priority ?? 0) - (a.priority ?? 0) || a.name.localeCompare(b.name)
  );
}

/**
 * Chooses, among the snapshotter plugins `loader` has, the one of highest priority whose
 * `supported()` probe (if it has one) says it works here, and says why each one before it
 * was passed over. `rootFor` gives each backend's own snapshot root. Throws when none works.
 */
export async function chooseSnapshotter(
  loader: PluginLoader,
  ctx: PluginContext,
  rootFor: (backend: string) => string,
): Promise<BackendChoice> {
  const skipped: { name: string; reason: string }[] = [];
  const plugins: SnapshotterPlugin[] = [];
  for (const name of loader.names("snapshotter")) {
    try {
      plugins.push(await loader.get("snapshotter", name));
    } catch (e) {
      skipped.push({ name, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  for (const plugin of byPriority(plugins)) {
    let reason: string | undefined;
    try {
      const support = plugin.supported
        ? await plugin.supported({ ...ctx, root: rootFor(plugin.name) })
        : { supported: true as const };
      if (support.supported) return { name: plugin.name, skipped };
      reason = support.reason;
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    skipped.push({ name: plugin.name, reason });
  }
  throw new ImgError(
    `No snapshotter works here (${
      skipped.map((s) => `${s.name}: ${s.reason}`).join("; ") || "none is loaded"
    }): load one with --plugin and choose it with --backend`,
  );
}
