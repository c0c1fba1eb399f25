import { equal } from "node:assert/strict";
import { isHostRoot } from "./_owner.ts";

Deno.test("isHostRoot: root of the initial namespace, not root of a mapped one", () => {
  equal(isHostRoot(0, () => "         0          0 4294967295\n"), true);
  // img's user namespace for user 1001: inside 0 is the user, 1.. the subordinate range.
  equal(isHostRoot(0, () => "0 1001 1\n1 100000 65536\n"), false);
  equal(isHostRoot(1000, () => "0 0 4294967295\n"), false);
  equal(
    isHostRoot(0, () => {
      throw new Error("no /proc");
    }),
    true,
  );
});
