import assert from "node:assert/strict";
import { unpackContextArchive } from "./context_archive.ts";

async function sh(script: string, cwd: string): Promise<void> {
  const out = await new Deno.Command("sh", { args: ["-c", script], cwd, stderr: "piped" }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test("unpackContextArchive unpacks plain and compressed tars, and leaves other files alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-context-archive-" });
  try {
    await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/Dockerfile`, "FROM scratch\n");
    await Deno.writeTextFile(`${dir}/src/sub/a.txt`, "a\n");
    await sh(
      "tar -cf ctx.tar -C src . && gzip -k ctx.tar && xz -k ctx.tar && bzip2 -k ctx.tar",
      dir,
    );
    await sh("printf 'FROM scratch\\n' > Dockerfile.plain", dir);
    const zstd = await new Deno.Command("sh", { args: ["-c", "command -v zstd"] }).output();
    const files = ["ctx.tar", "ctx.tar.gz", "ctx.tar.xz", "ctx.tar.bz2"];
    if (zstd.success) {
      await sh("zstd -q ctx.tar -o ctx.tar.zst", dir);
      files.push("ctx.tar.zst");
    }
    for (const f of files) {
      const out = `${dir}/out-${f}`;
      await Deno.mkdir(out);
      assert.equal(await unpackContextArchive(`${dir}/${f}`, out), true, f);
      assert.equal(await Deno.readTextFile(`${out}/sub/a.txt`), "a\n", f);
      assert.equal(await Deno.readTextFile(`${out}/Dockerfile`), "FROM scratch\n", f);
    }
    await Deno.mkdir(`${dir}/plain`);
    assert.equal(await unpackContextArchive(`${dir}/Dockerfile.plain`, `${dir}/plain`), false);
    assert.deepEqual([...Deno.readDirSync(`${dir}/plain`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
