import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { exportDirectory } from "./mod.ts";

function tree(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(`${dir}/${rel}`)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    out.push(
      e.isDirectory
        ? `${path}/`
        : e.isSymlink
        ? `${path} -> ${Deno.readLinkSync(`${dir}/${path}`)}`
        : path,
    );
    if (e.isDirectory) out.push(...tree(dir, path));
  }
  return out;
}

Deno.test("exportDirectory writes a new directory whole, and merges into an existing one", async () => {
  const base = await Deno.makeTempDir();
  try {
    const src = `${base}/rootfs`;
    Deno.mkdirSync(`${src}/etc/conf.d`, { recursive: true });
    Deno.writeTextFileSync(`${src}/etc/conf.d/a`, "new a\n");
    Deno.writeTextFileSync(`${src}/hello`, "hi\n");
    Deno.symlinkSync("hello", `${src}/link`);
    Deno.chmodSync(`${src}/etc`, 0o750);

    await exportDirectory(src, `${base}/new/out`, { sameOwner: false });
    deepEqual(tree(`${base}/new/out`), [
      "etc/",
      "etc/conf.d/",
      "etc/conf.d/a",
      "hello",
      "link -> hello",
    ]);
    deepEqual(
      tree(`${base}/new`),
      ["out/", ...tree(`${base}/new/out`).map((p) => `out/${p}`)],
      "no temporary left",
    );

    const dst = `${base}/existing`;
    Deno.mkdirSync(`${dst}/etc/conf.d`, { recursive: true });
    Deno.writeTextFileSync(`${dst}/etc/conf.d/a`, "old a\n");
    Deno.writeTextFileSync(`${dst}/etc/conf.d/b`, "mine\n");
    Deno.mkdirSync(`${dst}/hello`); // a directory where the result has a file
    Deno.writeTextFileSync(`${dst}/hello/x`, "x");
    Deno.symlinkSync("/", `${dst}/link`); // a symlink in the way is replaced, not followed
    await exportDirectory(src, dst, { sameOwner: false });
    deepEqual(tree(dst), [
      "etc/",
      "etc/conf.d/",
      "etc/conf.d/a",
      "etc/conf.d/b",
      "hello",
      "link -> hello",
    ]);
    equal(Deno.readTextFileSync(`${dst}/etc/conf.d/a`), "new a\n");
    equal(Deno.readTextFileSync(`${dst}/etc/conf.d/b`), "mine\n");
    equal(
      (Deno.statSync(`${dst}/etc`).mode ?? 0) & 0o7777,
      0o750,
      "merged directories take the new mode",
    );

    Deno.writeTextFileSync(`${base}/file`, "");
    await rejects(exportDirectory(src, `${base}/file`), /exists and is not a directory/);
    ok(Deno.statSync(`${base}/file`).isFile);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
