import assert from "node:assert/strict";
import {
  type ChecksumOptions,
  checksumPath,
  checksumSources,
  SourceNotFoundError,
} from "./checksum.ts";
import * as exact from "../fs/exact.ts";
import { decodeName } from "../fs/raw_name.ts";
import { StateDB } from "../state/db.ts";
import { ContextHashCache } from "./hash_cache.ts";

const scratch: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of scratch) Deno.removeSync(dir, { recursive: true });
});

async function context(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "img-checksum-" });
  scratch.push(dir);
  Deno.mkdirSync(`${dir}/src/lib`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/src/main.ts`, "main");
  Deno.writeTextFileSync(`${dir}/src/lib/util.ts`, "util");
  Deno.writeTextFileSync(`${dir}/src/README.md`, "docs");
  Deno.writeTextFileSync(`${dir}/package.json`, "{}");
  Deno.writeTextFileSync(`${dir}/unrelated.txt`, "x");
  Deno.symlinkSync("package.json", `${dir}/pkg-link`);
  return dir;
}

const OPTS: ChecksumOptions = { allowWildcard: true, followSymlinks: true };

Deno.test("checksum: stable across time changes, changed by content and mode", async () => {
  const dir = await context();
  const sum = () => checksumSources(dir, ["src", "package.json"], OPTS);
  const first = await sum();
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await sum(), first);
  const later = new Date(Date.now() + 3_600_000);
  Deno.utimeSync(`${dir}/src/lib/util.ts`, later, later);
  Deno.utimeSync(`${dir}/src`, later, later);
  assert.equal(await sum(), first, "times are not covered");

  Deno.writeTextFileSync(`${dir}/src/lib/util.ts`, "UTIL");
  const changed = await sum();
  assert.notEqual(changed, first, "a copied file's content is covered");
  Deno.chmodSync(`${dir}/src/lib/util.ts`, 0o755);
  const chmodded = await sum();
  assert.notEqual(chmodded, changed, "a copied file's mode is covered");
  Deno.writeTextFileSync(`${dir}/src/lib/util.ts`, "util");
  Deno.chmodSync(`${dir}/src/lib/util.ts`, 0o644);
  assert.equal(await sum(), first, "back to the same content, back to the same digest");
});

Deno.test("checksum: files the copy does not read change nothing", async () => {
  const dir = await context();
  const sum = () => checksumSources(dir, ["src/*.ts", "package.json"], OPTS);
  const first = await sum();
  Deno.writeTextFileSync(`${dir}/unrelated.txt`, "changed");
  Deno.writeTextFileSync(`${dir}/new-file`, "new");
  Deno.writeTextFileSync(`${dir}/src/README.md`, "not matched by src/*.ts");
  Deno.writeTextFileSync(`${dir}/src/lib/util.ts`, "below a non-matching directory");
  assert.equal(await sum(), first);
  Deno.writeTextFileSync(`${dir}/src/extra.ts`, "a new match");
  assert.notEqual(await sum(), first, "a new wildcard match is covered");
});

Deno.test("checksum: exclude and ignore patterns leave paths out", async () => {
  const dir = await context();
  const sum = () =>
    checksumSources(dir, ["."], { ...OPTS, exclude: ["**/*.md"], ignore: ["unrelated.txt"] });
  const first = await sum();
  Deno.writeTextFileSync(`${dir}/src/README.md`, "excluded");
  Deno.writeTextFileSync(`${dir}/unrelated.txt`, "ignored");
  assert.equal(await sum(), first);
  Deno.writeTextFileSync(`${dir}/package.json`, '{"a":1}');
  assert.notEqual(await sum(), first);
});

Deno.test("checksum: symlinks, followed when the source names one, by target otherwise", async () => {
  const dir = await context();
  const followed = () => checksumSources(dir, ["pkg-link"], OPTS);
  const kept = () => checksumSources(dir, ["pkg-link"], {});
  const [f1, k1] = [await followed(), await kept()];
  assert.notEqual(f1, k1);
  Deno.writeTextFileSync(`${dir}/package.json`, "changed");
  assert.notEqual(await followed(), f1, "the followed link covers its target's content");
  assert.equal(await kept(), k1, "an unfollowed link is its target path only");
  Deno.removeSync(`${dir}/pkg-link`);
  Deno.symlinkSync("unrelated.txt", `${dir}/pkg-link`);
  assert.notEqual(await kept(), k1);
});

Deno.test("checksum: the source list and the names are covered", async () => {
  const dir = await context();
  Deno.writeTextFileSync(`${dir}/copy.json`, "{}");
  const a = await checksumSources(dir, ["package.json"], OPTS);
  assert.notEqual(await checksumSources(dir, ["copy.json"], OPTS), a, "same content, other name");
  assert.notEqual(await checksumSources(dir, ["package.json", "copy.json"], OPTS), a);
});

Deno.test("checksum: a missing source throws the copy's not-found error", async () => {
  const dir = await context();
  await assert.rejects(
    () => checksumSources(dir, ["missing.txt"], OPTS),
    (e) => e instanceof SourceNotFoundError && e.message === `"missing.txt": not found`,
  );
  await assert.rejects(() => checksumSources(dir, ["*.nope"], OPTS), SourceNotFoundError);
  const empty = await checksumSources(dir, ["*.nope"], { ...OPTS, allowEmptyWildcard: true });
  assert.match(empty, /^sha256:/);
  await assert.rejects(() => checksumPath(`${dir}/nothing-here`), SourceNotFoundError);
});

Deno.test("checksumPath covers a whole directory or a file", async () => {
  const dir = await context();
  const whole = await checksumPath(dir);
  const one = await checksumPath(`${dir}/package.json`);
  Deno.writeTextFileSync(`${dir}/unrelated.txt`, "now it matters");
  assert.notEqual(await checksumPath(dir), whole);
  assert.equal(await checksumPath(`${dir}/package.json`), one);
  const later = new Date(Date.now() + 60_000);
  Deno.utimeSync(`${dir}/package.json`, later, later);
  assert.equal(await checksumPath(`${dir}/package.json`), one);
});

Deno.test("checksum: a second checksum of a 200-file tree is quick and equal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-checksum-big-" });
  scratch.push(dir);
  for (let i = 0; i < 200; i++) {
    Deno.writeFileSync(`${dir}/f${i}`, new Uint8Array(64 * 1024).fill(i));
  }
  const t0 = performance.now();
  const first = await checksumPath(dir);
  const cold = performance.now() - t0;
  const t1 = performance.now();
  assert.equal(await checksumPath(dir), first);
  const warm = performance.now() - t1;
  assert.ok(warm < 1000, `warm checksum took ${warm} ms (cold ${cold} ms)`);
});

Deno.test("checksum: a name that is not UTF-8 is read byte-exact and keyed apart from U+FFFD", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-checksum-raw-" });
  scratch.push(dir);
  const bad = decodeName(new Uint8Array([0x62, 0xff]));
  exact.mkdir(`${dir}/src`, 0o755);
  exact.mkdir(`${dir}/src/${bad}`, 0o755);
  const f = exact.createFile(`${dir}/src/${bad}/f`, 0o644);
  f.writeSync(new TextEncoder().encode("one"));
  f.close();
  const first = await checksumSources(dir, ["src"], OPTS);
  assert.equal(await checksumSources(dir, ["src"], OPTS), first);

  // The same name as Deno's lossy listing gives it: another key.
  const other = await Deno.makeTempDir({ prefix: "img-checksum-raw-" });
  scratch.push(other);
  Deno.mkdirSync(`${other}/src/b\uFFFD`, { recursive: true });
  Deno.writeTextFileSync(`${other}/src/b\uFFFD/f`, "one");
  assert.notEqual(await checksumSources(other, ["src"], OPTS), first);

  exact.chmod(`${dir}/src/${bad}/f`, 0o600);
  assert.notEqual(await checksumSources(dir, ["src"], OPTS), first);
});

Deno.test("checksum: a later process takes unchanged files' digests from the state DB", async () => {
  const dir = await context();
  const db = new StateDB(`${dir}/img.db`);
  try {
    // Older than the racy margin, so the first checksum's entries can be trusted.
    await new Promise((r) => setTimeout(r, 300));
    const sum = () =>
      checksumSources(dir, ["src", "package.json"], {
        ...OPTS,
        hashCache: new ContextHashCache(db),
      });
    const first = await sum();
    const paths = db.all<{ path: string }>("SELECT path FROM context_hashes ORDER BY path");
    assert.deepEqual(paths.map((r) => r.path), [
      "package.json",
      "src/README.md",
      "src/lib/util.ts",
      "src/main.ts",
    ]);
    // A digest the files do not have: a checksum that reads no file carries it.
    db.run("UPDATE context_hashes SET digest = ? WHERE path = 'src/main.ts'", "0".repeat(64));
    assert.notEqual(await sum(), first, "the entry was used, the file not read");
    // A stamp that changes (ctime, by chmod there and back) makes the file read again.
    Deno.chmodSync(`${dir}/src/main.ts`, 0o600);
    Deno.chmodSync(`${dir}/src/main.ts`, 0o644);
    assert.equal(await sum(), first);
  } finally {
    db.close();
  }
});
