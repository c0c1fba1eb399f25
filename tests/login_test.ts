/**
 * `img login` / `logout` against the real registry with htpasswd (Basic) and token auth, the
 * config file it writes read by skopeo, and a `credHelpers` entry served by a helper program.
 */
import { equal, match, ok } from "node:assert/strict";
import { startRegistry, type TestRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, imgOk, run } from "./_util/img.ts";
import { installFakeCredentialHelper, STORE_ENV } from "./_util/fake_credential_helper.ts";

async function loginPullPush(registry: TestRegistry, env: Record<string, string>, state: string) {
  const src = `${registry.host}/library/busybox:latest`;
  const denied = await img(["pull", src], { state, env });
  equal(denied.code, 1, denied.stdout);
  match(denied.stderr, new RegExp(`img login ${registry.host.replace(/\./g, "\\.")}`));

  const wrong = await img(["login", "-u", registry.username!, "--password-stdin", registry.host], {
    state,
    env,
    stdin: "not-the-password\n",
  });
  equal(wrong.code, 1);
  match(wrong.stderr, /^img: Login to .* failed: .*unauthorized/i);

  const login = await imgOk(
    ["login", "-u", registry.username!, "--password-stdin", registry.host],
    {
      state,
      env,
      stdin: `${registry.password}\n`,
    },
  );
  equal(login.stdout.trim(), "Login Succeeded");

  await imgOk(["pull", src], { state, env });
  await imgOk(["tag", src, `${registry.host}/pushed/busybox:v2`], { state, env });
  const pushed = await imgOk(["push", `${registry.host}/pushed/busybox:v2`], { state, env });
  match(pushed.stdout, /Successfully pushed/);
}

Deno.test("login with htpasswd auth, pull and push; skopeo reads the config img wrote", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  const home = await Deno.makeTempDir({ prefix: "img-home-" });
  const env = { DOCKER_CONFIG: `${home}/docker` };
  try {
    await pushBusybox(registry.host, "library/busybox", "latest", {
      creds: `${registry.username}:${registry.password}`,
    });
    await loginPullPush(registry, env, `${home}/state`);
    const stat = await Deno.stat(`${home}/docker/config.json`);
    equal(stat.mode! & 0o777, 0o600);
    const who = await run([
      "skopeo",
      "login",
      "--get-login",
      "--authfile",
      `${home}/docker/config.json`,
      registry.host,
    ]);
    equal(who.trim(), registry.username);
    const inspected = JSON.parse(
      await run([
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--authfile",
        `${home}/docker/config.json`,
        `docker://${registry.host}/pushed/busybox:v2`,
      ]),
    );
    ok(inspected.Layers.length >= 1);

    const out = await imgOk(["logout", registry.host], { env, state: `${home}/state` });
    equal(out.stdout.trim(), `Removing login credentials for ${registry.host}`);
    const again = await imgOk(["logout", registry.host], { env, state: `${home}/state` });
    equal(again.stdout.trim(), `Not logged in to ${registry.host}`);
    const denied = await img(["pull", `${registry.host}/library/busybox:latest`], {
      env,
      state: `${home}/state`,
    });
    equal(denied.code, 1);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("login with token auth (Bearer JWTs from a token server), pull and push", async () => {
  await using registry = await startRegistry({ auth: "token" });
  const home = await Deno.makeTempDir({ prefix: "img-home-" });
  try {
    await pushBusybox(registry.host, "library/busybox", "latest", {
      creds: `${registry.username}:${registry.password}`,
    });
    await loginPullPush(registry, { DOCKER_CONFIG: `${home}/docker` }, `${home}/state`);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a credHelpers entry is used through a helper program that speaks the protocol", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  const home = await Deno.makeTempDir({ prefix: "img-home-" });
  try {
    await pushBusybox(registry.host, "library/busybox", "latest", {
      creds: `${registry.username}:${registry.password}`,
    });
    await installFakeCredentialHelper(`${home}/bin`, "fake");
    await Deno.mkdir(`${home}/docker`);
    await Deno.writeTextFile(
      `${home}/docker/config.json`,
      JSON.stringify({ credHelpers: { [registry.host]: "fake" }, HttpHeaders: { "X-Keep": "1" } }),
    );
    const env = {
      DOCKER_CONFIG: `${home}/docker`,
      PATH: `${home}/bin:${Deno.env.get("PATH")}`,
      [STORE_ENV]: `${home}/helper-store.json`,
    };
    await loginPullPush(registry, env, `${home}/state`);
    const helperStore = JSON.parse(await Deno.readTextFile(`${home}/helper-store.json`));
    ok(JSON.stringify(helperStore).includes(registry.password!), "the helper holds the secret");
    const config = await Deno.readTextFile(`${home}/docker/config.json`);
    ok(!config.includes(registry.password!), "the secret is not in config.json");
    ok(config.includes("X-Keep"), "unknown keys are kept");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
