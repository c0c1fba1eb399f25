import assert from "node:assert/strict";
import { ImgError } from "@img/core";
import {
  canonicalHost,
  configFilePath,
  convertToHostname,
  decodeAuth,
  DOCKER_HUB_LEGACY_KEY,
  DockerConfigFile,
  encodeAuth,
  marshalIndent,
  serverAddress,
} from "./config_file.ts";

Deno.test("convertToHostname reduces addresses to host[:port] as docker does", () => {
  assert.equal(convertToHostname("localhost:5000"), "localhost:5000");
  assert.equal(convertToHostname("https://localhost:5000"), "localhost:5000");
  assert.equal(convertToHostname("http://localhost:5000/v2/"), "localhost:5000");
  assert.equal(convertToHostname("https://index.docker.io/v1/"), "index.docker.io");
  assert.equal(convertToHostname("registry.example.com/v1/"), "registry.example.com");
  assert.equal(convertToHostname("registry.example.com"), "registry.example.com");
});

Deno.test("docker.io and its aliases map to docker's legacy key", () => {
  for (
    const host of ["docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_LEGACY_KEY]
  ) {
    assert.equal(canonicalHost(host), "docker.io");
    assert.equal(serverAddress(host), "https://index.docker.io/v1/");
  }
  assert.equal(serverAddress("localhost:5000"), "localhost:5000");
  assert.equal(serverAddress("https://ghcr.io"), "ghcr.io");
});

Deno.test("auth is base64 of user:password, and decoding splits at the first colon", () => {
  assert.equal(encodeAuth("user", "pa:ss"), btoa("user:pa:ss"));
  assert.deepEqual(decodeAuth(btoa("user:pa:ss")), { username: "user", password: "pa:ss" });
  assert.deepEqual(decodeAuth(encodeAuth("jürgen", "ü")), { username: "jürgen", password: "ü" });
  assert.equal(decodeAuth(btoa("no-colon")), undefined);
  assert.equal(decodeAuth("not base64!"), undefined);
});

Deno.test("the config file is found through configDir, DOCKER_CONFIG, then HOME", () => {
  assert.equal(
    configFilePath({ configDir: "/c", env: { DOCKER_CONFIG: "/d", HOME: "/h" } }),
    "/c/config.json",
  );
  assert.equal(configFilePath({ env: { DOCKER_CONFIG: "/d/", HOME: "/h" } }), "/d/config.json");
  assert.equal(configFilePath({ env: { HOME: "/home/me" } }), "/home/me/.docker/config.json");
  assert.throws(() => configFilePath({ env: {} }), ImgError);
});

Deno.test('marshalIndent writes what Go\'s json.MarshalIndent(v, "", "\\t") writes', () => {
  const value = {
    auths: { "localhost:5000": { auth: "dTpw" }, empty: {} },
    HttpHeaders: { "X-Meta": "<a & b>" },
    list: [],
    n: 1,
  };
  // Go's output for the same value (map keys in this order), escapes included.
  const go = '{\n\t"auths": {\n\t\t"localhost:5000": {\n\t\t\t"auth": "dTpw"\n\t\t},\n' +
    '\t\t"empty": {}\n\t},\n\t"HttpHeaders": {\n\t\t"X-Meta": "\\u003ca \\u0026 b\\u003e"\n\t},\n' +
    '\t"list": [],\n\t"n": 1\n}';
  assert.equal(marshalIndent(value), go);
  assert.deepEqual(JSON.parse(go), value);
});

Deno.test("a missing config file is an empty config", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await DockerConfigFile.load(`${dir}/none/config.json`);
    assert.deepEqual(file.data, {});
    assert.equal(file.getAuth("localhost:5000"), undefined);
    assert.equal(file.helperFor("localhost:5000"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an invalid config file is an error that names the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, '{"auths": {');
    await assert.rejects(
      () => DockerConfigFile.load(`${dir}/config.json`),
      (error: Error) =>
        error instanceof ImgError && error.message.includes(`${dir}/config.json`) &&
        error.message.includes("not valid JSON"),
    );
    await Deno.writeTextFile(`${dir}/config.json`, '{"auths": []}');
    await assert.rejects(
      () => DockerConfigFile.load(`${dir}/config.json`),
      (error: Error) => error instanceof ImgError && error.message.includes('"auths"'),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credHelpers wins over credsStore, and credsStore over auths", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: { "localhost:5000": { auth: btoa("u:p") } },
        credsStore: "desktop",
        credHelpers: { "gcr.io": "gcloud", "https://index.docker.io/v1/": "hub" },
      }),
    );
    const file = await DockerConfigFile.load(path);
    assert.equal(file.helperFor("gcr.io"), "gcloud");
    assert.equal(file.helperFor("docker.io"), "hub");
    assert.equal(file.helperFor("localhost:5000"), "desktop");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("save writes through a symlinked config file to its target", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/real`);
    await Deno.writeTextFile(`${dir}/real/config.json`, '{"currentContext": "x"}');
    await Deno.mkdir(`${dir}/docker`);
    await Deno.symlink("../real/config.json", `${dir}/docker/config.json`);
    const file = await DockerConfigFile.load(`${dir}/docker/config.json`);
    file.setAuth("localhost:5000", { username: "u", password: "p" });
    await file.save();
    assert.ok((await Deno.lstat(`${dir}/docker/config.json`)).isSymlink);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/real/config.json`));
    assert.deepEqual(written, {
      currentContext: "x",
      auths: { "localhost:5000": { auth: btoa("u:p") } },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
