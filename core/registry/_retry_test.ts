import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import {
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  retryDelay,
  sleep,
} from "./_retry.ts";

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
