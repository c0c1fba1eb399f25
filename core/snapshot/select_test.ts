import assert from "node:assert/strict";
import { API_VERSION, type SnapshotterPlugin } from "../plugin.ts";
import { PluginLoader } from "../plugin_loader.ts";
import { chooseSnapshotter } from "./select.ts";

function fake(name: string, probe?: () => Promise<string | undefined>): SnapshotterPlugin {
  return {
    kind: "snapshotter",
    name,
    version: "1.0.0",
    apiVersion: API_VERSION,
    create: () => {
      throw new Error("not used");
    },
    ...(probe ? { probe } : {}),
  };
}

const ctx = { stateDir: "/state", env: {}, debug() {} };

Deno.test("auto takes the first backend whose probe works and says why it passed the others", async () => {
  const roots: string[] = [];
  const loader = new PluginLoader({
    "snapshotter/overlayfs": () =>
      Promise.resolve({ default: fake("overlayfs", () => Promise.resolve("mount: EPERM")) }),
    "snapshotter/fuse-overlayfs": () =>
      Promise.resolve({ default: fake("fuse-overlayfs", () => Promise.resolve(undefined)) }),
    "snapshotter/native": () => Promise.resolve({ default: fake("native") }),
  });
  const choice = await chooseSnapshotter(loader, ctx, (n) => {
    roots.push(n);
    return `/state/snapshots/${n}`;
  });
  assert.equal(choice.name, "fuse-overlayfs");
  assert.deepEqual(choice.skipped, [{ name: "overlayfs", reason: "mount: EPERM" }]);
  assert.deepEqual(roots, ["overlayfs", "fuse-overlayfs"], "each probes in its own root");
});

Deno.test("auto falls back to native, and skips a backend that is not installed", async () => {
  const loader = new PluginLoader({
    "snapshotter/overlayfs": () =>
      Promise.resolve({
        default: fake("overlayfs", () => Promise.reject(new Error("probe crashed"))),
      }),
    "snapshotter/native": () => Promise.resolve({ default: fake("native") }),
  });
  const choice = await chooseSnapshotter(loader, ctx, (n) => `/state/snapshots/${n}`);
  assert.equal(choice.name, "native");
  assert.deepEqual(choice.skipped, [
    { name: "overlayfs", reason: "probe crashed" },
    { name: "fuse-overlayfs", reason: "no such snapshotter plugin is installed" },
  ]);
});
