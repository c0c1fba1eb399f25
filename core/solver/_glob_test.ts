import assert from "node:assert/strict";
import { BadPatternError, hasWildcards, matchGlob, splitWildcards } from "./_glob.ts";

// Go's path/filepath match_test.go table (the Linux cases).
const cases: [string, string, boolean | "bad"][] = [
  ["abc", "abc", true],
  ["*", "abc", true],
  ["*c", "abc", true],
  ["a*", "a", true],
  ["a*", "abc", true],
  ["a*", "ab/c", false],
  ["a*/b", "abc/b", true],
  ["a*/b", "a/c/b", false],
  ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
  ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false],
  ["ab[c]", "abc", true],
  ["ab[b-d]", "abc", true],
  ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false],
  ["ab[^b-d]", "abc", false],
  ["ab[^e-g]", "abc", true],
  ["a\\*b", "a*b", true],
  ["a\\*b", "ab", false],
  ["a?b", "a☺b", true],
  ["a[^a]b", "a☺b", true],
  ["a???b", "a☺b", false],
  ["a[^a][^a][^a]b", "a☺b", false],
  ["[a-ζ]*", "α", true],
  ["*[a-ζ]", "A", false],
  ["a?b", "a/b", false],
  ["a*b", "a/b", false],
  ["[\\]a]", "]", true],
  ["[\\-]", "-", true],
  ["[x\\-]", "x", true],
  ["[x\\-]", "-", true],
  ["[x\\-]", "z", false],
  ["[\\-x]", "x", true],
  ["[\\-x]", "-", true],
  ["[\\-x]", "a", false],
  ["[]a]", "]", "bad"],
  ["[-]", "-", "bad"],
  ["[x-]", "x", "bad"],
  ["[x-]", "-", "bad"],
  ["[x-]", "z", "bad"],
  ["[-x]", "x", "bad"],
  ["[-x]", "-", "bad"],
  ["[-x]", "a", "bad"],
  ["\\", "a", "bad"],
  ["[a-b-c]", "a", "bad"],
  ["[", "a", "bad"],
  ["[^", "a", "bad"],
  ["[^bc", "a", "bad"],
  ["a[", "a", "bad"],
  ["a[", "ab", "bad"],
  ["a[", "x", "bad"],
  ["a/b[", "x", "bad"],
  ["*x", "xxx", true],
];

Deno.test("matchGlob follows Go's filepath.Match", () => {
  for (const [pattern, name, want] of cases) {
    if (want === "bad") {
      assert.throws(() => matchGlob(pattern, name), BadPatternError, `${pattern} ${name}`);
    } else {
      assert.equal(matchGlob(pattern, name), want, `${pattern} ${name}`);
    }
  }
});

Deno.test("matchGlob treats ** as two stars that never cross a slash", () => {
  assert.equal(matchGlob("**", "a"), true);
  assert.equal(matchGlob("**", "a/b"), false);
  assert.equal(matchGlob("**/*.txt", "a/b.txt"), true);
  assert.equal(matchGlob("**/*.txt", "a/b/c.txt"), false);
});

Deno.test("hasWildcards and splitWildcards find the first wildcard component", () => {
  assert.equal(hasWildcards("a*"), true);
  assert.equal(hasWildcards("a\\*"), false);
  assert.equal(hasWildcards("[ab]"), true);
  assert.equal(hasWildcards("plain"), false);
  assert.deepEqual(splitWildcards(["src", "lib", "*.ts"]), {
    base: ["src", "lib"],
    pattern: "*.ts",
  });
  assert.deepEqual(splitWildcards(["a*", "b", "c"]), { base: [], pattern: "a*/b/c" });
  assert.equal(splitWildcards(["a", "b"]), undefined);
});
