import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  isRetryableError,
  isRetryableStatus,
  isTransient,
  parseRetryAfter,
  Retrier,
  retryDelay,
  retryPolicyFromEnv,
  sleep,
} from "./_retry.ts";
import { RegistryError } from "./errors.ts";
import { StallError } from "./_watchdog.ts";

Deno.test("isRetryableStatus: 408, 429 and most 5xx; not 4xx, 501 or 505", () => {
  for (const s of [408, 429, 500, 502, 503, 504, 599]) {
    assert.equal(isRetryableStatus(s), true, `${s}`);
  }
  for (const s of [200, 201, 400, 401, 403, 404, 416, 501, 505]) {
    assert.equal(isRetryableStatus(s), false, `${s}`);
  }
});

Deno.test("isRetryableError: broken connections yes, our own errors and aborts no", () => {
  assert.equal(isRetryableError(new TypeError("error reading a body from connection")), true);
  assert.equal(isRetryableError(new Deno.errors.ConnectionReset("reset")), true);
  assert.equal(isRetryableError(new Deno.errors.ConnectionRefused("refused")), true);
  assert.equal(isRetryableError(new ImgError("digest mismatch")), false);
  assert.equal(isRetryableError(new DOMException("aborted", "AbortError")), false);
  assert.equal(isRetryableError(new Error("bug")), false);
});

Deno.test("parseRetryAfter reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(" 0 "), 0);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "a past date means now");
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
});

Deno.test("retryDelay backs off exponentially with jitter, capped", () => {
  const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
  const none = () => 0;
  const full = () => 0.999999;
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((r) => retryDelay(policy, r, undefined, none)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  // Jitter takes off at most half.
  assert.equal(retryDelay(policy, 3, undefined, full), 200);
  for (let i = 0; i < 50; i++) {
    const d = retryDelay(policy, 2);
    assert.ok(d >= 100 && d <= 200, `${d}`);
  }
});

Deno.test("retryDelay honours Retry-After, up to the cap", () => {
  const policy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 5000 };
  assert.equal(retryDelay(policy, 1, 2000), 2000);
  assert.equal(retryDelay(policy, 1, 0), 0);
  assert.equal(retryDelay(policy, 1, 60_000), 5000);
});

Deno.test("the default policy makes several attempts within a bounded time", () => {
  assert.ok(DEFAULT_RETRY_POLICY.attempts >= 3);
  let total = 0;
  for (let r = 1; r < DEFAULT_RETRY_POLICY.attempts; r++) {
    total += retryDelay(DEFAULT_RETRY_POLICY, r, undefined, () => 0);
  }
  assert.ok(total < 10_000, `${total}`);
});

Deno.test("sleep waits, and stops early when aborted", async () => {
  const start = Date.now();
  await sleep(30);
  assert.ok(Date.now() - start >= 25);
  const controller = new AbortController();
  const p = sleep(10_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
});

Deno.test("retryPolicyFromEnv reads IMG_REGISTRY_TIMEOUT and IMG_REGISTRY_RETRIES", () => {
  assert.deepEqual(retryPolicyFromEnv({}), DEFAULT_RETRY_POLICY);
  assert.ok(DEFAULT_TIMEOUT_MS <= 60_000, "the default timeout is at most 60 s");
  const p = retryPolicyFromEnv({ IMG_REGISTRY_TIMEOUT: "2.5", IMG_REGISTRY_RETRIES: "0" });
  assert.equal(p.timeoutMs, 2500);
  assert.equal(p.attempts, 1);
  assert.throws(
    () => retryPolicyFromEnv({ IMG_REGISTRY_TIMEOUT: "10s" }),
    /^ImgError: IMG_REGISTRY_TIMEOUT must be a number of seconds greater than 0, not "10s"$/,
  );
  assert.throws(() => retryPolicyFromEnv({ IMG_REGISTRY_TIMEOUT: "0" }), /greater than 0/);
  assert.throws(() => retryPolicyFromEnv({ IMG_REGISTRY_RETRIES: "-1" }), /whole number/);
  // The flag wins over the variable.
  assert.equal(
    retryPolicyFromEnv({ IMG_REGISTRY_TIMEOUT: "9" }, { timeout: "0.5" }).timeoutMs,
    500,
  );
  assert.throws(
    () => retryPolicyFromEnv({}, { timeout: "soon" }),
    /^ImgError: --registry-timeout must be a number of seconds greater than 0, not "soon"$/,
  );
});

Deno.test("isTransient: stalls, broken connections and transient registry errors", () => {
  assert.equal(isTransient(new StallError("body", 1000)), true);
  assert.equal(isTransient(new TypeError("connection reset")), true);
  assert.equal(isTransient(new RegistryError("x", { status: 503, transient: true })), true);
  assert.equal(isTransient(new RegistryError("x", { status: 404 })), false);
  assert.equal(isTransient(new ImgError("digest mismatch")), false);
});

const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 10_000 };

Deno.test("Retrier gives up after `attempts` failures in a row; progress starts the count over", async () => {
  const retrier = new Retrier(fast, (e, n) => new Error(`gave up after ${n}: ${e}`));
  await retrier.failed(new TypeError("reset"));
  await retrier.failed(new TypeError("reset"));
  retrier.progress();
  await retrier.failed(new TypeError("reset"));
  await retrier.failed(new TypeError("reset"));
  await assert.rejects(
    retrier.failed(new TypeError("reset")),
    /^Error: gave up after 5: TypeError/,
  );
  // What is not transient is thrown as it is, at once.
  const other = new Retrier(fast, () => new Error("no"));
  const e = new ImgError("bad digest");
  await assert.rejects(other.failed(e), (got) => got === e);
});

Deno.test("Retrier waits what Retry-After asks", async () => {
  const retrier = new Retrier({ ...fast, maxDelayMs: 1000 }, () => new Error("no"));
  const start = Date.now();
  await retrier.failed(
    new RegistryError("busy", { status: 429, transient: true, retryAfterMs: 200 }),
  );
  assert.ok(Date.now() - start >= 190);
});

Deno.test("Retrier: attempts get half the no-progress limit; stalls that use it all up give up", async () => {
  const policy = { attempts: 10, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 400 };
  const retrier = new Retrier(policy, (e) => new Error(`gave up: ${(e as Error).message}`));
  assert.equal(retrier.attemptTimeoutMs, 200);
  await sleep(200); // the first attempt stalls for its half
  await retrier.failed(new StallError("body", 200));
  assert.ok(retrier.attemptTimeoutMs <= 200, "what is left of the limit");
  await sleep(retrier.attemptTimeoutMs); // the second one stalls for what is left
  await assert.rejects(retrier.failed(new StallError("body", 200)), /^Error: gave up: /);
  // Time granted for sending a body does not count against the limit.
  const upload = new Retrier(policy, () => new Error("gave up"));
  await sleep(300);
  await upload.failed(new StallError("upload", 300, 200));
  assert.ok(upload.attemptTimeoutMs >= 100, `${upload.attemptTimeoutMs}`);
});
