import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration reads Go durations", () => {
  assert.equal(parseDuration("1h2m3.5s"), 3723.5e9);
  assert.equal(parseDuration("1ms"), 1e6);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("1.5h"), 5400e9);
  assert.throws(() => parseDuration("10"), /missing unit/);
  assert.throws(() => parseDuration("abc"), /invalid duration/);
});
