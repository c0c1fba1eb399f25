import assert from "node:assert/strict";
import { parseCacheTo, withInlineCacheArg } from "./_cache_flags.ts";

Deno.test("BUILDKIT_INLINE_CACHE=1 adds --cache-to type=inline, as buildx does", () => {
  assert.deepEqual(withInlineCacheArg([], {}), []);
  assert.deepEqual(withInlineCacheArg([], { BUILDKIT_INLINE_CACHE: "0" }), []);
  assert.deepEqual(withInlineCacheArg([], { BUILDKIT_INLINE_CACHE: "no" }), []);
  for (const value of ["1", "true", "TRUE", "t"]) {
    const specs = withInlineCacheArg([], { BUILDKIT_INLINE_CACHE: value });
    assert.deepEqual(specs.map((s) => s.type), ["inline"], value);
  }
  const local = parseCacheTo(["type=local,dest=/tmp/x"]);
  assert.deepEqual(
    withInlineCacheArg(local, { BUILDKIT_INLINE_CACHE: "1" }).map((s) => s.type),
    ["local", "inline"],
  );
  // Asked for twice (flag and build arg): one inline cache.
  const inline = parseCacheTo(["type=inline"]);
  assert.equal(withInlineCacheArg(inline, { BUILDKIT_INLINE_CACHE: "1" }).length, 1);
});
