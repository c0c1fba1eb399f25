import assert from "node:assert/strict";
import { parseChallenges } from "./challenge.ts";

Deno.test("parseChallenges reads a Docker Hub bearer challenge", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull",
      },
    }],
  );
});

Deno.test("parseChallenges reads several scopes, errors and odd spacing", () => {
  const [c] = parseChallenges(
    'Bearer  realm = "http://127.0.0.1:5001/token" , service="reg",scope="repository:a:pull repository:b:pull,push",error="insufficient_scope"',
  );
  assert.equal(c.scheme, "bearer");
  assert.equal(c.params.realm, "http://127.0.0.1:5001/token");
  assert.equal(c.params.scope, "repository:a:pull repository:b:pull,push");
  assert.equal(c.params.error, "insufficient_scope");
});

Deno.test("parseChallenges reads Basic and several challenges in one header", () => {
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
    { scheme: "basic", params: { realm: "Registry Realm" } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm="https://x/t",service=s'), [
    { scheme: "basic", params: { realm: "a, b" } },
    { scheme: "bearer", params: { realm: "https://x/t", service: "s" } },
  ]);
});

Deno.test("parseChallenges unescapes quoted values, lower-cases names, keeps value case", () => {
  assert.deepEqual(parseChallenges('BEARER Realm="say \\"hi\\"",Service=Reg'), [
    { scheme: "bearer", params: { realm: 'say "hi"', service: "Reg" } },
  ]);
});

Deno.test("parseChallenges returns nothing for empty or malformed headers", () => {
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges("   "), []);
  assert.deepEqual(parseChallenges('="x"'), []);
});
