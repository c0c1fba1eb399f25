import assert from "node:assert/strict";
import { formatSeconds, StallError, Watchdog } from "./_watchdog.ts";
import { sleep } from "./_retry.ts";

Deno.test("Watchdog aborts after a quiet period with a StallError naming the phase", async () => {
  const dog = new Watchdog(50, "answer");
  await sleep(120);
  assert.ok(dog.signal.aborted);
  assert.ok(dog.reason instanceof StallError);
  assert.equal(dog.reason.phase, "answer");
  assert.equal(dog.signal.reason, dog.reason);
  assert.equal(dog.reason.message, "the registry sent no answer for 0.1 s");
});

Deno.test("Watchdog: touches keep it from firing however long the whole takes", async () => {
  const dog = new Watchdog(300, "answer");
  for (let i = 0; i < 10; i++) {
    await sleep(40);
    dog.touch("body");
  }
  assert.equal(dog.signal.aborted, false);
  await sleep(450);
  assert.equal(dog.reason?.phase, "body");
  dog.stop();
});

Deno.test("Watchdog: the first period includes the upload allowance; stop() disarms it", async () => {
  const dog = new Watchdog(50, "upload", 300);
  await sleep(120);
  assert.equal(dog.signal.aborted, false);
  await sleep(400);
  assert.equal(dog.reason?.extraMs, 300);
  const quiet = new Watchdog(20);
  quiet.stop();
  await sleep(50);
  assert.equal(quiet.signal.aborted, false);
});

Deno.test("formatSeconds rounds to a tenth", () => {
  assert.equal(formatSeconds(30_000), "30 s");
  assert.equal(formatSeconds(1540), "1.5 s");
});
