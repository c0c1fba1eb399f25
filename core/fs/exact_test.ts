import assert from "node:assert/strict";
import { applyLayer } from "../layer/apply.ts";
import { writeLayerDiff } from "../layer/diff.ts";
import { writeOverlayDiff } from "../layer/overlay_diff.ts";
import { forEachTarEntry } from "../layer/_tar_extract.ts";
import { encodeHeader } from "../layer/tar_writer.ts";
import { concatBytes } from "../_bytes.ts";
import { copyTree } from "./copy_tree.ts";
import * as exact from "./exact.ts";
import { decodeName, encodeName } from "./raw_name.ts";

const latin1 = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const raw = (s: string) => decodeName(latin1(s));
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** A layer with names that are not UTF-8: a file, a directory with a child, links to them. */
function hostileLayer(): Uint8Array {
  const entry = (name: string, type: "file" | "directory" | "symlink" | "link", linkname = "") =>
    encodeHeader({
      name,
      type,
      mode: type === "directory" ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: 0,
      linkname,
    });
  return concatBytes([
    entry(raw("bad-\xff\xfe-name"), "file"),
    entry(`${raw("dir-\xe9")}/`, "directory"),
    entry(`${raw("dir-\xe9")}/child`, "file"),
    entry("sym", "symlink", raw("bad-\xff\xfe-name")),
    entry("hard", "link", raw("bad-\xff\xfe-name")),
    new Uint8Array(1024),
  ]);
}

/** The names (as hex of their bytes) and link targets of the entries of a tar. */
async function tarNames(tar: Uint8Array): Promise<string[]> {
  const out: string[] = [];
  await forEachTarEntry(ReadableStream.from([tar]), async (h, data) => {
    for await (const _ of data) { /* drain */ }
    out.push(`${hex(encodeName(h.name))}${h.linkname ? ` -> ${hex(encodeName(h.linkname))}` : ""}`);
  }, { malformed: (e) => e as Error });
  return out;
}

async function collect(write: (out: WritableStream<Uint8Array>) => Promise<unknown>) {
  const chunks: Uint8Array[] = [];
  await write(new WritableStream({ write: (c) => void chunks.push(c.slice()) }));
  return concatBytes(chunks);
}

Deno.test("names that are not UTF-8 stay byte-exact through apply, copyTree and both differs", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "img-exact-" });
  try {
    const a = `${tmp}/a`;
    Deno.mkdirSync(a);
    await applyLayer(a, ReadableStream.from([hostileLayer()]));
    const names = exact.readDir(a).map((e) => hex(encodeName(e.name))).sort();
    assert.deepEqual(names, [
      hex(latin1("bad-\xff\xfe-name")),
      hex(latin1("dir-\xe9")),
      hex(latin1("hard")),
      hex(latin1("sym")),
    ]);
    await copyTree(a, `${tmp}/b`);
    assert.equal(exact.readLink(`${tmp}/b/sym`), raw("bad-\xff\xfe-name"));
    assert.deepEqual(exact.readDir(`${tmp}/b/${raw("dir-\xe9")}`).map((e) => e.name), ["child"]);

    const expected = [
      hex(latin1("bad-\xff\xfe-name")),
      hex(latin1("dir-\xe9/")),
      hex(latin1("dir-\xe9/child")),
      `${hex(latin1("hard"))} -> ${hex(latin1("bad-\xff\xfe-name"))}`,
      `${hex(latin1("sym"))} -> ${hex(latin1("bad-\xff\xfe-name"))}`,
    ];
    const full = await tarNames(await collect((out) => writeLayerDiff(undefined, `${tmp}/b`, out)));
    assert.deepEqual(full, expected);
    const upper = await tarNames(await collect((out) => writeOverlayDiff(`${tmp}/b`, out)));
    assert.deepEqual(upper, expected);

    // A changed file with such a name shows in a diff against the lower tree.
    exact.removeAll(`${tmp}/b/${raw("dir-\xe9")}`);
    const diff = await tarNames(await collect((out) => writeLayerDiff(a, `${tmp}/b`, out)));
    assert.deepEqual(diff, [hex(latin1(".wh.dir-\xe9"))]);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
