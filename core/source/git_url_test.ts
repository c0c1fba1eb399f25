import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import { type GitRef, isCommitSHA, isGitURL, parseGitRef, redactURL } from "./git_url.ts";

// The cases of BuildKit's util/gitutil/git_ref_test.go, and the fragment forms.
Deno.test("parseGitRef: what BuildKit counts as a git URL", () => {
  const notGit = [
    "https://example.com/",
    "https://example.com/foo",
    "https://example.com/foo.git/",
    "https://example.com/foo.git.bar",
    "https://github.com/moby/buildkit",
    "custom.xyz/moby/buildkit.git",
    "./foo",
    "../foo",
    "foo",
    "foo/bar",
    "/abs/repo.git",
    "file:///tmp/repo.git",
    "s3://bucket/repo.git",
    "localhost:/srv/repo.git",
  ];
  for (const s of notGit) assert.equal(parseGitRef(s), undefined, s);

  const cases: [string, Partial<GitRef>][] = [
    ["https://example.com/foo.git", {
      remote: "https://example.com/foo.git",
      scheme: "https",
      ref: "",
      subdir: "",
      shortName: "foo",
      unencryptedTCP: false,
    }],
    ["https://example.com/foo.git#deadbeef", { ref: "deadbeef", subdir: "" }],
    ["https://example.com/foo.git#release/1.2", { ref: "release/1.2" }],
    ["http://example.com/foo.git", { scheme: "http", unencryptedTCP: true }],
    ["git://example.com/foo", { remote: "git://example.com/foo", unencryptedTCP: true }],
    ["github.com/moby/buildkit", {
      remote: "github.com/moby/buildkit",
      indistinguishableFromLocal: true,
      shortName: "buildkit",
    }],
    ["https://foo:bar@github.com/moby/buildkit.git", {
      remote: "https://foo:bar@github.com/moby/buildkit.git",
      host: "github.com",
    }],
    ["git@github.com:moby/buildkit", {
      remote: "git@github.com:moby/buildkit",
      scheme: "ssh",
      host: "github.com",
      path: "moby/buildkit",
    }],
    ["git@bitbucket.org:atlassianlabs/atlascode.git#v1.0:sub/dir", {
      remote: "git@bitbucket.org:atlassianlabs/atlascode.git",
      ref: "v1.0",
      subdir: "sub/dir",
      shortName: "atlascode",
    }],
    ["github.com:moby/buildkit.git", { scheme: "ssh", remote: "github.com:moby/buildkit.git" }],
    ["ssh://git@github.com/moby/buildkit.git", { scheme: "ssh", path: "/moby/buildkit.git" }],
    ["ssh://git@example.com:2222/moby/buildkit.git#main:subdir", {
      remote: "ssh://git@example.com:2222/moby/buildkit.git",
      host: "example.com:2222",
      ref: "main",
      subdir: "subdir",
    }],
    ["https://github.com/moby/buildkit.git#main:dir", { ref: "main", subdir: "dir" }],
    ["https://github.com/moby/buildkit.git#:dir", { ref: "", subdir: "dir" }],
    ["https://github.com/moby/buildkit.git##ref=v1,subdir=a/b", { ref: "v1", subdir: "a/b" }],
    ["https://github.com/moby/buildkit.git##commit=abcdef", { ref: "abcdef", checksum: "abcdef" }],
    ["https://github.com/moby/buildkit.git##ref=main,keep-git-dir=true", {
      ref: "main",
      keepGitDir: true,
    }],
    ["HTTPS://example.com/foo.git", { scheme: "https" }],
  ];
  for (const [s, want] of cases) {
    const got = parseGitRef(s);
    assert.ok(got, s);
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual((got as unknown as Record<string, unknown>)[k], v, `${s}: ${k}`);
    }
  }
});

Deno.test("parseGitRef: a malformed ## fragment is an error naming the keys", () => {
  assert.throws(
    () => parseGitRef("https://h/r.git##ref=main,branch=x"),
    (e: Error) =>
      e instanceof ImgError && /use ref, subdir, commit, checksum or keep-git-dir/.test(e.message),
  );
  assert.throws(() => parseGitRef("https://h/r.git##main"), /must be a key=value pair/);
  assert.throws(() => parseGitRef("https://h/r.git?ref=main"), /use #REF:SUBDIR/);
  assert.equal(isGitURL("https://h/r.git##main"), true);
  assert.equal(isGitURL("https://h/r"), false);
});

Deno.test("isCommitSHA and redactURL", () => {
  assert.ok(isCommitSHA("a".repeat(40)));
  assert.ok(isCommitSHA("0".repeat(64)));
  assert.ok(!isCommitSHA("abc123"));
  assert.ok(!isCommitSHA("A".repeat(40)));
  assert.equal(redactURL("https://user:tok@h/r.git"), "https://user:xxxxx@h/r.git");
  assert.equal(redactURL("https://h/r.git"), "https://h/r.git");
  assert.equal(redactURL("git@h:r.git"), "git@h:r.git");
});
