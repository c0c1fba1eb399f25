import assert from "node:assert/strict";
import { DockerIgnore, parseDockerignore } from "./dockerignore.ts";

Deno.test("parseDockerignore reads lines as docker does", () => {
  const text =
    "\uFEFF# comment\r\n\r\n  node_modules  \n/abs/dir/\n./rel/../x\n! keep.txt\n #not a comment\n!\n";
  assert.deepEqual(parseDockerignore(text), [
    "node_modules",
    "abs/dir",
    "x",
    "!keep.txt",
    "#not a comment",
    "!",
  ]);
});

Deno.test("matching: root-anchored globs, **, exceptions where the last line wins", () => {
  const ig = DockerIgnore.parse(`
node_modules
*.log
!important.log
**/*.tmp
docs
!docs/README.md
build/**/cache
temp?
[ab].txt
`);
  const cases: [string, boolean][] = [
    ["node_modules", true],
    ["node_modules/pkg/index.js", true],
    ["src/node_modules", false], // patterns are anchored at the context root
    ["app.log", true],
    ["logs/app.log", false], // * does not cross /
    ["important.log", false],
    ["a/b/c.tmp", true],
    ["c.tmp", true],
    ["docs/guide.md", true],
    ["docs/README.md", false],
    ["build/x/y/cache", true],
    ["build/cache", true],
    ["temp1", true],
    ["temp12", false],
    ["a.txt", true],
    ["c.txt", false],
    ["Node_Modules", false], // case-sensitive, as on Linux
    ["./app.log", true],
    ["Dockerfile", false],
  ];
  for (const [path, ignored] of cases) assert.equal(ig.ignores(path), ignored, path);
  assert.equal(ig.hasExceptions, true);
});

Deno.test("canSkipDir: only when no exception could re-include something below", () => {
  const ig = DockerIgnore.parse("node_modules\ndocs\n!docs/README.md\nvendor\n!**/keep\n");
  assert.equal(ig.canSkipDir("node_modules"), false); // !**/keep may match below
  const simple = DockerIgnore.parse("node_modules\ndocs\n!docs/README.md\n");
  assert.equal(simple.canSkipDir("node_modules"), true);
  assert.equal(simple.canSkipDir("docs"), false);
  assert.equal(simple.canSkipDir("src"), false); // not ignored at all
});

Deno.test("an empty .dockerignore ignores nothing", () => {
  const ig = DockerIgnore.parse("");
  assert.deepEqual(ig.patterns, []);
  assert.equal(ig.ignores("anything/at/all"), false);
  assert.equal(ig.ignores(""), false);
});
