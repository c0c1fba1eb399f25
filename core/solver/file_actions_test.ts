import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { FileAction } from "../build_graph.ts";
import { ImgError } from "../errors.ts";
import { applyFileActions, type FileActionContext, SourceNotFoundError } from "./file_actions.ts";
import { type Owners, ownerScenarios } from "./_owner_fixture.ts";
import { lstatOrUndefined } from "../layer/_path.ts";
import * as exact from "../fs/exact.ts";
import { decodeName } from "../fs/raw_name.ts";

/** One entry of a tree, as a user would check it. */
type Entry =
  | { type: "dir"; mode: number }
  | { type: "file"; mode: number; content: string }
  | { type: "symlink"; target: string };

/** The tree below `dir`: path -> type, permission bits, content or link target. */
function tree(dir: string, rel = ""): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    const host = `${dir}/${e.name}`;
    const info = Deno.lstatSync(host);
    if (info.isSymlink) out[path] = { type: "symlink", target: Deno.readLinkSync(host) };
    else if (info.isDirectory) {
      out[path] = { type: "dir", mode: info.mode! & 0o7777 };
      Object.assign(out, tree(host, path));
    } else {
      out[path] = { type: "file", mode: info.mode! & 0o7777, content: Deno.readTextFileSync(host) };
    }
  }
  return out;
}

const file = (content: string, mode = 0o644): Entry => ({ type: "file", mode, content });
const dir = (mode = 0o755): Entry => ({ type: "dir", mode });

const scratch: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of scratch) {
    try {
      new Deno.Command("chmod", { args: ["-R", "u+w", dir], stderr: "null" }).outputSync();
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  }
});

/** A build context: a.txt, b.txt, README.md, dir/{x.txt, notes.md, sub/y.txt}, link.txt. */
async function setup(): Promise<{ base: string; ctx: string; dest: string }> {
  const base = await Deno.makeTempDir({ prefix: "img-file-actions-" });
  scratch.push(base);
  const ctx = `${base}/ctx`, dest = `${base}/dest`;
  Deno.mkdirSync(`${ctx}/dir/sub`, { recursive: true });
  Deno.mkdirSync(dest);
  const write = (p: string, s: string, mode = 0o644) => {
    Deno.writeTextFileSync(`${ctx}/${p}`, s);
    Deno.chmodSync(`${ctx}/${p}`, mode);
  };
  write("a.txt", "A");
  write("b.txt", "B");
  write("README.md", "readme");
  write("dir/x.txt", "X", 0o600);
  write("dir/notes.md", "notes");
  write("dir/sub/y.txt", "Y", 0o755);
  Deno.chmodSync(`${ctx}/dir/sub`, 0o700);
  Deno.symlinkSync("a.txt", `${ctx}/link.txt`);
  return { base, ctx, dest };
}

async function run(
  actions: FileAction[],
  t: { ctx: string; dest: string },
  more: Partial<FileActionContext> = {},
): Promise<Record<string, Entry>> {
  await applyFileActions(actions, {
    dest: t.dest,
    inputs: [t.ctx],
    sameOwner: Deno.uid() === 0,
    ...more,
  });
  return tree(t.dest);
}

const COPY = { followSymlinks: true, allowWildcard: true, createDestPath: true };

function cp(src: string | string[], dest: string, extra: Partial<FileAction> = {}): FileAction {
  return {
    action: "copy",
    input: 0,
    src: Array.isArray(src) ? src : [src],
    dest,
    options: COPY,
    ...extra,
  } as FileAction;
}

Deno.test("copy: a file to a destination ending in / goes into that directory", async () => {
  const t = await setup();
  assert.deepEqual(await run([cp("a.txt", "/app/")], t), {
    "app": dir(),
    "app/a.txt": file("A"),
  });
});

Deno.test("copy: a file to a path without / is renamed, its parents created 0755", async () => {
  const t = await setup();
  assert.deepEqual(await run([cp("a.txt", "/opt/app/renamed.txt")], t), {
    "opt": dir(),
    "opt/app": dir(),
    "opt/app/renamed.txt": file("A"),
  });
});

Deno.test("copy: a file to an existing directory without / goes into it", async () => {
  const t = await setup();
  Deno.mkdirSync(`${t.dest}/app`);
  Deno.chmodSync(`${t.dest}/app`, 0o711);
  assert.deepEqual(await run([cp("a.txt", "/app")], t), {
    "app": dir(0o711),
    "app/a.txt": file("A"),
  });
});

Deno.test("copy: a directory copies its contents, keeping nested modes and times", async () => {
  const t = await setup();
  const when = new Date("2020-01-02T03:04:05Z");
  Deno.utimeSync(`${t.ctx}/dir/x.txt`, when, when);
  Deno.utimeSync(`${t.ctx}/dir/sub`, when, when);
  assert.deepEqual(await run([cp("dir", "/app")], t), {
    "app": dir(),
    "app/notes.md": file("notes"),
    "app/sub": dir(0o700),
    "app/sub/y.txt": file("Y", 0o755),
    "app/x.txt": file("X", 0o600),
  });
  assert.equal(Deno.statSync(`${t.dest}/app/x.txt`).mtime?.getTime(), when.getTime());
  assert.equal(Deno.statSync(`${t.dest}/app/sub`).mtime?.getTime(), when.getTime());
});

Deno.test("copy: dir/. and . copy contents; several sources make the destination a directory", async () => {
  const t = await setup();
  const out = await run([
    cp("dir/.", "/one"),
    cp(["a.txt", "b.txt"], "/several"),
    cp(".", "/all/"),
  ], t);
  assert.deepEqual(out["one/x.txt"], file("X", 0o600));
  assert.equal(out["one/dir"], undefined);
  assert.deepEqual(out["several/a.txt"], file("A"));
  assert.deepEqual(out["several/b.txt"], file("B"));
  assert.deepEqual(out["all/dir/sub/y.txt"], file("Y", 0o755));
  assert.deepEqual(out["all/link.txt"], { type: "symlink", target: "a.txt" });
});

Deno.test("copy: wildcards match per component; a matched directory copies its contents", async () => {
  const t = await setup();
  const out = await run([cp("*.txt", "/txt/"), cp("dir/*", "/d/"), cp("[ab].txt", "/one/")], t);
  assert.deepEqual(
    Object.keys(out).filter((p) => p.startsWith("txt/")),
    ["txt/a.txt", "txt/b.txt", "txt/link.txt"],
  );
  // link.txt is a symlink named by the wildcard: followed, so a regular file.
  assert.deepEqual(out["txt/link.txt"], file("A"));
  // dir/* matched dir/sub: its contents land in /d/, as in Docker.
  assert.deepEqual(Object.keys(out).filter((p) => p.startsWith("d/")), [
    "d/notes.md",
    "d/x.txt",
    "d/y.txt",
  ]);
  assert.deepEqual(out["one/a.txt"], file("A"));
  assert.deepEqual(out["one/b.txt"], file("B"));
});

Deno.test("copy: a wildcard with one match to a path without / renames it, as BuildKit", async () => {
  const t = await setup();
  const out = await run([cp("READ*", "/readme")], t);
  assert.deepEqual(out["readme"], file("readme"));
});

Deno.test("copy: a missing source is a not-found error naming it", async () => {
  const t = await setup();
  await assert.rejects(
    () => run([cp("missing.txt", "/x")], t),
    (e) => e instanceof SourceNotFoundError && e.message === `"missing.txt": not found`,
  );
  await assert.rejects(() => run([cp("nodir/*", "/x/")], t), SourceNotFoundError);
  await assert.rejects(
    () => run([cp("*.nope", "/x/")], t),
    (e) => e instanceof SourceNotFoundError && /no source files were specified/.test(e.message),
  );
  // The Dockerfile frontend lets an empty wildcard copy nothing, as BuildKit does.
  const out = await run([
    cp("*.nope", "/x/", { options: { ...COPY, allowEmptyWildcard: true } } as Partial<FileAction>),
  ], t);
  assert.deepEqual(out, {});
  // An empty input (scratch) has nothing.
  await assert.rejects(
    () =>
      applyFileActions([cp("a.txt", "/")], { dest: t.dest, inputs: [undefined], sameOwner: false }),
    SourceNotFoundError,
  );
});

Deno.test("copy: symlinks below a source stay symlinks; the named one is followed only when asked", async () => {
  const t = await setup();
  Deno.symlinkSync("../a.txt", `${t.ctx}/dir/up`);
  const out = await run([
    cp("dir", "/d"),
    cp("link.txt", "/followed.txt"),
    {
      action: "copy",
      input: 0,
      src: ["link.txt"],
      dest: "/kept.txt",
      options: { createDestPath: true },
    },
  ], t);
  assert.deepEqual(out["d/up"], { type: "symlink", target: "../a.txt" });
  assert.deepEqual(out["followed.txt"], file("A"));
  assert.deepEqual(out["kept.txt"], { type: "symlink", target: "a.txt" });
});

Deno.test("copy: hard links within one source stay hard links", async () => {
  const t = await setup();
  Deno.linkSync(`${t.ctx}/dir/x.txt`, `${t.ctx}/dir/x-link.txt`);
  await run([cp("dir", "/d")], t);
  const a = Deno.lstatSync(`${t.dest}/d/x.txt`), b = Deno.lstatSync(`${t.dest}/d/x-link.txt`);
  assert.equal(a.ino, b.ino);
  assert.equal(a.nlink, 2);
});

Deno.test("copy: --chmod applies to copied files and directories, octal or symbolic", async () => {
  const t = await setup();
  const out = await run([
    cp("dir", "/oct", { chmod: "0755" }),
    cp("a.txt", "/sym.txt", { chmod: "u+x,go-r" }),
    cp("dir", "/X", { chmod: "a=rX" }),
  ], t);
  assert.deepEqual(out["oct"], dir()); // created by mkdir -p, not copied
  assert.deepEqual(out["oct/x.txt"], file("X", 0o755));
  assert.deepEqual(out["oct/sub"], dir(0o755));
  assert.deepEqual(out["sym.txt"], file("A", 0o700));
  assert.deepEqual(out["X/x.txt"], file("X", 0o444));
  assert.deepEqual(out["X/sub/y.txt"], file("Y", 0o555));
  assert.deepEqual(out["X/sub"], dir(0o555));
  await assert.rejects(
    () => run([cp("a.txt", "/bad", { chmod: "99999" })], t),
    (e) => e instanceof ImgError && /invalid chmod parameter/.test(e.message),
  );
});

Deno.test("copy: --exclude leaves out matching paths below each source, with ! exceptions", async () => {
  const t = await setup();
  Deno.writeTextFileSync(`${t.ctx}/dir/sub/keep.md`, "keep");
  const ex = (patterns: string[]) =>
    ({ options: { ...COPY, exclude: patterns } }) as Partial<FileAction>;
  const out = await run([
    cp(".", "/top/", ex(["*.md"])),
    cp(".", "/all/", ex(["**/*.md", "!dir/sub/keep.md"])),
    cp(".", "/nodir/", ex(["dir"])),
    cp(".", "/back/", ex(["dir", "!dir/sub/y.txt"])),
  ], t);
  const keys = (prefix: string) => Object.keys(out).filter((p) => p.startsWith(prefix));
  assert.equal(out["top/README.md"], undefined);
  assert.deepEqual(out["top/dir/notes.md"], file("notes")); // *.md is for the top level only
  assert.deepEqual(keys("all/").filter((p) => p.endsWith(".md")), ["all/dir/sub/keep.md"]);
  assert.deepEqual(keys("nodir/dir"), []);
  assert.deepEqual(keys("back/dir"), ["back/dir", "back/dir/sub", "back/dir/sub/y.txt"]);
  assert.deepEqual(out["back/dir/sub"], dir(0o700));
});

Deno.test("copy: an input's ignore patterns hide its paths", async () => {
  const t = await setup();
  const out = await run([cp(".", "/c/")], t, { inputIgnores: [["*.md", "dir/sub"]] });
  assert.equal(out["c/README.md"], undefined);
  assert.equal(out["c/dir/sub"], undefined);
  assert.deepEqual(out["c/dir/notes.md"], file("notes"));
  await assert.rejects(
    () => run([cp("README.md", "/r")], t, { inputIgnores: [["*.md"]] }),
    SourceNotFoundError,
  );
});

Deno.test("copy: a symlink of the destination is followed inside it, never to the host", async () => {
  const t = await setup();
  const host = await Deno.makeTempDir({ prefix: "img-host-etc-" });
  scratch.push(host);
  Deno.symlinkSync(host, `${t.dest}/etc`); // absolute: means <dest><host> inside the image
  Deno.symlinkSync("../../../../../..", `${t.dest}/up`);
  const out = await run([cp("a.txt", "/etc/a.txt"), cp("dir", "/etc/d/")], t);
  assert.deepEqual([...Deno.readDirSync(host)], []);
  assert.deepEqual(out[`${host.slice(1)}/a.txt`], file("A"));
  assert.deepEqual(out[`${host.slice(1)}/d/x.txt`], file("X", 0o600));
  const evil = `img-evil-${crypto.randomUUID()}`;
  await assert.rejects(() => run([cp("a.txt", `/up/${evil}`)], t), ImgError);
  assert.equal(lstatOrUndefined(`/${evil}`), undefined);
});

Deno.test("copy: input -1 copies within the destination itself", async () => {
  const t = await setup();
  Deno.writeTextFileSync(`${t.dest}/orig`, "O");
  const out = await run([{
    action: "copy",
    input: -1,
    src: ["orig"],
    dest: "/copy",
    options: COPY,
  }], t);
  assert.deepEqual(out["copy"], file("O"));
});

Deno.test("copy: replacing a directory with a file is an error", async () => {
  const t = await setup();
  Deno.mkdirSync(`${t.dest}/app/a.txt`, { recursive: true });
  Deno.writeTextFileSync(`${t.dest}/app/a.txt/inner`, "");
  await assert.rejects(
    () => run([cp("a.txt", "/app/")], t),
    (e) => e instanceof ImgError && /Cannot replace the directory/.test(e.message),
  );
});

function tarCommand(args: string[], cwd: string): void {
  const out = new Deno.Command("tar", { args, cwd, stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("add: a local tar (gzip or plain, whatever its name) is extracted, whiteouts kept as files", async () => {
  const t = await setup();
  const src = `${t.base}/archive-src`;
  Deno.mkdirSync(`${src}/pkg/bin`, { recursive: true });
  Deno.writeTextFileSync(`${src}/pkg/bin/tool`, "#!/bin/sh\n");
  Deno.chmodSync(`${src}/pkg/bin/tool`, 0o755);
  Deno.writeTextFileSync(`${src}/pkg/.wh.gone`, "not a whiteout here");
  Deno.symlinkSync("bin/tool", `${src}/pkg/tool`);
  tarCommand(["-czf", `${t.ctx}/release.bin`, "pkg"], src);
  tarCommand(["-cf", `${t.ctx}/plain.tar`, "pkg"], src);
  const gz = createHash("sha256"); // a gzip of something that is not a tar: copied as is
  const notTar = new Deno.Command("gzip", { args: ["-c"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = notTar.stdin.getWriter();
  await w.write(new TextEncoder().encode("just text\n"));
  await w.close();
  const notTarBytes = (await notTar.output()).stdout;
  Deno.writeFileSync(`${t.ctx}/text.gz`, notTarBytes);
  gz.update(notTarBytes);

  const add = (src: string, dest: string): FileAction => ({
    action: "copy",
    input: 0,
    src: [src],
    dest,
    options: { ...COPY, unpack: true },
  });
  const out = await run([
    add("release.bin", "/opt"),
    add("plain.tar", "/plain/"),
    add("text.gz", "/text.gz"),
    add("a.txt", "/a.txt"),
  ], t);
  assert.deepEqual(out["opt/pkg/bin/tool"], file("#!/bin/sh\n", 0o755));
  assert.deepEqual(out["opt/pkg/.wh.gone"], file("not a whiteout here"));
  assert.deepEqual(out["opt/pkg/tool"], { type: "symlink", target: "bin/tool" });
  assert.deepEqual(out["plain/pkg/bin/tool"], file("#!/bin/sh\n", 0o755));
  assert.equal(
    createHash("sha256").update(Deno.readFileSync(`${t.dest}/text.gz`)).digest("hex"),
    gz.digest("hex"),
  );
  assert.deepEqual(out["a.txt"], file("A"));
});

Deno.test("add: bzip2 and xz archives are extracted too", async () => {
  const t = await setup();
  const src = `${t.base}/archive-src`;
  Deno.mkdirSync(src);
  Deno.writeTextFileSync(`${src}/f`, "F");
  tarCommand(["-cjf", `${t.ctx}/a.tbz`, "f"], src);
  tarCommand(["-cJf", `${t.ctx}/a.txz`, "f"], src);
  const add = (s: string, d: string): FileAction => ({
    action: "copy",
    input: 0,
    src: [s],
    dest: d,
    options: { ...COPY, unpack: true },
  });
  const out = await run([add("a.tbz", "/bz"), add("a.txz", "/xz")], t);
  assert.deepEqual(out["bz/f"], file("F"));
  assert.deepEqual(out["xz/f"], file("F"));
});

Deno.test("add: archive entries cannot climb out of the destination", async () => {
  const t = await setup();
  // A tar whose symlink points out, then a file written through it.
  const src = `${t.base}/evil`;
  Deno.mkdirSync(src);
  Deno.symlinkSync("../../../../../../../tmp", `${src}/esc`);
  tarCommand(["-cf", `${t.ctx}/evil.tar`, "esc"], src);
  Deno.removeSync(`${src}/esc`);
  Deno.mkdirSync(`${src}/esc`);
  Deno.writeTextFileSync(`${src}/esc/pwned`, "x");
  tarCommand(["-rf", `${t.ctx}/evil.tar`, "esc/pwned"], src);
  await assert.rejects(
    () =>
      run([{
        action: "copy",
        input: 0,
        src: ["evil.tar"],
        dest: "/x",
        options: { ...COPY, unpack: true },
      }], t),
    (e) => e instanceof ImgError && /outside the destination/.test(e.message),
  );
  assert.equal(lstatOrUndefined("/tmp/pwned"), undefined);
});

Deno.test("mkdir, mkfile and rm", async () => {
  const t = await setup();
  Deno.writeTextFileSync(`${t.dest}/existing`, "old");
  Deno.chmodSync(`${t.dest}/existing`, 0o640);
  const out = await run([
    { action: "mkdir", path: "/w/a/b", mode: 0o755, parents: true },
    { action: "mkdir", path: "/w/a/b", mode: 0o700 }, // exists: nothing
    { action: "mkdir", path: "/single", mode: 0o711 },
    { action: "mkfile", path: "/w/hello.sh", mode: 0o755, data: "echo hi\n" },
    { action: "mkfile", path: "/existing", mode: 0o600, data: "new" }, // keeps its mode
    { action: "mkdir", path: "/gone/deep", mode: 0o755, parents: true },
    { action: "mkfile", path: "/gone/x.log", mode: 0o644, data: "" },
    { action: "mkfile", path: "/gone/y.log", mode: 0o644, data: "" },
    { action: "rm", path: "/gone/*.log", allowWildcard: true },
    { action: "rm", path: "/gone/deep" },
    { action: "rm", path: "/not-there", allowNotFound: true },
  ], t);
  assert.deepEqual(out, {
    "existing": file("new", 0o640),
    "gone": dir(),
    "single": dir(0o711),
    "w": dir(),
    "w/a": dir(),
    "w/a/b": dir(),
    "w/hello.sh": file("echo hi\n", 0o755),
  });
  await assert.rejects(
    () => run([{ action: "rm", path: "/not-there" }], t),
    (e) => e instanceof ImgError && /does not exist/.test(e.message),
  );
  await assert.rejects(
    () => run([{ action: "mkdir", path: "/no/parent", mode: 0o755 }], t),
    (e) => e instanceof ImgError && /parent does not exist/.test(e.message),
  );
  await assert.rejects(
    () => run([{ action: "mkdir", path: "/existing/sub", mode: 0o755, parents: true }], t),
    (e) => e instanceof ImgError && /not a directory/.test(e.message),
  );
});

const EXPECTED_OWNERS: Owners = {
  "named": [1001, 50, 0o755],
  "named/a.txt": [1001, 50, 0o644],
  "user": [1001, 1002, 0o755],
  "user/b.txt": [1001, 1002, 0o644],
  "num": [1000, 1000, 0o755],
  "num/deep": [1000, 1000, 0o755],
  "num/deep/a.txt": [1000, 1000, 0o644],
  "numpair": [1000, 2000, 0o644],
  "plain": [0, 0, 0o644],
  "stage.txt": [1500, 1600, 0o4755],
  "made": [1001, 1002, 0o750],
  "made/sub": [1001, 1002, 0o750],
  "made/f": [7, 8, 0o600],
};

/** Runs the owner scenarios as root of a user namespace, as the unprivileged user `user`. */
async function ownersInUserNamespace(asUser?: string): Promise<Owners> {
  const base = await Deno.makeTempDir({ prefix: "img-owners-" });
  if (asUser) {
    new Deno.Command("chown", { args: [asUser, base] }).outputSync();
    scratch.push(base); // root removes it
  }
  const fixture = new URL("./_owner_fixture.ts", import.meta.url).pathname;
  const inNamespace = (args: string[]) => {
    const unshare = ["unshare", "--user", "--map-auto", "--map-root-user", "--", ...args];
    return asUser
      ? new Deno.Command("runuser", { args: ["-u", asUser, "--", ...unshare] })
      : new Deno.Command(unshare[0], { args: unshare.slice(1) });
  };
  const out = await inNamespace([Deno.execPath(), "run", "-A", "--quiet", fixture, base]).output();
  // Files owned by subordinate ids: only root of a namespace can remove them.
  if (!asUser) await inNamespace(["rm", "-rf", base]).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `owner scenarios in a user namespace failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("copy, mkdir, mkfile: --chown by name and number, owners kept or reset to root", async () => {
  if (Deno.uid() === 0) {
    const base = await Deno.makeTempDir({ prefix: "img-owners-" });
    scratch.push(base);
    assert.deepEqual(await ownerScenarios(base), EXPECTED_OWNERS);
  } else {
    assert.deepEqual(await ownersInUserNamespace(), EXPECTED_OWNERS);
  }
});

Deno.test({
  name: "copy: owners as an unprivileged user inside a user namespace (imgtest)",
  ignore: Deno.uid() !== 0 ||
    !Deno.readTextFileSync("/etc/subuid").split("\n").some((l) => l.startsWith("imgtest:")),
  async fn() {
    assert.deepEqual(await ownersInUserNamespace("imgtest"), EXPECTED_OWNERS);
  },
});

Deno.test("copy: --parents keeps each match's path, below a ./ pivot when there is one", async () => {
  const t = await setup();
  const parents = { options: { ...COPY, parents: true } } as Partial<FileAction>;
  const out = await run([
    cp(["dir/sub/y.txt", "a.txt"], "/p/", parents),
    cp("./dir/*/y.txt", "/w/", parents),
    cp("dir/./sub/y.txt", "/pivot/", parents),
    cp("./dir/sub", "/d/", parents),
  ], t);
  const keys = (prefix: string) => Object.keys(out).filter((p) => p.startsWith(prefix)).sort();
  assert.deepEqual(keys("p/"), ["p/a.txt", "p/dir", "p/dir/sub", "p/dir/sub/y.txt"]);
  assert.deepEqual(keys("w/"), ["w/dir", "w/dir/sub", "w/dir/sub/y.txt"]);
  assert.deepEqual(keys("pivot/"), ["pivot/sub", "pivot/sub/y.txt"]);
  assert.deepEqual(keys("d/"), ["d/dir", "d/dir/sub", "d/dir/sub/y.txt"]);
  assert.deepEqual(out["d/dir/sub/y.txt"], file("Y", 0o755));
});

Deno.test("copy: names that are not UTF-8 are copied byte-exact; mkfile through one is refused", async () => {
  const t = await setup();
  const bad = decodeName(new Uint8Array([0x62, 0xff, 0xfe]));
  exact.mkdir(`${t.ctx}/raw`, 0o755);
  exact.mkdir(`${t.ctx}/raw/${bad}`, 0o750);
  const f = exact.createFile(`${t.ctx}/raw/${bad}/f`, 0o640);
  f.writeSync(new TextEncoder().encode("bytes"));
  f.close();
  exact.link(`${t.ctx}/raw/${bad}/f`, `${t.ctx}/raw/hard`);
  exact.symlink(`${bad}/f`, `${t.ctx}/raw/sym`);
  // An archive whose own name is not UTF-8, compressed with bzip2 (decompressed by a command).
  const src = `${t.base}/archive-src`;
  Deno.mkdirSync(`${src}/pkg`, { recursive: true });
  Deno.writeTextFileSync(`${src}/pkg/in.txt`, "in");
  tarCommand(["-cjf", `${t.base}/a.tbz`, "pkg"], src);
  await exact.copyFile(`${t.base}/a.tbz`, `${t.ctx}/${bad}.tbz`);

  // (Not `run`: its listing goes through Deno, which cannot reach these names.)
  const apply = (actions: FileAction[]) =>
    applyFileActions(actions, { dest: t.dest, inputs: [t.ctx], sameOwner: Deno.uid() === 0 });
  await apply([
    cp("raw", "/copied"),
    cp("b*.tbz", "/unpacked/", { options: { ...COPY, unpack: true } } as Partial<FileAction>),
  ]);
  const dest = `${t.dest}/copied`;
  assert.deepEqual(exact.readDir(dest).map((e) => e.name).sort(), [bad, "hard", "sym"].sort());
  assert.equal(exact.lstat(`${dest}/${bad}`).mode! & 0o7777, 0o750);
  assert.equal(new TextDecoder().decode(await exact.readFile(`${dest}/${bad}/f`)), "bytes");
  assert.equal(exact.lstat(`${dest}/${bad}/f`).ino, exact.lstat(`${dest}/hard`).ino);
  assert.equal(exact.readLink(`${dest}/sym`), `${bad}/f`);
  assert.equal(Deno.readTextFileSync(`${t.dest}/unpacked/pkg/in.txt`), "in");

  exact.symlink(`/copied/${bad}/new`, `${t.dest}/via`);
  await assert.rejects(
    () => run([{ action: "mkfile", path: "/via", data: "x", mode: 0o644 } as FileAction], t),
    (e: Error) =>
      e instanceof ImgError &&
      e.message ===
        'Cannot write the file "/via": it leads to "/copied/b\\xff\\xfe/new", whose name is not UTF-8; write it with RUN instead',
  );
});
