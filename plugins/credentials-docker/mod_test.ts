import assert from "node:assert/strict";
import { API_VERSION, ImgError } from "@img/core";
import { pluginEntrySchemas, pluginManifestSchema } from "@img/core/loader";
import plugin, { DockerCredentialStore } from "./mod.ts";
import { lookPath } from "./helper.ts";
import {
  installFakeCredentialHelper,
  STORE_ENV,
} from "../../tests/_util/fake_credential_helper.ts";

interface Fixture {
  dir: string;
  configPath: string;
  helperStorePath: string;
  env: Record<string, string>;
  store: DockerCredentialStore;
}

/** A temp DOCKER_CONFIG with the fake helper on PATH; the global environment is untouched. */
async function withConfig(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "img-docker-config-" });
  try {
    await installFakeCredentialHelper(`${dir}/bin`);
    const helperStorePath = `${dir}/helper-store.json`;
    const env = {
      ...Deno.env.toObject(),
      DOCKER_CONFIG: `${dir}/docker`,
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? ""}`,
      [STORE_ENV]: helperStorePath,
    };
    const store = new DockerCredentialStore({ env });
    await fn({ dir, configPath: `${dir}/docker/config.json`, helperStorePath, env, store });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

async function writeConfig(path: string, config: unknown): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(config, null, "\t"));
}

const b64 = (s: string) => btoa(s);

Deno.test("the manifest is a valid credentials plugin named docker", async () => {
  assert.equal(plugin.kind, "credentials");
  assert.equal(plugin.name, "docker");
  assert.equal(plugin.apiVersion, API_VERSION);
  // What the core's plugin loader checks.
  pluginManifestSchema.parse(plugin);
  pluginEntrySchemas.credentials.parse(plugin);
  // Created as the engine does, with a plugin context.
  const home = await Deno.makeTempDir();
  try {
    const store = plugin.create({ stateDir: home, env: { HOME: home }, debug: () => {} });
    await store.store("localhost:5000", { username: "u", password: "p" });
    assert.ok((await Deno.stat(`${home}/.docker/config.json`)).isFile);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("store, get and erase round-trip through a new config file", async () => {
  await withConfig(async ({ store, configPath, dir }) => {
    assert.equal(await store.get("localhost:5000"), undefined);
    await store.store("localhost:5000", { username: "alice", password: "pa:ss" });
    assert.deepEqual(await store.get("localhost:5000"), { username: "alice", password: "pa:ss" });

    // The file is what docker writes: tab-indented, base64 user:password, no trailing newline.
    assert.equal(
      await Deno.readTextFile(configPath),
      `{\n\t"auths": {\n\t\t"localhost:5000": {\n\t\t\t"auth": "${
        b64("alice:pa:ss")
      }"\n\t\t}\n\t}\n}`,
    );
    assert.equal((await Deno.stat(configPath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/docker`)).mode! & 0o777, 0o700);
    // No temporary file is left behind.
    assert.deepEqual([...Deno.readDirSync(`${dir}/docker`)].map((e) => e.name), ["config.json"]);

    assert.equal(await store.erase("localhost:5000"), true);
    assert.equal(await store.get("localhost:5000"), undefined);
    assert.equal(await store.erase("localhost:5000"), false);
    assert.deepEqual(await readJson(configPath), { auths: {} });
  });
});

Deno.test("writing keeps every key img does not know, and the file mode 0600", async () => {
  await withConfig(async ({ store, configPath }) => {
    const original = {
      auths: {
        "ghcr.io": { auth: b64("bob:ghp_x"), email: "bob@example.com" },
        "localhost:5000": { auth: b64("old:old") },
      },
      HttpHeaders: { "User-Agent": "Docker-Client/24.0 (linux)", "X-Meta": "a<b>&c" },
      proxies: { default: { httpProxy: "http://proxy:3128", noProxy: "localhost" } },
      currentContext: "rootless",
      psFormat: "table {{.ID}}",
      plugins: { buildx: { hooks: "build" } },
      features: { hooks: "true" },
    };
    await writeConfig(configPath, original);
    await Deno.chmod(configPath, 0o600);

    await store.store("localhost:5000", { username: "alice", password: "new" });
    const written = await readJson(configPath);
    assert.deepEqual(written, {
      ...original,
      auths: { ...original.auths, "localhost:5000": { auth: b64("alice:new") } },
    });
    assert.deepEqual(Object.keys(written), Object.keys(original));
    assert.equal((await Deno.stat(configPath)).mode! & 0o777, 0o600);

    assert.equal(await store.erase("localhost:5000"), true);
    assert.deepEqual(await readJson(configPath), {
      ...original,
      auths: { "ghcr.io": original.auths["ghcr.io"] },
    });
  });
});

Deno.test("docker.io is stored under docker's legacy key and found by any hub alias", async () => {
  await withConfig(async ({ store, configPath }) => {
    await store.store("docker.io", { username: "hubuser", password: "dckr_pat" });
    assert.deepEqual(await readJson(configPath), {
      auths: { "https://index.docker.io/v1/": { auth: b64("hubuser:dckr_pat") } },
    });
    for (const host of ["docker.io", "registry-1.docker.io", "index.docker.io"]) {
      assert.deepEqual(await store.get(host), { username: "hubuser", password: "dckr_pat" });
    }
    assert.equal(await store.erase("registry-1.docker.io"), true);
    assert.equal(await store.get("docker.io"), undefined);
  });
});

Deno.test("reading a config docker wrote: auths, legacy URL keys, HttpHeaders, credHelpers", async () => {
  await withConfig(async ({ store, configPath, helperStorePath, dir }) => {
    // As written by `docker login` over the years: bare hosts, URL keys, an identity token.
    await Deno.mkdir(`${dir}/docker`, { recursive: true });
    await Deno.writeTextFile(
      configPath,
      `{
	"auths": {
		"https://index.docker.io/v1/": {
			"auth": "${b64("hubuser:hubpass")}"
		},
		"localhost:5000": {
			"auth": "${b64("alice:secret")}"
		},
		"http://legacy.example.com:8080/v2/": {
			"auth": "${b64("carol:pw")}",
			"email": "carol@example.com"
		},
		"https://sso.example.com": {
			"auth": "${b64("dave:")}",
			"identitytoken": "refresh-token-123"
		},
		"plain.example.com": {
			"username": "erin",
			"password": "plaintext"
		}
	},
	"HttpHeaders": {
		"User-Agent": "Docker-Client/19.03.12 (linux)"
	},
	"credHelpers": {
		"helped.example.com": "fake"
	}
}`,
    );
    await Deno.writeTextFile(
      helperStorePath,
      JSON.stringify({ "helped.example.com": { Username: "frank", Secret: "from-helper" } }),
    );
    assert.deepEqual(await store.get("docker.io"), { username: "hubuser", password: "hubpass" });
    assert.deepEqual(await store.get("localhost:5000"), { username: "alice", password: "secret" });
    assert.deepEqual(await store.get("legacy.example.com:8080"), {
      username: "carol",
      password: "pw",
    });
    assert.deepEqual(await store.get("sso.example.com"), {
      username: "dave",
      password: "",
      identityToken: "refresh-token-123",
    });
    assert.deepEqual(await store.get("plain.example.com"), {
      username: "erin",
      password: "plaintext",
    });
    assert.deepEqual(await store.get("helped.example.com"), {
      username: "frank",
      password: "from-helper",
    });
    assert.equal(await store.get("localhost:5001"), undefined);
    assert.equal(await store.get("legacy.example.com"), undefined);
  });
});

Deno.test("an identity token is written as identitytoken and read back", async () => {
  await withConfig(async ({ store, configPath }) => {
    await store.store("sso.example.com", {
      username: "dave",
      password: "",
      identityToken: "refresh-token-456",
    });
    assert.deepEqual(await readJson(configPath), {
      auths: {
        "sso.example.com": { auth: b64("dave:"), identitytoken: "refresh-token-456" },
      },
    });
    assert.deepEqual(await store.get("sso.example.com"), {
      username: "dave",
      password: "",
      identityToken: "refresh-token-456",
    });
  });
});

Deno.test("an invalid config file is an ImgError naming the file", async () => {
  await withConfig(async ({ store, configPath }) => {
    await writeConfig(configPath, {});
    await Deno.writeTextFile(configPath, "{ not json");
    for (const call of [() => store.get("localhost:5000"), () => store.erase("localhost:5000")]) {
      await assert.rejects(
        call,
        (error: Error) => error instanceof ImgError && error.message.includes(configPath),
      );
    }
    // The broken file is left for the user to fix, not overwritten.
    assert.equal(await Deno.readTextFile(configPath), "{ not json");
  });
});

Deno.test("without DOCKER_CONFIG the file is ~/.docker/config.json; configDir overrides both", async () => {
  const home = await Deno.makeTempDir();
  try {
    const store = plugin.create({ env: { HOME: home } });
    await store.store("localhost:5000", { username: "u", password: "p" });
    assert.deepEqual(await readJson(`${home}/.docker/config.json`), {
      auths: { "localhost:5000": { auth: b64("u:p") } },
    });
    const other = plugin.create({ configDir: `${home}/other`, env: { HOME: home } });
    assert.equal(await other.get("localhost:5000"), undefined);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("credsStore: credentials go through the helper, auths keeps an empty entry", async () => {
  await withConfig(async ({ store, configPath, helperStorePath }) => {
    await writeConfig(configPath, { auths: {}, credsStore: "fake", currentContext: "default" });
    await store.store("localhost:5000", { username: "alice", password: "s3cret" });
    await store.store("docker.io", { username: "hubuser", password: "hubpass" });
    assert.deepEqual(await readJson(helperStorePath), {
      "localhost:5000": { Username: "alice", Secret: "s3cret" },
      "https://index.docker.io/v1/": { Username: "hubuser", Secret: "hubpass" },
    });
    // No secret in the config file, as docker leaves it.
    assert.deepEqual(await readJson(configPath), {
      auths: { "localhost:5000": {}, "https://index.docker.io/v1/": {} },
      credsStore: "fake",
      currentContext: "default",
    });
    assert.deepEqual(await store.get("localhost:5000"), { username: "alice", password: "s3cret" });
    assert.deepEqual(await store.get("registry-1.docker.io"), {
      username: "hubuser",
      password: "hubpass",
    });

    assert.equal(await store.erase("localhost:5000"), true);
    assert.equal(await store.get("localhost:5000"), undefined);
    assert.equal(await store.erase("localhost:5000"), false);
    assert.deepEqual(await readJson(helperStorePath), {
      "https://index.docker.io/v1/": { Username: "hubuser", Secret: "hubpass" },
    });
    assert.deepEqual((await readJson(configPath)).auths, { "https://index.docker.io/v1/": {} });
  });
});

Deno.test("a helper's <token> user name means the secret is an identity token", async () => {
  await withConfig(async ({ store, configPath, helperStorePath }) => {
    await writeConfig(configPath, { credHelpers: { "sso.example.com": "fake" } });
    await store.store("sso.example.com", {
      username: "dave",
      password: "",
      identityToken: "refresh-token-789",
    });
    assert.deepEqual(await readJson(helperStorePath), {
      "sso.example.com": { Username: "<token>", Secret: "refresh-token-789" },
    });
    assert.deepEqual(await store.get("sso.example.com"), {
      username: "",
      password: "",
      identityToken: "refresh-token-789",
    });
    // Hosts without a credHelpers entry still use auths.
    await store.store("localhost:5000", { username: "u", password: "p" });
    assert.deepEqual((await readJson(configPath)).auths, {
      "sso.example.com": {},
      "localhost:5000": { auth: b64("u:p") },
    });
  });
});

Deno.test("a missing or failing helper is a clear error", async () => {
  await withConfig(async ({ store, configPath, env }) => {
    await writeConfig(configPath, { credsStore: "missing" });
    await assert.rejects(
      () => store.get("localhost:5000"),
      (error: Error) =>
        error instanceof ImgError &&
        error.message.startsWith("docker-credential-missing is not installed or not in PATH") &&
        error.message.includes(configPath),
    );
    await writeConfig(configPath, { credsStore: "fake" });
    const failing = new DockerCredentialStore({
      env: { ...env, FAKE_CREDENTIAL_HELPER_FAIL: "the keyring is locked" },
    });
    await assert.rejects(
      () => failing.store("localhost:5000", { username: "u", password: "p" }),
      (error: Error) =>
        error instanceof ImgError && error.message.includes("docker-credential-fake") &&
        error.message.includes("the keyring is locked"),
    );
    // A failed helper store leaves the config file as it was.
    assert.deepEqual(await readJson(configPath), { credsStore: "fake" });
  });
});

async function skopeoLogin(
  authfile: string,
  host: string,
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("skopeo", {
    args: ["login", "--get-login", "--authfile", authfile, host],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout).trim(),
    stderr: decoder.decode(output.stderr).trim(),
  };
}

Deno.test("skopeo reads the credentials img writes", async () => {
  await withConfig(async ({ store, configPath, env }) => {
    await store.store("localhost:5000", { username: "alice", password: "a" });
    await store.store("docker.io", { username: "hubuser", password: "h" });
    assert.deepEqual(await skopeoLogin(configPath, "localhost:5000"), {
      code: 0,
      stdout: "alice",
      stderr: "",
    });
    assert.equal((await skopeoLogin(configPath, "docker.io")).stdout, "hubuser");
    assert.notEqual((await skopeoLogin(configPath, "localhost:5001")).code, 0);

    // And through a credential helper that img stored into.
    const config = await readJson(configPath);
    await writeConfig(configPath, { ...config, credHelpers: { "helped.example.com": "fake" } });
    await store.store("helped.example.com", { username: "frank", password: "f" });
    assert.equal((await skopeoLogin(configPath, "helped.example.com", env)).stdout, "frank");
  });
});

Deno.test({
  name: "docker logout rewrites an img-written file the way img writes it",
  ignore: lookPath("docker", Deno.env.get("PATH")) === undefined,
  fn: async () => {
    await withConfig(async ({ store, configPath, env }) => {
      await store.store("localhost:5000", { username: "alice", password: "a" });
      await store.store("sso.example.com", {
        username: "dave",
        password: "",
        identityToken: "tok<&>",
      });
      const output = await new Deno.Command("docker", {
        args: ["logout", "localhost:5000"],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      const dockerWritten = await Deno.readTextFile(configPath);
      assert.equal(await store.get("localhost:5000"), undefined);
      assert.deepEqual(await store.get("sso.example.com"), {
        username: "dave",
        password: "",
        identityToken: "tok<&>",
      });
      // img writing the same content produces docker's bytes.
      await store.store("localhost:5000", { username: "alice", password: "a" });
      await store.erase("localhost:5000");
      assert.equal(await Deno.readTextFile(configPath), dockerWritten);
    });
  },
});
