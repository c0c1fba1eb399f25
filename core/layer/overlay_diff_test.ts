import assert from "node:assert/strict";
import { writeOverlayDiff } from "./overlay_diff.ts";
import { splitLowerdirs } from "../mounts.ts";

async function names(upper: string): Promise<string[]> {
  const chunks: Uint8Array[] = [];
  const out = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c.slice()) });
  await writeOverlayDiff(upper, out);
  const tar = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    tar.set(c, off);
    off += c.length;
  }
  const child = new Deno.Command("tar", { args: ["-tvf", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(tar);
  await w.close();
  const text = new TextDecoder().decode((await child.output()).stdout);
  return text.split("\n").filter((l) => l !== "").map((l) => l.split(/\s+/).slice(5).join(" "));
}

Deno.test("fuse-overlayfs markers in an upper directory become OCI whiteouts", async () => {
  const upper = await Deno.makeTempDir();
  try {
    // What fuse-overlayfs writes where it cannot make whiteout devices or opaque xattrs.
    await Deno.mkdir(`${upper}/d/opq`, { recursive: true });
    await Deno.writeTextFile(`${upper}/d/.wh.deleted`, "");
    await Deno.writeTextFile(`${upper}/d/opq/.wh..wh..opq`, "");
    await Deno.writeTextFile(`${upper}/d/opq/new`, "new\n");
    await Deno.writeTextFile(`${upper}/d/kept`, "kept\n");
    assert.deepEqual(await names(upper), [
      "d/",
      "d/.wh.deleted",
      "d/kept",
      "d/opq/",
      "d/opq/.wh..wh..opq",
      "d/opq/new",
    ]);
  } finally {
    await Deno.remove(upper, { recursive: true });
  }
});

Deno.test("overlay lowerdir lists split at unescaped colons", () => {
  assert.deepEqual(splitLowerdirs("/a:/b\\:c:/d\\\\"), ["/a", "/b:c", "/d\\"]);
});
