import assert from "node:assert/strict";
import { API_VERSION } from "./plugin.ts";
import { PluginLoader, readPluginConfig, validatePlugin } from "./plugin_loader.ts";

Deno.test("the config file gives plugins (relative to it) and syntax aliases; IMG_PLUGINS adds more", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ plugins: ["./a.ts", "jsr:@x/b"], frontends: { spec: "jsonspec" } }),
    );
    assert.deepEqual(await readPluginConfig([file, `${dir}/missing.json`], " c.ts ,,d.ts"), {
      plugins: [`${dir}/./a.ts`, "jsr:@x/b", "c.ts", "d.ts"],
      frontends: { spec: "jsonspec" },
    });
    await Deno.writeTextFile(file, JSON.stringify({ frontends: { spec: 1 } }));
    await assert.rejects(readPluginConfig([file], undefined), {
      message:
        `Config file ${file}: "frontends" must map each syntax alias to a frontend name, as {"alias": "name"}`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a snapshotter's supported and priority are validated when it is loaded", () => {
  const base = {
    kind: "snapshotter",
    name: "cow",
    version: "1.0.0",
    apiVersion: API_VERSION,
    create() {},
  };
  assert.equal(validatePlugin({ ...base, priority: 5, supported: () => {} }, "x").name, "cow");
  assert.throws(() => validatePlugin({ ...base, supported: true }, "x"), {
    message: 'Plugin snapshotter/cow (x) is not a valid img plugin: "supported" must be a function',
  });
  assert.throws(() => validatePlugin({ ...base, priority: "high" }, "x"), /"priority"/);
});

Deno.test("the loader lists built-in and external plugins with their sources", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/cow.ts`;
    await Deno.writeTextFile(
      file,
      `export default { kind: "snapshotter", name: "cow", version: "2.0.0", apiVersion: ${API_VERSION}, create() {} };`,
    );
    const loader = new PluginLoader({
      "snapshotter/native": () =>
        Promise.resolve({
          default: {
            kind: "snapshotter",
            name: "native",
            version: "1.0.0",
            apiVersion: API_VERSION,
            create() {},
          },
        }),
    });
    await loader.loadExternal(file);
    assert.deepEqual(loader.names("snapshotter"), ["cow", "native"]);
    assert.deepEqual(
      (await loader.list()).map((l) => [l.plugin.name, l.plugin.version, l.source]),
      [["cow", "2.0.0", file], ["native", "1.0.0", "builtin"]],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
