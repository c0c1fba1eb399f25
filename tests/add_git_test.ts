/**
 * `ADD <git URL>` and a git URL as the build context, end to end as the unprivileged user,
 * against a real repository served on loopback twice: by `git daemon` (git://) and by smart
 * HTTP (`git http-backend`, git's own CGI program, behind a `Deno.serve` CGI bridge in
 * `_util/git_server.ts`).
 *
 * Expectations follow the current Dockerfile reference and BuildKit's git source: the
 * checkout's root is copied to the destination, `#ref` is a branch, tag or commit and
 * `:subdir` a directory, `.git` is kept only with `--keep-git-dir=true` (or, for a context,
 * `BUILDKIT_CONTEXT_KEEP_GIT_DIR=1`), `--checksum` is a commit the ref must resolve to, files
 * are owned by 0:0 unless `--chown`, modes and symlinks are the commit's, and the step's cache
 * key is the resolved commit; submodules are checked out too. mtimes are the checkout's, as
 * BuildKit's default; a git context built with SOURCE_DATE_EPOCH gets the commit's time on every
 * entry, as BuildKit's `git.mtime=commit` (moby/buildkit#6600).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import type { Header } from "tar-stream";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { img, removeTree, run } from "./_util/img.ts";
import { type GitServer, startGitDaemon, startGitHttp } from "./_util/git_server.ts";
import { readTar } from "./corpus/_corpus.ts";

interface Entry {
  header: Header;
  text: string;
}

async function tarEntries(file: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  await readTar(await Deno.readFile(file), (header, content) => {
    out.set(header.name.replace(/^\.?\//, "").replace(/\/$/, ""), {
      header,
      text: new TextDecoder().decode(content),
    });
  });
  return out;
}

function git(cwd: string, ...args: string[]): Promise<string> {
  return run(["git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args])
    .then((s) => s.trim());
}

async function setup() {
  const registry = await startRegistry();
  await pushBusybox(registry.host, "library/busybox", "latest");
  const tmp = await Deno.makeTempDir({ prefix: "img-add-git-" });
  // The served repository: a work tree named like a bare one, so the HTTP URL ends in .git.
  const repo = `${tmp}/srv/repo.git`;
  await Deno.mkdir(`${repo}/sub/deep`, { recursive: true });
  await Deno.mkdir(`${repo}/app`, { recursive: true });
  await git(tmp, "init", "-q", "-b", "main", repo);
  await Deno.writeTextFile(`${repo}/a.txt`, "one\n");
  await Deno.writeTextFile(`${repo}/sub/deep/f`, "deep\n");
  await Deno.writeTextFile(`${repo}/run.sh`, "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await Deno.symlink("a.txt", `${repo}/link`);
  await Deno.writeTextFile(`${repo}/app/Dockerfile`, "ARG BASE\nFROM ${BASE}\nCOPY . /ctx\n");
  await Deno.writeTextFile(`${repo}/app/hello.txt`, "hello from app\n");
  await Deno.writeTextFile(`${repo}/Dockerfile`, "ARG BASE\nFROM ${BASE}\nCOPY . /ctx\n");
  await git(repo, "add", "-A");
  await run([
    "git",
    "-C",
    repo,
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.com",
    "commit",
    "-qm",
    "one",
  ], {
    env: { GIT_COMMITTER_DATE: "2001-02-03T04:05:06Z", GIT_AUTHOR_DATE: "2001-02-03T04:05:06Z" },
  });
  await git(repo, "tag", "-a", "v1", "-m", "release 1");
  const first = await git(repo, "rev-parse", "HEAD");
  // The second commit adds a submodule, by a URL relative to the repository's.
  const lib = `${tmp}/srv/lib.git`;
  await git(tmp, "init", "-q", "-b", "main", lib);
  await Deno.writeTextFile(`${lib}/lib.txt`, "lib\n");
  await git(lib, "add", "-A");
  await git(lib, "commit", "-qm", "lib");
  await git(
    repo,
    "-c",
    "protocol.file.allow=always",
    "submodule",
    "add",
    "-q",
    "../lib.git",
    "lib",
  );
  await Deno.writeTextFile(`${repo}/a.txt`, "two\n");
  await git(repo, "commit", "-qam", "two");
  const second = await git(repo, "rev-parse", "HEAD");
  const daemon = await startGitDaemon(`${tmp}/srv`);
  const http = await startGitHttp(`${tmp}/srv`);
  return {
    base: `${registry.host}/library/busybox:latest`,
    tmp,
    repo,
    first,
    second,
    servers: [daemon, http] as GitServer[],
    async [Symbol.asyncDispose]() {
      await http[Symbol.asyncDispose]();
      await daemon[Symbol.asyncDispose]();
      await removeTree(tmp);
      await registry[Symbol.asyncDispose]();
    },
  };
}

async function writeDockerfile(dir: string, lines: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/Dockerfile`, lines.join("\n") + "\n");
}

/**
 * Whether plain progress output shows the step `name` running (not CACHED). The solver
 * stops at the first cached step, so a step under a cached one is not shown at all.
 */
function ran(stderr: string, name: RegExp): boolean {
  const m = stderr.match(new RegExp(`^#(\\d+) ${name.source}`, "m"));
  return m !== null && !new RegExp(`^#${m[1]} CACHED$`, "m").test(stderr);
}

Deno.test("ADD from git: a branch, a tag, a commit, #ref:subdir, --keep-git-dir, --chown/--chmod, --checksum, over git:// and smart HTTP", async () => {
  await using t = await setup();
  for (const server of t.servers) {
    const kind = server.url.split(":")[0];
    const url = `${server.url}/repo.git`;
    const ctx = `${t.tmp}/ctx-${kind}`;
    await writeDockerfile(ctx, [
      "ARG BASE",
      "FROM ${BASE}",
      "ARG REPO",
      "ADD ${REPO}#main /main/",
      "ADD ${REPO}#v1 /tag",
      `ADD \${REPO}#${t.first} /commit`,
      "ADD ${REPO}#main:sub /sub",
      "ADD --keep-git-dir=true ${REPO}#main /kept",
      "ADD --chown=1000:1000 --chmod=700 ${REPO}#v1:sub /owned",
      `ADD --checksum=${t.first} \${REPO}#v1 /checked`,
      "RUN cat /main/a.txt /tag/a.txt /commit/a.txt > /seen",
    ]);
    const out = `${t.tmp}/out-${kind}.tar`;
    const before = Math.floor(Date.now() / 1000);
    const r = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "--build-arg",
        `REPO=${url}`,
        "-o",
        `type=tar,dest=${out}`,
        ctx,
      ],
      { state: `${t.tmp}/state-${kind}` },
    );
    equal(r.code, 0, r.stderr);
    const after = Math.ceil(Date.now() / 1000);
    const tree = await tarEntries(out);
    const text = (p: string) => tree.get(p)?.text;
    equal(text("seen"), "two\none\none\n", kind);
    equal(text("main/a.txt"), "two\n");
    equal(text("tag/a.txt"), "one\n", "an annotated tag is its commit");
    equal(text("checked/a.txt"), "one\n");
    // Modes, owners and symlinks are the commit's; no .git unless asked.
    const main = (p: string) => tree.get(`main/${p}`)!.header;
    equal(main("run.sh").mode! & 0o7777, 0o755);
    equal(main("a.txt").mode! & 0o7777, 0o644);
    equal(main("link").type, "symlink");
    equal(main("link").linkname, "a.txt");
    deepEqual([main("a.txt").uid, main("a.txt").gid], [0, 0]);
    for (const p of ["a.txt", "sub/deep/f"]) {
      const mtime = main(p).mtime!.getTime() / 1000;
      ok(mtime >= before && mtime <= after, `${p}: the checkout's time, ${mtime}`);
    }
    ok(!tree.has("main/.git"), "no .git without --keep-git-dir");
    equal(text("main/lib/lib.txt"), "lib\n", "the submodule is checked out");
    ok(!tree.has("main/lib/.git"), "no .git in the submodule either");
    ok(!tree.has("tag/lib"), "v1 has no submodule");
    // #ref:subdir: the subdirectory's contents at the destination.
    deepEqual([...tree.keys()].filter((p) => p.startsWith("sub/")).sort(), [
      "sub/deep",
      "sub/deep/f",
    ]);
    const owned = tree.get("owned/deep/f")!.header;
    deepEqual([owned.uid, owned.gid, owned.mode! & 0o7777], [1000, 1000, 0o700]);
    // --keep-git-dir: a working .git (git log in the exported tree).
    ok(tree.has("kept/.git/HEAD"), "kept/.git");
    const unpacked = `${t.tmp}/kept-${kind}`;
    await Deno.mkdir(unpacked);
    await run(["tar", "-xf", out, "-C", unpacked, "kept"]);
    equal(await git(`${unpacked}/kept`, "log", "-1", "--format=%H %s"), `${t.second} two`);
    equal(await git(`${unpacked}/kept`, "status", "--porcelain"), "");
    equal(await git(`${unpacked}/kept/lib`, "log", "-1", "--format=%s"), "lib");
    equal(await git(`${unpacked}/kept`, "remote", "get-url", "origin"), url);
    if (kind === "http") {
      ok(server.requests.some((q) => q.startsWith("POST /repo.git/git-upload-pack")), "smart HTTP");
    }
  }
});

Deno.test("ADD from git: CACHED while the branch stays, re-run after a new commit", async () => {
  await using t = await setup();
  const ctx = `${t.tmp}/ctx`;
  const url = `${t.servers[1].url}/repo.git`;
  await writeDockerfile(ctx, [
    "ARG BASE",
    "FROM ${BASE}",
    `ADD ${url}#main /src`,
    "RUN cat /src/a.txt > /seen",
  ]);
  const build = async () => {
    const out = `${t.tmp}/out.tar`;
    const r = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "-o",
        `type=tar,dest=${out}`,
        ctx,
      ],
      { state: `${t.tmp}/state` },
    );
    equal(r.code, 0, r.stderr);
    return { stderr: r.stderr, seen: (await tarEntries(out)).get("seen")?.text };
  };
  const first = await build();
  ok(ran(first.stderr, /\[2\/3\] ADD /), first.stderr);
  equal(first.seen, "two\n");
  const again = await build();
  // The ref still resolves to the same commit: the ADD and what follows come from the cache.
  match(again.stderr, /^#\d+ \[3\/3\] RUN .*\n#\d+ CACHED$/m, again.stderr);
  ok(!ran(again.stderr, /\[2\/3\] ADD /), again.stderr);
  ok(!ran(again.stderr, /\[internal\] load git source /), "nothing was checked out again");
  await Deno.writeTextFile(`${t.repo}/a.txt`, "three\n");
  await git(t.repo, "commit", "-qam", "three");
  const moved = await build();
  ok(ran(moved.stderr, /\[2\/3\] ADD /), moved.stderr);
  ok(ran(moved.stderr, /\[3\/3\] RUN /), moved.stderr);
  equal(moved.seen, "three\n");

  // Into the image store (an output img may try without the user namespace when all is
  // cached): a new commit re-runs the ADD, the rebuild after it is all CACHED.
  await Deno.writeTextFile(`${t.repo}/a.txt`, "four\n");
  await git(t.repo, "commit", "-qam", "four");
  const store = ["build", "--progress=plain", "--build-arg", `BASE=${t.base}`, "-t", "gitapp", ctx];
  const stored = await img(store, { state: `${t.tmp}/state` });
  equal(stored.code, 0, stored.stderr);
  ok(ran(stored.stderr, /\[2\/3\] ADD /), stored.stderr);
  const restored = await img(store, { state: `${t.tmp}/state` });
  equal(restored.code, 0, restored.stderr);
  ok(!ran(restored.stderr, /\[2\/3\] ADD /), restored.stderr);
  const unpacked = `${t.tmp}/unpacked`;
  const u = await img(["unpack", "-o", unpacked, "gitapp"], { state: `${t.tmp}/state` });
  equal(u.code, 0, u.stderr);
  equal(await Deno.readTextFile(`${unpacked}/seen`), "four\n");
});

Deno.test("ADD from git: a missing ref, a wrong --checksum and COPY of a git URL fail in one line with the Dockerfile line", async () => {
  await using t = await setup();
  const url = `${t.servers[0].url}/repo.git`;
  const cases: [string, RegExp][] = [
    [`ADD ${url}#nope /src`, /Dockerfile:3: .*has no branch or tag "nope"/],
    [`ADD --checksum=${t.first} ${url}#main /src`, /Dockerfile:3: .*expected checksum to match/],
    [`COPY ${url}#main /src`, /Dockerfile:3: .*source can't be a git ref for COPY/],
    [`ADD ${url}#main:nope /src`, /Dockerfile:3: .*"nope" is not a directory/],
  ];
  for (const [line, expected] of cases) {
    const ctx = `${t.tmp}/ctx-${crypto.randomUUID()}`;
    await writeDockerfile(ctx, ["ARG BASE", "FROM ${BASE}", line]);
    const r = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "-o",
        `type=tar,dest=${ctx}.tar`,
        ctx,
      ],
      { state: `${t.tmp}/state` },
    );
    equal(r.code, 1, r.stderr);
    const last = r.stderr.trim().split("\n").at(-1)!;
    match(last, expected, r.stderr);
    match(last, /^img: /);
  }
});

Deno.test("a git URL as the build context: #ref:subdir, .git only with BUILDKIT_CONTEXT_KEEP_GIT_DIR, the commit's mtimes with SOURCE_DATE_EPOCH", async () => {
  await using t = await setup();
  // The first commit is dated in the past, so that a checkout's time cannot equal it.
  const firstTime = Number(await git(t.repo, "log", "-1", "--format=%ct", t.first));
  for (const server of t.servers) {
    const kind = server.url.split(":")[0];
    const out = `${t.tmp}/app-${kind}.tar`;
    const r = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "-o",
        `type=tar,dest=${out}`,
        `${server.url}/repo.git#v1:app`,
      ],
      { state: `${t.tmp}/state-${kind}` },
    );
    equal(r.code, 0, r.stderr);
    const tree = await tarEntries(out);
    equal(tree.get("ctx/hello.txt")?.text, "hello from app\n", kind);
    ok(tree.has("ctx/Dockerfile"));
    ok(!tree.has("ctx/a.txt"), "only the subdirectory is the context");
    const checkedOut = tree.get("ctx/hello.txt")!.header.mtime!.getTime() / 1000;
    ok(checkedOut > firstTime, "without SOURCE_DATE_EPOCH, the checkout's time");
    ok(![...tree.keys()].some((p) => p.startsWith("ctx/.git")), "no .git by default");
    deepEqual([tree.get("ctx/hello.txt")!.header.uid, tree.get("ctx/hello.txt")!.header.gid], [
      0,
      0,
    ]);

    const kept = `${t.tmp}/kept-${kind}.tar`;
    const k = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "--build-arg",
        "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1",
        "-o",
        `type=tar,dest=${kept}`,
        `${server.url}/repo.git#main`,
      ],
      { state: `${t.tmp}/state-${kind}` },
    );
    equal(k.code, 0, k.stderr);
    ok(
      !/not consumed/.test(k.stderr),
      "BUILDKIT_CONTEXT_KEEP_GIT_DIR is the context's, not unused",
    );
    const keptTree = await tarEntries(kept);
    equal(keptTree.get("ctx/a.txt")?.text, "two\n");
    ok(keptTree.has("ctx/.git/HEAD"), "the context kept .git");
    const dir = `${t.tmp}/ctx-kept-${kind}`;
    await Deno.mkdir(dir);
    await run(["tar", "-xf", kept, "-C", dir, "ctx"]);
    equal(await git(`${dir}/ctx`, "log", "-1", "--format=%H"), t.second);

    const epoch = `${t.tmp}/epoch-${kind}.tar`;
    const e = await img(
      [
        "build",
        "--progress=plain",
        "--build-arg",
        `BASE=${t.base}`,
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "-o",
        `type=tar,dest=${epoch}`,
        `${server.url}/repo.git#v1:app`,
      ],
      // A state of its own: the context's checksum (what COPY is keyed by) leaves mtimes out,
      // so the first build's COPY would be reused.
      { state: `${t.tmp}/state-epoch-${kind}` },
    );
    equal(e.code, 0, e.stderr);
    const epochTree = await tarEntries(epoch);
    for (const p of ["ctx/hello.txt", "ctx/Dockerfile"]) {
      equal(epochTree.get(p)!.header.mtime!.getTime() / 1000, firstTime, `${p}: the commit's time`);
    }
  }
});

Deno.test("ADD from git@host:path goes through ssh: $GIT_SSH_COMMAND, with the build's --ssh agent", async () => {
  await using t = await setup();
  // No sshd here: a stand-in for ssh that runs the command git asks the remote for
  // (git-upload-pack) in the served directory, and records the host and the agent it saw.
  const log = `${t.tmp}/ssh.log`;
  const fake = `${t.tmp}/fake-ssh`;
  await Deno.writeTextFile(
    fake,
    [
      "#!/bin/sh",
      "for last; do :; done",
      `for a; do case "$a" in *@*) echo "host=$a" >> ${log};; esac; done`,
      `if [ -S "$SSH_AUTH_SOCK" ]; then echo agent=yes; else echo agent=no; fi >> ${log}`,
      `cd ${t.tmp}/srv && exec sh -c "$last"`,
    ].join("\n") + "\n",
    { mode: 0o755 },
  );
  const agentDir = await Deno.makeTempDir({ dir: t.tmp });
  const sock = `${agentDir}/agent.sock`;
  const agent = new Deno.Command("ssh-agent", {
    args: ["-D", "-a", sock],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (
      let i = 0;
      i < 200 && !(await Deno.lstat(sock).then((s) => s.isSocket, () => false));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const ctx = `${t.tmp}/ctx`;
    await writeDockerfile(ctx, [
      "ARG BASE",
      "FROM ${BASE}",
      "ADD git@fake.invalid:repo.git#v1 /src",
    ]);
    const out = `${t.tmp}/out.tar`;
    const r = await img(
      [
        "build",
        "--progress=plain",
        "--ssh",
        `default=${sock}`,
        "--build-arg",
        `BASE=${t.base}`,
        "-o",
        `type=tar,dest=${out}`,
        ctx,
      ],
      { state: `${t.tmp}/state`, env: { GIT_SSH_COMMAND: fake } },
    );
    equal(r.code, 0, r.stderr);
    equal((await tarEntries(out)).get("src/a.txt")?.text, "one\n");
    const seen = await Deno.readTextFile(log);
    match(seen, /^host=git@fake\.invalid$/m);
    ok(!/agent=no/.test(seen) && /agent=yes/.test(seen), `ssh saw the --ssh agent: ${seen}`);
  } finally {
    agent.kill("SIGTERM");
    await agent.status;
  }
});

Deno.test("ADD from a private https repository: the GIT_AUTH_TOKEN secret, as BuildKit takes it", async () => {
  await using t = await setup();
  const token = `tok-${crypto.randomUUID()}`;
  await using server = await startGitHttp(`${t.tmp}/srv`, { token });
  const ctx = `${t.tmp}/ctx`;
  await writeDockerfile(ctx, ["ARG BASE", "FROM ${BASE}", `ADD ${server.url}/repo.git#v1 /src`]);
  const build = (extra: string[]) =>
    img(
      [
        "build",
        "--progress=plain",
        ...extra,
        "--build-arg",
        `BASE=${t.base}`,
        "-o",
        `type=tar,dest=${ctx}.tar`,
        ctx,
      ],
      { state: `${t.tmp}/state`, env: { TOK: token } },
    );
  const refused = await build([]);
  equal(refused.code, 1, refused.stderr);
  match(
    refused.stderr.trim().split("\n").at(-1)!,
    /^img: Dockerfile:3: Failed to read the git repository/,
  );
  const r = await build(["--secret", "id=GIT_AUTH_TOKEN,env=TOK"]);
  equal(r.code, 0, r.stderr);
  equal((await tarEntries(`${ctx}.tar`)).get("src/a.txt")?.text, "one\n");
  ok(!r.stderr.includes(token), "the token is not in the output");
});
