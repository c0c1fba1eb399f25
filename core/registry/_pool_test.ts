import assert from "node:assert/strict";
import { mapLimit } from "./_pool.ts";

Deno.test("mapLimit keeps at most `limit` calls in flight and keeps order", async () => {
  let inFlight = 0;
  let peak = 0;
  const result = await mapLimit([50, 10, 30, 20, 40, 5, 15], 3, async (ms, i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, ms));
    inFlight--;
    return i * 2;
  });
  assert.deepEqual(result, [0, 2, 4, 6, 8, 10, 12]);
  assert.equal(peak, 3);
});

Deno.test("mapLimit stops starting work after a failure and waits for calls in flight", async () => {
  const started: number[] = [];
  let finished = 0;
  await assert.rejects(
    mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setTimeout(r, n === 1 ? 5 : 30));
      finished++;
      if (n === 1) throw new Error("first failed");
    }),
    /first failed/,
  );
  assert.deepEqual(started, [1, 2]);
  assert.equal(finished, 2, "the call in flight finished before the error was thrown");
});

Deno.test("mapLimit handles no items", async () => {
  assert.deepEqual(await mapLimit([], 3, () => Promise.resolve(1)), []);
});
