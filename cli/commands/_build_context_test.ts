import assert from "node:assert/strict";
import { ContentStore } from "@img/core";
import { openBuildContext } from "./_build_context.ts";

function stdin(data: Uint8Array | string): ReadableStream<Uint8Array> {
  return ReadableStream.from([typeof data === "string" ? new TextEncoder().encode(data) : data]);
}

async function tarOf(dir: string, files: Record<string, string>): Promise<Uint8Array> {
  await Deno.mkdir(`${dir}/src`, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/src/${name}`, data);
  }
  const out = await new Deno.Command("tar", { args: ["-cf", "-", "-C", `${dir}/src`, "."] })
    .output();
  assert.ok(out.success);
  return out.stdout;
}

Deno.test("openBuildContext: a directory, with -f and -f -", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-build-context-" });
  try {
    const state = { dir, content: new ContentStore(`${dir}/content`) };
    const plain = await openBuildContext(dir, undefined, { state, stdin: stdin("") });
    assert.deepEqual([plain.contextDir, plain.dockerfileDir, plain.filename], [
      dir,
      dir,
      "Dockerfile",
    ]);
    const f = await openBuildContext(dir, `${dir}/sub/Other`, { state, stdin: stdin("") });
    assert.deepEqual([f.dockerfileDir, f.filename], [`${dir}/sub`, "Other"]);
    const piped = await openBuildContext(dir, "-", { state, stdin: stdin("FROM scratch\n") });
    assert.equal(new TextDecoder().decode(piped.dockerfileText), "FROM scratch\n");
    await assert.rejects(
      openBuildContext(`${dir}/missing`, undefined, { state, stdin: stdin("") }),
      /unable to prepare context: path ".*missing" not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openBuildContext: - is a tar context or a Dockerfile; the unpacked context goes away", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-build-context-" });
  try {
    const state = { dir, content: new ContentStore(`${dir}/content`) };
    const tar = await tarOf(dir, { Dockerfile: "FROM scratch\n", "a.txt": "a\n" });
    let unpacked: string;
    {
      await using ctx = await openBuildContext("-", undefined, { state, stdin: stdin(tar) });
      unpacked = ctx.contextDir;
      assert.equal(await Deno.readTextFile(`${ctx.contextDir}/a.txt`), "a\n");
      assert.deepEqual([ctx.dockerfileDir, ctx.filename], [ctx.contextDir, "Dockerfile"]);
      assert.equal(ctx.dockerfileText, undefined);
    }
    await assert.rejects(Deno.stat(unpacked), Deno.errors.NotFound);
    {
      await using ctx = await openBuildContext("-", "sub/x", { state, stdin: stdin(tar) });
      assert.equal(ctx.filename, "sub/x");
    }
    {
      await using ctx = await openBuildContext("-", undefined, { state, stdin: stdin("FROM a\n") });
      assert.equal(new TextDecoder().decode(ctx.dockerfileText), "FROM a\n");
      assert.deepEqual([...Deno.readDirSync(ctx.contextDir)], []);
    }
    await assert.rejects(
      openBuildContext("-", "-", { state, stdin: stdin("FROM a\n") }),
      /^ImgError: invalid argument: can't use stdin for both build context and dockerfile$/,
    );
    await assert.rejects(
      openBuildContext("-", "Dockerfile", { state, stdin: stdin("FROM a\n") }),
      /ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles/,
    );
    await assert.rejects(
      openBuildContext("-", undefined, { state, stdin: stdin("") }),
      /The build context on stdin is empty/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openBuildContext: a URL is a tarball context or a Dockerfile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-build-context-" });
  const tar = await tarOf(dir, { Dockerfile: "FROM scratch\n", "a.txt": "a\n" });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/ctx.tar"
        ? new Response(tar.slice())
        : new Response("FROM remote\n"),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const state = { dir, content: new ContentStore(`${dir}/content`) };
    {
      await using ctx = await openBuildContext(`${base}/ctx.tar`, undefined, {
        state,
        stdin: stdin(""),
      });
      assert.equal(await Deno.readTextFile(`${ctx.contextDir}/a.txt`), "a\n");
    }
    {
      await using ctx = await openBuildContext(`${base}/ctx.tar`, "-", {
        state,
        stdin: stdin("FROM piped\n"),
      });
      assert.equal(new TextDecoder().decode(ctx.dockerfileText), "FROM piped\n");
    }
    {
      await using ctx = await openBuildContext(`${base}/Dockerfile`, undefined, {
        state,
        stdin: stdin(""),
      });
      assert.equal(new TextDecoder().decode(ctx.dockerfileText), "FROM remote\n");
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
