import assert from "node:assert/strict";
import {
  describeErrorBody,
  exhaustedError,
  networkError,
  RegistryError,
  responseError,
} from "./errors.ts";
import { StallError } from "./_watchdog.ts";

Deno.test("describeErrorBody words distribution error bodies as docker does", () => {
  assert.deepEqual(
    describeErrorBody(
      404,
      "Not Found",
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}',
    ),
    { detail: "manifest unknown: manifest unknown", code: "MANIFEST_UNKNOWN" },
  );
  assert.equal(
    describeErrorBody(
      400,
      "",
      '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"},{"code":"DIGEST_INVALID","message":"bad"}]}',
    ).detail,
    "blob unknown: blob unknown; digest invalid: bad",
  );
});

Deno.test("describeErrorBody reads token server and OAuth2 errors", () => {
  assert.equal(
    describeErrorBody(401, "", '{"details":"incorrect username or password"}').detail,
    "incorrect username or password",
  );
  assert.equal(
    describeErrorBody(400, "", '{"error":"invalid_grant","error_description":"bad token"}').detail,
    "invalid_grant: bad token",
  );
});

Deno.test("describeErrorBody falls back to the status, on one line", () => {
  assert.equal(
    describeErrorBody(502, "Bad Gateway", "<html>\n<b>oops</b></html>").detail,
    "HTTP 502 Bad Gateway",
  );
  assert.equal(describeErrorBody(401, "", "").detail, "unauthorized: authentication required");
  assert.equal(
    describeErrorBody(500, "", '{"errors":[{"code":"UNKNOWN","message":"line one\\nline two"}]}')
      .detail,
    "unknown: line one line two",
  );
});

Deno.test("responseError adds an img login hint on 401 and 403", async () => {
  const e = await responseError(
    new Response(
      '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      {
        status: 403,
      },
    ),
    { action: "Push of user/app:1", domain: "docker.io", authenticated: true },
  );
  assert.equal(
    e.message,
    "Push of user/app:1 failed: denied: requested access to the resource is denied (check that your account has access, or run `img login docker.io` again)",
  );
  assert.equal(e.status, 403);
  assert.equal(e.code, "DENIED");
  assert.equal(e.transient, false);
  const t = await responseError(new Response("", { status: 503 }), {
    action: "Pull of a",
    domain: "x",
  });
  assert.equal(t.transient, true);
});

Deno.test("networkError names the host and keeps one line", () => {
  const e = networkError(
    new TypeError("error sending request\nconnection refused"),
    { action: "Pull of app:1", domain: "example.com" },
    "example.com",
  );
  assert.equal(
    e.message,
    "Pull of app:1 failed: cannot reach registry example.com: error sending request connection refused",
  );
  assert.equal(e.transient, true);
});

Deno.test("exhaustedError names the registry, what went wrong and what to do, on one line", () => {
  const ctx = { action: "Pull of app:1", domain: "example.com" };
  const stall = exhaustedError(new StallError("body", 15_000), ctx, "example.com", 2);
  assert.equal(
    stall.message,
    "Pull of app:1 failed: registry example.com stopped sending data for 15 s (2 attempts); check the network, or raise IMG_REGISTRY_TIMEOUT if the registry is just slow",
  );
  assert.equal(stall.transient, false, "a spent policy is not retried again by an outer one");
  const busy = exhaustedError(
    new RegistryError("Pull of app:1 failed: toomanyrequests: slow down", {
      status: 429,
      transient: true,
    }),
    ctx,
    "example.com",
    5,
  );
  assert.equal(
    busy.message,
    "Pull of app:1 failed: toomanyrequests: slow down (registry example.com answered 429 to 5 attempts); try again later, or raise IMG_REGISTRY_RETRIES",
  );
  assert.equal(busy.status, 429);
  const reset = exhaustedError(new TypeError("connection reset"), ctx, "example.com", 5);
  assert.equal(
    reset.message,
    "Pull of app:1 failed: cannot reach registry example.com: connection reset (5 attempts); check the network and try again",
  );
});
