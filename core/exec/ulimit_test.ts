import assert from "node:assert/strict";
import { formatUlimit, parseUlimit } from "./ulimit.ts";

Deno.test("parseUlimit: docker's names and rules", () => {
  assert.deepEqual(parseUlimit("nofile=512:1024"), { name: "nofile", soft: 512, hard: 1024 });
  assert.deepEqual(parseUlimit("core=0"), { name: "core", soft: 0, hard: 0 });
  assert.deepEqual(parseUlimit("memlock=-1:-1"), { name: "memlock", soft: -1, hard: -1 });
  assert.deepEqual(parseUlimit("nproc=10:-1"), { name: "nproc", soft: 10, hard: -1 });
  assert.equal(formatUlimit(parseUlimit("stack=8192")), "stack=8192:8192");
  for (
    const [spec, message] of [
      ["nofile", /use NAME=SOFT\[:HARD\]/],
      ["files=1", /unknown limit "files", use one of core, cpu/],
      ["nofile=a", /limits are whole numbers/],
      ["nofile=2:1", /soft limit must not be above the hard limit/],
      ["nofile=-1:5", /soft limit must not be above the hard limit/],
      ["nofile=1:2:3", /use NAME=SOFT\[:HARD\]/],
    ] as const
  ) {
    assert.throws(() => parseUlimit(spec), message, spec);
  }
});
