import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import tar from "tar-stream";
import { ContentStore } from "../content/store.ts";
import { lgetxattr, lsetxattr, mkfifo } from "../libc.ts";
import { MediaType } from "../media_types.ts";
import { applyLayer } from "./apply.ts";
import { layerBlob, layerBlobFromDiff } from "./blob.ts";
import { compressStream } from "./compress.ts";
import { decompressStream } from "./decompress.ts";
import { type LayerDiffOptions, writeLayerDiff } from "./diff.ts";
import { encodeHeader } from "./tar_writer.ts";
import { diffTrees, hardlinkGroups, snapshotTree } from "../../tests/_util/tree.ts";

const isRoot = Deno.uid() === 0;
const T0 = 1_600_000_000; // whole seconds, as a tar extraction leaves them

/** A listed tar entry. */
interface Listed {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string | null;
  uname: string;
  gname: string;
  pax: Record<string, string>;
}

async function diffBytes(
  lower: string | undefined,
  upper: string,
  options?: LayerDiffOptions,
): Promise<{ bytes: Uint8Array; diffID: string; size: number }> {
  const chunks: Uint8Array[] = [];
  const out = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c.slice()) });
  const { diffID, size } = await writeLayerDiff(lower, upper, out, options);
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  assert.equal(off, size, "the reported size is the number of bytes written");
  return { bytes, diffID, size };
}

async function listTar(bytes: Uint8Array): Promise<Listed[]> {
  const extract = tar.extract();
  const out: Listed[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      out.push({
        name: h.name,
        type: h.type ?? "file",
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: (h.mtime?.getTime() ?? 0) / 1000,
        size: h.size ?? 0,
        linkname: h.linkname ?? null,
        uname: h.uname ?? "",
        gname: h.gname ?? "",
        pax: (h.pax ?? {}) as Record<string, string>,
      });
      entry.resume();
    }
  })();
  extract.end(bytes);
  await done;
  return out;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function applyAll(dir: string, layers: Uint8Array[]): Promise<void> {
  for (const layer of layers) {
    await applyLayer(dir, ReadableStream.from([layer]), {
      sameOwner: isRoot,
      xattrs: { lset: (p, n, v) => lsetxattr(p, n, v) },
    });
  }
}

const ALL_FIELDS = ["type", "mode", "uid", "gid", "size", "mtime", "content", "link"] as const;

function assertSameTree(expected: string, actual: string): void {
  const fields = isRoot ? [...ALL_FIELDS] : ALL_FIELDS.filter((f) => f !== "uid" && f !== "gid");
  assert.deepEqual(diffTrees(snapshotTree(expected), snapshotTree(actual), { fields }), []);
}

function write(path: string, content: string, mode = 0o644, mtime = T0): void {
  Deno.writeTextFileSync(path, content);
  Deno.chmodSync(path, mode);
  Deno.utimeSync(path, mtime, mtime);
}

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "img-diff-" });
}

/** A tree with one of everything; times are whole seconds so the content must be compared. */
function populate(root: string): void {
  Deno.mkdirSync(`${root}/a/deep`, { recursive: true });
  write(`${root}/a/file`, "hello\n");
  write(`${root}/a/setuid`, "#!/bin/sh\n", 0o4755);
  write(`${root}/a/hard1`, "shared\n", 0o600);
  Deno.linkSync(`${root}/a/hard1`, `${root}/a/hard2`);
  Deno.symlinkSync("file", `${root}/a/link`);
  Deno.symlinkSync("/etc/../nowhere", `${root}/a/dangling`);
  mkfifo(`${root}/a/fifo`, 0o640);
  write(`${root}/a/xattr`, "x");
  lsetxattr(`${root}/a/xattr`, "user.binary", new Uint8Array([0, 1, 0xff, 0xc3]));
  const long = `${root}/${"l".repeat(60)}/${"m".repeat(60)}`;
  Deno.mkdirSync(long, { recursive: true });
  write(`${long}/${"n".repeat(80)}`, "long name\n");
  write(`${root}/a/deep/ünïcødé`, "utf-8 name\n");
  write(`${root}/a/deep/empty`, "");
  if (isRoot) {
    Deno.chownSync(`${root}/a/file`, 1234, 5678);
    Deno.chownSync(`${root}/a/deep`, 2000, 3000);
    Deno.chmodSync(`${root}/a/setuid`, 0o4755); // chown cleared nothing here, but be explicit
  }
  for (const d of ["a/deep", "a", `${"l".repeat(60)}/${"m".repeat(60)}`, "l".repeat(60)]) {
    Deno.utimeSync(`${root}/${d}`, T0, T0);
  }
}

Deno.test("a tree diffed against nothing is written whole: parents first, sorted, with metadata", async () => {
  const upper = tmp();
  const target = tmp();
  try {
    populate(upper);
    const { bytes, diffID } = await diffBytes(undefined, upper);
    assert.equal(diffID, `sha256:${sha256Hex(bytes)}`);
    const entries = await listTar(bytes);
    const l = "l".repeat(60);
    const m = "m".repeat(60);
    assert.deepEqual(entries.map((e) => e.name), [
      "a/",
      "a/dangling",
      "a/deep/",
      "a/deep/empty",
      "a/deep/ünïcødé",
      "a/fifo",
      "a/file",
      "a/hard1",
      "a/hard2",
      "a/link",
      "a/setuid",
      "a/xattr",
      `${l}/`,
      `${l}/${m}/`,
      `${l}/${m}/${"n".repeat(80)}`,
    ]);
    const by = new Map(entries.map((e) => [e.name, e]));
    assert.equal(by.get("a/hard2")!.type, "link");
    assert.equal(by.get("a/hard2")!.linkname, "a/hard1");
    assert.equal(by.get("a/hard1")!.type, "file");
    assert.equal(by.get("a/link")!.type, "symlink");
    assert.equal(by.get("a/link")!.linkname, "file");
    assert.equal(by.get("a/fifo")!.type, "fifo");
    assert.equal(by.get("a/setuid")!.mode, 0o4755);
    assert.equal(by.get("a/file")!.mtime, T0);
    assert.ok(entries.every((e) => e.uname === "" && e.gname === ""), "no user names");
    if (isRoot) {
      assert.deepEqual([by.get("a/file")!.uid, by.get("a/file")!.gid], [1234, 5678]);
      assert.deepEqual([by.get("a/deep/")!.uid, by.get("a/deep/")!.gid], [2000, 3000]);
    }
    assert.ok("SCHILY.xattr.user.binary" in by.get("a/xattr")!.pax, "xattr as a PAX record");

    await applyAll(target, [bytes]);
    assertSameTree(upper, target);
    assert.deepEqual(hardlinkGroups(snapshotTree(target)), ["a/hard1 = a/hard2"]);
    assert.deepEqual(
      lgetxattr(`${target}/a/xattr`, "user.binary"),
      new Uint8Array([0, 1, 0xff, 0xc3]),
    );
  } finally {
    Deno.removeSync(upper, { recursive: true });
    Deno.removeSync(target, { recursive: true });
  }
});

Deno.test("changes, deletions and replacements are written; unchanged entries are not", async () => {
  const base = tmp();
  const lower = `${base}/lower`;
  const upper = `${base}/upper`;
  const target = `${base}/target`;
  try {
    Deno.mkdirSync(lower);
    Deno.mkdirSync(target);
    populate(lower);
    Deno.mkdirSync(`${lower}/keep/sub`, { recursive: true });
    write(`${lower}/keep/same`, "same\n");
    write(`${lower}/keep/changed`, "old\n");
    write(`${lower}/keep/samesize`, "aaaa\n");
    write(`${lower}/keep/chmod`, "mode\n");
    write(`${lower}/keep/sub/untouched`, "u\n");
    write(`${lower}/gone`, "bye\n");
    Deno.mkdirSync(`${lower}/gonedir/inner`, { recursive: true });
    write(`${lower}/gonedir/inner/x`, "x\n");
    write(`${lower}/f2d`, "file that becomes a dir\n");
    Deno.mkdirSync(`${lower}/d2f/child`, { recursive: true });
    write(`${lower}/d2f/child/y`, "y\n");
    for (const d of ["keep/sub", "keep", "gonedir/inner", "gonedir", "d2f/child", "d2f"]) {
      Deno.utimeSync(`${lower}/${d}`, T0, T0);
    }
    // An independent copy that keeps times to the nanosecond.
    const cp = new Deno.Command("cp", { args: ["-a", lower, upper] }).outputSync();
    assert.ok(cp.success, new TextDecoder().decode(cp.stderr));

    const later = T0 + 100;
    write(`${upper}/keep/changed`, "new content\n", 0o644, later);
    write(`${upper}/keep/samesize`, "bbbb\n"); // same size, same (whole-second) mtime
    Deno.chmodSync(`${upper}/keep/chmod`, 0o600);
    Deno.removeSync(`${upper}/gone`);
    Deno.removeSync(`${upper}/gonedir`, { recursive: true });
    Deno.removeSync(`${upper}/f2d`);
    Deno.mkdirSync(`${upper}/f2d`);
    write(`${upper}/f2d/child`, "now a dir\n", 0o644, later);
    Deno.removeSync(`${upper}/d2f`, { recursive: true });
    write(`${upper}/d2f`, "now a file\n", 0o755, later);
    write(`${upper}/a/new`, "added\n", 0o644, later);
    for (const d of ["keep", "f2d", "a", ""]) Deno.utimeSync(`${upper}/${d}`, later, later);

    const first = await diffBytes(undefined, lower);
    const { bytes } = await diffBytes(lower, upper);
    const entries = await listTar(bytes);
    assert.deepEqual(entries.map((e) => `${e.type} ${e.name}`), [
      "directory a/",
      "file a/new",
      "file d2f",
      "directory f2d/",
      "file f2d/child",
      "file .wh.gone",
      "file .wh.gonedir",
      "directory keep/",
      "file keep/changed",
      "file keep/chmod",
      "file keep/samesize",
    ]);
    const wh = entries.find((e) => e.name === ".wh.gone")!;
    assert.deepEqual([wh.size, wh.mtime, wh.mode], [0, 0, 0]);

    await applyAll(target, [first.bytes, bytes]);
    assertSameTree(upper, target);
    assert.deepEqual(hardlinkGroups(snapshotTree(target)), ["a/hard1 = a/hard2"]);

    // Same trees, same bytes: the diffID is deterministic.
    assert.equal((await diffBytes(lower, upper)).diffID, `sha256:${sha256Hex(bytes)}`);
    // And an unchanged tree gives an empty layer.
    assert.deepEqual(await listTar((await diffBytes(lower, lower)).bytes), []);
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("sourceDateEpoch clamps later mtimes and dates whiteouts", async () => {
  const base = tmp();
  try {
    Deno.mkdirSync(`${base}/lower`);
    Deno.mkdirSync(`${base}/upper`);
    write(`${base}/lower/old`, "old");
    write(`${base}/upper/early`, "early", 0o644, T0 - 50);
    write(`${base}/upper/late`, "late", 0o644, T0 + 50);
    const { bytes } = await diffBytes(`${base}/lower`, `${base}/upper`, { sourceDateEpoch: T0 });
    const entries = await listTar(bytes);
    // Whiteouts sit where the deleted name sorts.
    assert.deepEqual(entries.map((e) => [e.name, e.mtime]), [
      ["early", T0 - 50],
      ["late", T0],
      [".wh.old", T0],
    ]);
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("PAX headers carry long link targets, large ids and binary xattrs", async () => {
  const header = encodeHeader({
    name: "x/" + "y".repeat(150),
    type: "symlink",
    mode: 0o777,
    uid: 3_000_000,
    gid: 7,
    mtime: T0,
    size: 0,
    linkname: "/" + "t".repeat(200),
    xattrs: { "security.capability": new Uint8Array([1, 0, 0, 2, 0xff]) },
  });
  const bytes = new Uint8Array(header.length + 1024);
  bytes.set(header);
  const [e] = await listTar(bytes);
  assert.equal(e.name, "x/" + "y".repeat(150));
  assert.equal(e.linkname, "/" + "t".repeat(200));
  assert.equal(e.pax.uid, "3000000"); // tar-stream leaves PAX ids to the reader
  assert.equal(e.gid, 7);
  assert.ok("SCHILY.xattr.security.capability" in e.pax);
  // The tar tool agrees.
  const dir = tmp();
  try {
    Deno.writeFileSync(`${dir}/t.tar`, bytes);
    const out = new Deno.Command("tar", { args: ["--numeric-owner", "-tvf", `${dir}/t.tar`] })
      .outputSync();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const line = new TextDecoder().decode(out.stdout);
    assert.match(line, /^lrwxrwxrwx 3000000\/7 /);
    assert.ok(line.includes(`-> /${"t".repeat(200)}`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("compressStream round-trips gzip and zstd, and passes errors of its source on", async () => {
  const data = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  const chunks = Array.from({ length: 48 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
  const gz = await collect(compressStream(ReadableStream.from(chunks), "gzip"));
  assert.deepEqual(new Uint8Array(gunzipSync(gz)), data);
  const zs = await collect(compressStream(ReadableStream.from(chunks), "zstd", 5));
  assert.deepEqual(new Uint8Array(zstdDecompressSync(zs)), data);
  assert.ok(zs.length < data.length / 10 && gz.length < data.length / 10);
  const back = await collect(decompressStream(ReadableStream.from([zs])));
  assert.deepEqual(back, data);

  const failing = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(data.subarray(0, 1000));
      c.error(new Error("source broke"));
    },
  });
  await assert.rejects(collect(compressStream(failing, "gzip")), /source broke/);
});

Deno.test("layerBlobFromDiff reads big files into one buffer and stores them right", async () => {
  const base = tmp();
  try {
    Deno.mkdirSync(`${base}/upper`);
    // Three big files (read in 1 MiB chunks into one reused buffer) between small ones.
    const big = new Uint8Array(2 * 1024 * 1024 + 4321);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    Deno.writeFileSync(`${base}/upper/a.bin`, big);
    Deno.writeFileSync(`${base}/upper/b.txt`, new TextEncoder().encode("small\n"));
    Deno.writeFileSync(`${base}/upper/c.bin`, big.map((b) => b ^ 0x5a));
    Deno.writeFileSync(`${base}/upper/d.bin`, big.subarray(1000));
    const store = new ContentStore(`${base}/content`);
    const { bytes, diffID } = await diffBytes(undefined, `${base}/upper`);
    for (const compression of ["gzip", "zstd", "uncompressed"] as const) {
      const blob = await layerBlobFromDiff(store, undefined, `${base}/upper`, { compression });
      assert.equal(blob.diffID, diffID);
      const stored = Deno.readFileSync(store.path(blob.digest));
      const tarBytes = await collect(decompressStream(ReadableStream.from([stored])));
      assert.ok(tarBytes.length === bytes.length && tarBytes.every((b, i) => b === bytes[i]));
    }
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

Deno.test("layerBlobFromDiff stores the compressed layer with digest and diffID in one pass", async () => {
  const base = tmp();
  try {
    Deno.mkdirSync(`${base}/upper`);
    populate(`${base}/upper`);
    const store = new ContentStore(`${base}/content`);
    const { bytes, diffID } = await diffBytes(undefined, `${base}/upper`);
    for (const compression of ["gzip", "zstd", "uncompressed"] as const) {
      const blob = await layerBlobFromDiff(store, undefined, `${base}/upper`, { compression });
      assert.equal(blob.diffID, diffID);
      assert.equal(blob.uncompressedSize, bytes.length);
      const stored = Deno.readFileSync(store.path(blob.digest));
      assert.equal(blob.digest, `sha256:${sha256Hex(stored)}`);
      assert.equal(blob.size, stored.length);
      const tarBytes = await collect(decompressStream(ReadableStream.from([stored])));
      assert.deepEqual(tarBytes, bytes);
      if (compression === "uncompressed") assert.equal(blob.digest, diffID);
    }
    const oci = await layerBlob(store, ReadableStream.from([bytes]));
    assert.equal(oci.mediaType, MediaType.ociLayerGzip);
    const docker = await layerBlob(store, ReadableStream.from([bytes]), { mediaTypes: "docker" });
    assert.equal(docker.mediaType, MediaType.dockerLayerGzip);
    assert.deepEqual([...Deno.readDirSync(`${base}/content/ingest`)], [], "no leftovers");
    // A failing store write leaves nothing behind and fails the diff too.
    const bad = new ContentStore(`${base}/bad`);
    Deno.removeSync(`${base}/bad/ingest`, { recursive: true });
    await assert.rejects(layerBlobFromDiff(bad, undefined, `${base}/upper`));
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});
