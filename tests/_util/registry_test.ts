import assert from "node:assert/strict";
import { startRegistry } from "./registry.ts";

Deno.test("test registry without auth answers /v2/ with 200 and stops", async () => {
  const registry = await startRegistry();
  const res = await fetch(`http://${registry.host}/v2/`);
  await res.body?.cancel();
  assert.equal(res.status, 200);
  assert.match(res.headers.get("docker-distribution-api-version") ?? "", /registry\/2\.0/);
  await registry.stop();
  await assert.rejects(fetch(`http://${registry.host}/v2/`));
});

Deno.test("test registry with htpasswd demands Basic auth and accepts the bcrypt password", async () => {
  await using registry = await startRegistry({ auth: "htpasswd", username: "u", password: "p:w" });
  const anon = await fetch(`http://${registry.host}/v2/`);
  await anon.body?.cancel();
  assert.equal(anon.status, 401);
  assert.match(anon.headers.get("www-authenticate") ?? "", /^Basic realm="img-test"/);
  const wrong = await fetch(`http://${registry.host}/v2/`, {
    headers: { authorization: `Basic ${btoa("u:nope")}` },
  });
  await wrong.body?.cancel();
  assert.equal(wrong.status, 401);
  const ok = await fetch(`http://${registry.host}/v2/`, {
    headers: { authorization: `Basic ${btoa("u:p:w")}` },
  });
  await ok.body?.cancel();
  assert.equal(ok.status, 200);
});

Deno.test("test registry with token auth accepts JWTs from the token server", async () => {
  await using registry = await startRegistry({ auth: "token" });
  const ping = await fetch(`http://${registry.host}/v2/`);
  await ping.body?.cancel();
  assert.equal(ping.status, 401);
  const challenge = ping.headers.get("www-authenticate") ?? "";
  assert.match(
    challenge,
    /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="img-test-registry"/,
  );
  const realm = /realm="([^"]+)"/.exec(challenge)![1];

  // A token for push lets us start an upload.
  const scope = "repository:team/app:pull,push";
  const tokenRes = await fetch(
    `${realm}?service=img-test-registry&scope=${encodeURIComponent(scope)}`,
    {
      headers: { authorization: `Basic ${btoa(`${registry.username}:${registry.password}`)}` },
    },
  );
  assert.equal(tokenRes.status, 200);
  const { token } = await tokenRes.json();
  const upload = await fetch(`http://${registry.host}/v2/team/app/blobs/uploads/`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  await upload.body?.cancel();
  assert.equal(upload.status, 202, registry.log());

  // An anonymous token grants nothing, so the registry refuses with insufficient_scope.
  const anonRes = await fetch(
    `${realm}?service=img-test-registry&scope=${encodeURIComponent(scope)}`,
  );
  const anon = (await anonRes.json()).token;
  const refused = await fetch(`http://${registry.host}/v2/team/app/tags/list`, {
    headers: { authorization: `Bearer ${anon}` },
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);

  // Wrong credentials are refused by the token server.
  const bad = await fetch(`${realm}?service=img-test-registry`, {
    headers: { authorization: `Basic ${btoa(`${registry.username}:wrong`)}` },
  });
  await bad.body?.cancel();
  assert.equal(bad.status, 401);
});
