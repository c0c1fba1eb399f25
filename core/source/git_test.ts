import assert from "node:assert/strict";
import { ImgError } from "../errors.ts";
import {
  gitCacheKey,
  GitClient,
  gitSourceName,
  gitSourceOp,
  type GitSourceSpec,
  gitSpecOf,
  isGitSourceOp,
} from "./git.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args],
    cwd,
    env: { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** A repository with a branch, a lightweight and an annotated tag, a symlink and a script. */
async function fixture(): Promise<{ dir: string; repo: string; first: string; second: string }> {
  const dir = await Deno.makeTempDir({ prefix: "img-git-test-" });
  const repo = `${dir}/repo`;
  await Deno.mkdir(`${repo}/sub/deep`, { recursive: true });
  await git(dir, "init", "-q", "-b", "main", repo);
  await Deno.writeTextFile(`${repo}/a.txt`, "one\n");
  await Deno.writeTextFile(`${repo}/sub/deep/f`, "deep\n");
  await Deno.writeTextFile(`${repo}/run.sh`, "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await Deno.symlink("a.txt", `${repo}/link`);
  await git(repo, "add", "-A");
  await git(repo, "commit", "-qm", "one", "--date=2001-02-03T04:05:06Z");
  await git(repo, "tag", "-a", "v1", "-m", "v1");
  await git(repo, "tag", "light");
  const first = await git(repo, "rev-parse", "HEAD");
  await Deno.writeTextFile(`${repo}/a.txt`, "two\n");
  await git(repo, "commit", "-qam", "two");
  const second = await git(repo, "rev-parse", "HEAD");
  return { dir, repo, first, second };
}

Deno.test("git source ops: BuildKit's identifier, and back", () => {
  const spec: GitSourceSpec = {
    remote: "https://user:tok@example.com/org/repo.git",
    ref: "v1",
    subdir: "docs",
    keepGitDir: true,
    checksum: "abc",
    mtime: "commit",
  };
  const op = gitSourceOp(spec);
  assert.equal(op.identifier, "git://user:tok@example.com/org/repo.git#v1:docs");
  assert.equal(op.attrs?.["git.fullurl"], spec.remote);
  assert.ok(isGitSourceOp(op));
  assert.deepEqual(gitSpecOf(op), spec);
  assert.equal(gitSourceName(spec), "https://user:xxxxx@example.com/org/repo.git#v1:docs");
  assert.throws(() => gitSourceOp({ ...spec, remote: "-oProxyCommand=x:y" }), ImgError);
});

Deno.test("git cache keys: the commit, the subdirectory and .git, not the remote", () => {
  const a: GitSourceSpec = {
    remote: "https://a/r.git",
    ref: "main",
    subdir: "",
    keepGitDir: false,
  };
  const c = "a".repeat(40);
  assert.equal(gitCacheKey(a, c), gitCacheKey({ ...a, remote: "git://mirror/r" }, c));
  assert.notEqual(gitCacheKey(a, c), gitCacheKey(a, "b".repeat(40)));
  assert.notEqual(gitCacheKey(a, c), gitCacheKey({ ...a, subdir: "x" }, c));
  assert.notEqual(gitCacheKey(a, c), gitCacheKey({ ...a, keepGitDir: true }, c));
  assert.equal(gitCacheKey({ ...a, subdir: "/x/" }, c), gitCacheKey({ ...a, subdir: "x" }, c));
  assert.notEqual(gitCacheKey(a, c), gitCacheKey({ ...a, mtime: "commit" }, c));
  assert.equal(gitCacheKey(a, c), gitCacheKey({ ...a, mtime: "checkout" }, c));
});

Deno.test("GitClient resolves branches, tags and commits, and checks --checksum", async () => {
  const f = await fixture();
  try {
    const client = new GitClient();
    const spec = (ref: string, checksum?: string): GitSourceSpec => ({
      remote: f.repo,
      ref,
      subdir: "",
      keepGitDir: false,
      ...(checksum ? { checksum } : {}),
    });
    assert.equal((await client.resolve(spec("main"))).commit, f.second);
    assert.equal((await client.resolve(spec(""))).refName, "refs/heads/main");
    const v1 = await client.resolve(spec("v1"));
    assert.equal(v1.commit, f.first, "an annotated tag resolves to its commit");
    assert.ok(v1.tag && v1.tag !== f.first);
    assert.equal((await client.resolve(spec("light"))).commit, f.first);
    assert.equal((await client.resolve(spec(f.first))).commit, f.first);
    assert.equal((await client.resolve(spec("v1", f.first.slice(0, 10)))).commit, f.first);
    // No ext:: remote helper: it would run a command on the host.
    await assert.rejects(
      () => client.resolve({ ...spec(""), remote: `ext::sh -c touch% ${f.dir}/pwned` }),
      /Failed to read the git repository/,
    );
    assert.equal(await Deno.lstat(`${f.dir}/pwned`).catch(() => undefined), undefined);
    await assert.rejects(
      () => client.resolve(spec("nope")),
      (e: Error) => e instanceof ImgError && /has no branch or tag "nope"/.test(e.message),
    );
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("GitClient checks out modes, symlinks, the checkout's or the commit's time; .git only if kept", async () => {
  const f = await fixture();
  try {
    const client = new GitClient();
    const spec: GitSourceSpec = { remote: f.repo, ref: "v1", subdir: "", keepGitDir: false };
    const started = Math.floor(Date.now() / 1000) * 1000;
    const checkout = `${f.dir}/checkout`;
    await Deno.mkdir(checkout);
    await client.checkout(spec, await client.resolve(spec), checkout);
    const mtime = (await Deno.lstat(`${checkout}/a.txt`)).mtime!.getTime();
    assert.ok(mtime >= started && mtime <= Date.now(), "by default, the checkout's time");
    const out = `${f.dir}/out`;
    await Deno.mkdir(out);
    const commitTime = { ...spec, mtime: "commit" as const };
    await client.checkout(commitTime, await client.resolve(commitTime), out);
    assert.equal(await Deno.readTextFile(`${out}/a.txt`), "one\n");
    assert.equal((await Deno.stat(`${out}/run.sh`)).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(`${out}/a.txt`)).mode! & 0o777, 0o644);
    assert.equal(await Deno.readLink(`${out}/link`), "a.txt");
    const time = Number(await git(f.repo, "log", "-1", "--format=%ct", f.first)) * 1000;
    assert.equal((await Deno.lstat(`${out}/sub/deep/f`)).mtime?.getTime(), time);
    assert.equal((await Deno.lstat(`${out}/link`)).mtime?.getTime(), time);
    await assert.rejects(() => Deno.lstat(`${out}/.git`), Deno.errors.NotFound);

    const sub = { ...spec, ref: "main", subdir: "sub" };
    await Deno.mkdir(`${f.dir}/sub`);
    await client.checkout(sub, await client.resolve(sub), `${f.dir}/sub`);
    assert.deepEqual([...Deno.readDirSync(`${f.dir}/sub`)].map((e) => e.name), ["deep"]);
    const missing = { ...spec, subdir: "nope" };
    await assert.rejects(
      () => client.checkout(missing, { commit: f.first }, `${f.dir}/sub`),
      /"nope" is not a directory/,
    );

    const kept = { ...spec, ref: "main", keepGitDir: true };
    await Deno.mkdir(`${f.dir}/kept`);
    await client.checkout(kept, await client.resolve(kept), `${f.dir}/kept`);
    assert.equal(await git(`${f.dir}/kept`, "rev-parse", "HEAD"), f.second);
    assert.equal(await git(`${f.dir}/kept`, "log", "-1", "--format=%s"), "two");
    assert.equal(await git(`${f.dir}/kept`, "status", "--porcelain"), "");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});
