import assert from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import { sha256 } from "../digest.ts";
import type { SourceOp } from "../build_graph.ts";
import { HttpSources, lastModifiedTime, urlFilename } from "./http_source.ts";

/** A loopback server serving `body` with an ETag and Last-Modified, counting 200s and 304s. */
function serve(state: { body: string; etag: string; lastModified?: string }) {
  const seen = { full: 0, notModified: 0, conditional: [] as string[] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const inm = req.headers.get("if-none-match");
    if (inm) seen.conditional.push(inm);
    if (new URL(req.url).pathname === "/missing") return new Response("no", { status: 404 });
    if (inm === state.etag) {
      seen.notModified++;
      return new Response(null, { status: 304, headers: { etag: state.etag } });
    }
    seen.full++;
    const headers: Record<string, string> = { etag: state.etag };
    if (state.lastModified) headers["last-modified"] = state.lastModified;
    return new Response(state.body, { headers });
  });
  return { server, seen, base: `http://127.0.0.1:${server.addr.port}` };
}

function op(url: string, attrs: Record<string, string> = {}): SourceOp {
  return {
    type: "source",
    identifier: url,
    attrs: { "http.filename": urlFilename(url), ...attrs },
  };
}

Deno.test("urlFilename takes the URL path's last component, as BuildKit", () => {
  assert.equal(urlFilename("https://h/a/b/tool.tar.gz?x=1#f"), "tool.tar.gz");
  assert.equal(urlFilename("https://h/a/dir/"), "dir");
  assert.equal(urlFilename("https://h/"), "__unnamed__");
  assert.equal(urlFilename("https://h"), "__unnamed__");
  assert.equal(urlFilename("https://h/a%20b"), "a b");
});

Deno.test("lastModifiedTime: the header's time, else the epoch", () => {
  assert.equal(
    lastModifiedTime("Wed, 21 Oct 2015 07:28:00 GMT").toISOString(),
    "2015-10-21T07:28:00.000Z",
  );
  assert.equal(lastModifiedTime(undefined).getTime(), 0);
  assert.equal(lastModifiedTime("garbage").getTime(), 0);
});

Deno.test("HttpSources: ETag revalidation, content-keyed cache, file mode and mtime", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-http-source-" });
  const state = { body: "v1", etag: '"e1"', lastModified: "Wed, 21 Oct 2015 07:28:00 GMT" };
  const { server, seen, base } = serve(state);
  try {
    const content = new ContentStore(`${dir}/content`);
    const opts = { content, recordsDir: `${dir}/http` };
    const src = op(`${base}/files/hello.txt`);
    const key1 = await new HttpSources(opts).cacheKey(src);
    assert.equal(seen.full, 1);
    // A new build asks with the recorded ETag and gets 304: same key, nothing downloaded.
    const again = new HttpSources(opts);
    assert.equal(await again.cacheKey(src), key1);
    assert.deepEqual(seen.conditional, ['"e1"']);
    assert.equal(seen.notModified, 1);
    assert.equal(seen.full, 1);
    // The same build writes the file without asking again.
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    await again.writeFile(src, out);
    assert.equal(seen.full + seen.notModified, 2);
    assert.equal(await Deno.readTextFile(`${out}/hello.txt`), "v1");
    const info = await Deno.lstat(`${out}/hello.txt`);
    assert.equal(info.mode! & 0o7777, 0o600);
    assert.equal(info.mtime?.toISOString(), "2015-10-21T07:28:00.000Z");
    // The server's content changes: a new key.
    state.body = "v2";
    state.etag = '"e2"';
    const key2 = await new HttpSources(opts).cacheKey(src);
    assert.notEqual(key2, key1);
    assert.equal(seen.full, 2);
    // Without records, every build downloads.
    await new HttpSources({ content }).cacheKey(src);
    assert.equal(seen.full, 3);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpSources: --checksum keys without a request and verifies the download", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-http-source-" });
  const state = { body: "payload", etag: '"p"' };
  const { server, seen, base } = serve(state);
  try {
    const content = new ContentStore(`${dir}/content`);
    const good = op(`${base}/f`, { "http.checksum": sha256("payload") });
    const sources = new HttpSources({ content, recordsDir: `${dir}/http` });
    await sources.cacheKey(good);
    assert.equal(seen.full, 0, "no request for the key");
    await Deno.mkdir(`${dir}/out`);
    await sources.writeFile(good, `${dir}/out`);
    assert.equal(await Deno.readTextFile(`${dir}/out/f`), "payload");
    // No Last-Modified: the epoch.
    assert.equal((await Deno.lstat(`${dir}/out/f`)).mtime?.getTime(), 0);
    const bad = op(`${base}/g`, { "http.checksum": sha256("other") });
    await assert.rejects(
      new HttpSources({ content }).writeFile(bad, `${dir}/out`),
      /The content of http:\/\/127\.0\.0\.1:\d+\/g has digest sha256:[0-9a-f]{64}, not the --checksum sha256:/,
    );
    await assert.rejects(
      new HttpSources({ content }).cacheKey(op(`${base}/missing`)),
      /Cannot download .*\/missing: the server answered 404/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpSources: a stalled server fails in bounded time, naming what stalled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-http-source-" });
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/silent") {
      await released;
      return new Response("late");
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    released.then(() => controller.close()).catch(() => {});
    return new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
          c.enqueue(new TextEncoder().encode("first bytes"));
        },
      }),
    );
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const sources = new HttpSources({ content: new ContentStore(dir), stallTimeoutMs: 300 });
    await assert.rejects(
      sources.cacheKey(op(`${base}/silent`)),
      /^ImgError: Cannot download .*\/silent: the server sent no answer for 0\.3 s$/,
    );
    await assert.rejects(
      sources.cacheKey(op(`${base}/stalls`)),
      /^ImgError: Cannot download .*\/stalls: the server stopped sending data for 0\.3 s$/,
    );
  } finally {
    release();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpSources: HTTP_AUTH_TOKEN_<host> and HTTP_AUTH_HEADER_<host> secrets authorize the request", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-http-source-" });
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const auth = req.headers.get("authorization");
    seen.push(auth);
    return auth === "Bearer t0ken" || auth === "Basic dXNlcjpwdw=="
      ? new Response("private")
      : new Response("who are you", { status: 401 });
  });
  const url = `http://127.0.0.1:${server.addr.port}/private`;
  const secrets = (values: Record<string, string>) => (id: string) =>
    Promise.resolve(values[id] === undefined ? undefined : new TextEncoder().encode(values[id]));
  try {
    const content = new ContentStore(dir);
    await assert.rejects(new HttpSources({ content }).cacheKey(op(url)), /answered 401/);
    const token = new HttpSources({
      content,
      secret: secrets({ "HTTP_AUTH_TOKEN_127.0.0.1": "t0ken" }),
    });
    const key = await token.cacheKey(op(url));
    const header = new HttpSources({
      content,
      secret: secrets({ "HTTP_AUTH_HEADER_127.0.0.1": "Basic dXNlcjpwdw==" }),
    });
    // The key is the content's: the credentials are not part of it.
    assert.equal(await header.cacheKey(op(url)), key);
    assert.deepEqual(seen, [null, "Bearer t0ken", "Basic dXNlcjpwdw=="]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
