import assert from "node:assert/strict";
import { parsePortSpecs } from "./ports.ts";

Deno.test("parsePortSpecs: a range is every port in it, protocols lowercased", () => {
  assert.deepEqual(parsePortSpecs(["8000-8002", "53/UDP", "80"]), [
    "8000/tcp",
    "8001/tcp",
    "8002/tcp",
    "53/udp",
    "80/tcp",
  ]);
  assert.deepEqual(parsePortSpecs(["7000-7001/udp"]), ["7000/udp", "7001/udp"]);
  assert.throws(() => parsePortSpecs(["80/icmp"]), /invalid proto: icmp/);
  assert.throws(() => parsePortSpecs(["abc"]), /invalid containerPort: abc/);
  assert.throws(() => parsePortSpecs(["9-1"]), /invalid range specified for containerPort: 9-1/);
});
