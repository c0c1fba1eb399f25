import assert from "node:assert/strict";
import { API_VERSION, type SnapshotterPlugin, type SnapshotterSupport } from "../plugin.ts";
import { PluginLoader } from "../plugin_loader.ts";
import { chooseSnapshotter } from "./select.ts";

function fake(
  name: string,
  priority?: number,
  supported?: () => Promise<SnapshotterSupport>,
): SnapshotterPlugin {
  return {
    kind: "snapshotter",
    name,
    version: "1.0.0",
    apiVersion: API_VERSION,
    create: () => {
      throw new Error("not used");
    },
    ...(priority !== undefined ? { priority } : {}),
    ...(supported ? { supported } : {}),
  };
}

const ctx = { stateDir: "/state", env: {}, debug() {} };
const no = (reason: string) => () => Promise.resolve({ supported: false as const, reason });
const yes = () => Promise.resolve({ supported: true as const });

Deno.test("auto takes the highest priority that works and says why it passed the others", async () => {
  const roots: string[] = [];
  const loader = new PluginLoader({
    "snapshotter/native": () => Promise.resolve({ default: fake("native", 100) }),
    "snapshotter/overlayfs": () =>
      Promise.resolve({ default: fake("overlayfs", 300, no("mount: EPERM")) }),
    "snapshotter/fuse-overlayfs": () =>
      Promise.resolve({ default: fake("fuse-overlayfs", 200, yes) }),
  });
  const choice = await chooseSnapshotter(loader, ctx, (n) => {
    roots.push(n);
    return `/state/snapshots/${n}`;
  });
  assert.equal(choice.name, "fuse-overlayfs");
  assert.deepEqual(choice.skipped, [{ name: "overlayfs", reason: "mount: EPERM" }]);
  assert.deepEqual(roots, ["overlayfs", "fuse-overlayfs"], "each probes in its own root");
});

Deno.test("auto falls back to one without a probe; a crashing probe is a reason", async () => {
  const loader = new PluginLoader({
    "snapshotter/overlayfs": () =>
      Promise.resolve({
        default: fake("overlayfs", 300, () => Promise.reject(new Error("probe crashed"))),
      }),
    "snapshotter/native": () => Promise.resolve({ default: fake("native", 100) }),
  });
  const choice = await chooseSnapshotter(loader, ctx, (n) => `/state/snapshots/${n}`);
  assert.equal(choice.name, "native");
  assert.deepEqual(choice.skipped, [{ name: "overlayfs", reason: "probe crashed" }]);
});

Deno.test("an external snapshotter takes part in auto by its priority", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/cow.ts`;
    await Deno.writeTextFile(
      file,
      `export default { kind: "snapshotter", name: "cow", version: "1.0.0", apiVersion: ${API_VERSION},
        priority: 500, create() {}, supported: () => Promise.resolve({ supported: true }) };`,
    );
    const loader = new PluginLoader({
      "snapshotter/overlayfs": () => Promise.resolve({ default: fake("overlayfs", 300, yes) }),
      "snapshotter/native": () => Promise.resolve({ default: fake("native", 100) }),
    });
    await loader.loadExternal(file);
    assert.equal((await chooseSnapshotter(loader, ctx, (n) => n)).name, "cow");
    // Without a priority (0) it ranks below the built-ins.
    const low = new PluginLoader({
      "snapshotter/native": () => Promise.resolve({ default: fake("native", 100) }),
      "snapshotter/cow": () => Promise.resolve({ default: fake("cow") }),
    });
    assert.equal((await chooseSnapshotter(low, ctx, (n) => n)).name, "native");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auto refuses in one line when no snapshotter works", async () => {
  const loader = new PluginLoader({
    "snapshotter/overlayfs": () =>
      Promise.resolve({ default: fake("overlayfs", 300, no("mount: EPERM")) }),
  });
  await assert.rejects(
    chooseSnapshotter(loader, ctx, (n) => n),
    {
      message:
        "No snapshotter works here (overlayfs: mount: EPERM): load one with --plugin and choose it with --backend",
    },
  );
});
