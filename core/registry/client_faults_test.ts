/**
 * The client against a small fake registry that misbehaves: bodies cut off halfway, 5xx and
 * 429 answers, schema 1 manifests, wrong digests, nothing listening.
 */
import assert from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import { sha256 } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import { parseReference } from "../reference.ts";
import { detectMediaType, RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { randomBytes } from "./_test_image.ts";

const FAST_RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 };

interface FakeServer extends AsyncDisposable {
  host: string;
  requests: { method: string; path: string; range: string | null }[];
}

function fakeRegistry(
  handler: (req: Request, n: number) => Response | Promise<Response>,
): FakeServer {
  const requests: FakeServer["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/v2/") {
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    requests.push({ method: req.method, path: url.pathname, range: req.headers.get("range") });
    return handler(req, requests.length);
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/**
 * A body that sends `bytes` up to `cut` and then ends, short of the `content-length` the
 * response declares: the server drops the connection and the client's body read fails.
 */
function brokenBody(bytes: Uint8Array, cut: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes.slice(0, cut));
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
      controller.close();
    },
  });
}

async function tempStore(): Promise<ContentStore & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "img-registry-faults-test-" });
  const store = new ContentStore(dir) as ContentStore & AsyncDisposable;
  store[Symbol.asyncDispose] = () => Deno.remove(dir, { recursive: true });
  return store;
}

for (const ranges of [true, false]) {
  Deno.test(`a blob body cut off halfway is resumed (${ranges ? "with Range" : "from the start"})`, async () => {
    const blob = randomBytes(256 * 1024);
    const digest = sha256(blob);
    await using server = fakeRegistry((req, n) => {
      const range = req.headers.get("range");
      if (n === 1) {
        return new Response(brokenBody(blob, 100_000), {
          headers: { "content-length": String(blob.byteLength), "accept-ranges": "bytes" },
        });
      }
      const m = range && /^bytes=(\d+)-$/.exec(range);
      if (ranges && m) {
        const start = Number(m[1]);
        return new Response(blob.slice(start), {
          status: 206,
          headers: { "content-range": `bytes ${start}-${blob.byteLength - 1}/${blob.byteLength}` },
        });
      }
      return new Response(blob);
    });
    await using store = await tempStore();
    const client = new RegistryClient({ retry: FAST_RETRY });
    const ref = parseReference(`${server.host}/x/y:1`);
    const progress: number[] = [];
    const result = await client.fetchBlob(
      ref,
      { mediaType: MediaType.ociLayerGzip, digest, size: blob.byteLength },
      store,
      (n) => progress.push(n),
    );
    assert.equal(result, "fetched");
    assert.deepEqual(await store.read(digest), blob);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[0].range, null);
    // The retry asks for the rest: some bytes arrived before the reset.
    assert.match(server.requests[1].range ?? "", /^bytes=[1-9]\d*-$/);
    assert.equal(progress.at(-1), blob.byteLength);

    // A second fetch finds the blob in the store and sends nothing.
    assert.equal(
      await client.fetchBlob(ref, {
        mediaType: MediaType.ociLayerGzip,
        digest,
        size: blob.byteLength,
      }, store),
      "exists",
    );
    assert.equal(server.requests.length, 2);
  });
}

Deno.test("a blob that keeps breaking fails with a message naming the registry", async () => {
  const blob = randomBytes(64 * 1024);
  await using server = fakeRegistry(() =>
    new Response(brokenBody(blob, 1000), { headers: { "content-length": String(blob.byteLength) } })
  );
  await using store = await tempStore();
  const client = new RegistryClient({ retry: FAST_RETRY });
  await assert.rejects(
    client.fetchBlob(
      parseReference(`${server.host}/x/y:1`),
      { mediaType: MediaType.ociLayerGzip, digest: sha256(blob), size: blob.byteLength },
      store,
    ),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.ok(
        e.message.startsWith(
          `Pull of ${server.host}/x/y:1 failed: cannot reach registry ${server.host}: `,
        ),
        e.message,
      );
      return true;
    },
  );
  assert.equal(server.requests.length, FAST_RETRY.attempts);
  assert.deepEqual(
    [...Deno.readDirSync(`${store.root}/ingest`)],
    [],
    "no partial file left behind",
  );
});

Deno.test("a blob with the wrong content is refused and not stored", async () => {
  const blob = randomBytes(1000);
  await using server = fakeRegistry(() => new Response(randomBytes(1000)));
  await using store = await tempStore();
  const digest = sha256(blob);
  await assert.rejects(
    new RegistryClient({ retry: FAST_RETRY }).fetchBlob(
      parseReference(`${server.host}/x/y:1`),
      { mediaType: MediaType.ociLayerGzip, digest, size: 1000 },
      store,
    ),
    /Pull of 127\.0\.0\.1:\d+\/x\/y:1 failed: blob sha256:[a-f0-9]{64}: Content digest mismatch/,
  );
  assert.equal(await store.has(digest), false);
  assert.equal(server.requests.length, 1, "a digest mismatch is not retried");
});

Deno.test("5xx and 429 answers are retried, honouring Retry-After", async () => {
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256("{}"), size: 2 },
    layers: [],
  }));
  await using server = fakeRegistry((_req, n) => {
    if (n === 1) return new Response("oops", { status: 503 });
    if (n === 2) return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
    return new Response(manifest, { headers: { "content-type": MediaType.ociManifest } });
  });
  const client = new RegistryClient({ retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 5000 } });
  const start = Date.now();
  const got = await client.getManifest(parseReference(`${server.host}/x/y:1`));
  assert.equal(got.descriptor.digest, sha256(manifest));
  assert.equal(server.requests.length, 3);
  assert.ok(Date.now() - start >= 900, "waited for Retry-After: 1");
});

Deno.test("a registry that keeps failing gives up with its status", async () => {
  await using server = fakeRegistry(() =>
    Response.json({ errors: [{ code: "UNAVAILABLE", message: "try later" }] }, { status: 503 })
  );
  await assert.rejects(
    new RegistryClient({ retry: FAST_RETRY }).getManifest(parseReference(`${server.host}/x/y:1`)),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(
        e.message,
        `Pull of ${server.host}/x/y:1 failed: unavailable: try later (registry ${server.host} answered 503 to 4 attempts); try again later, or raise IMG_REGISTRY_RETRIES`,
      );
      assert.equal(e.status, 503);
      return true;
    },
  );
  assert.equal(server.requests.length, FAST_RETRY.attempts);
});

Deno.test("schema 1 manifests are refused with a clear error", async () => {
  await using server = fakeRegistry(() =>
    new Response(JSON.stringify({ schemaVersion: 1, name: "x/y", tag: "1", fsLayers: [] }), {
      headers: { "content-type": MediaType.dockerManifestV1Signed },
    })
  );
  await assert.rejects(
    new RegistryClient().getManifest(parseReference(`${server.host}/x/y:1`)),
    (e: Error) => {
      assert.equal(
        e.message,
        `Image ${server.host}/x/y:1 uses the Docker schema 1 manifest format, which img does not support; push it again with a current docker or skopeo`,
      );
      return true;
    },
  );
});

Deno.test("a manifest whose digest differs from the pinned one is refused", async () => {
  await using server = fakeRegistry(() =>
    new Response(JSON.stringify({ schemaVersion: 2, manifests: [] }), {
      headers: { "content-type": MediaType.ociIndex },
    })
  );
  const pinned = sha256("something else");
  await assert.rejects(
    new RegistryClient().getManifest(parseReference(`${server.host}/x/y@${pinned}`)),
    new RegExp(
      `failed: the registry sent a manifest with digest sha256:[a-f0-9]{64} instead of ${pinned}`,
    ),
  );
});

Deno.test("an unreachable registry is named in the error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    new RegistryClient({ retry: FAST_RETRY }).getManifest(
      parseReference(`127.0.0.1:${port}/x/y:1`),
    ),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.ok(
        e.message.startsWith(
          `Pull of 127.0.0.1:${port}/x/y:1 failed: cannot reach registry 127.0.0.1:${port}: `,
        ),
        e.message,
      );
      assert.ok(!e.message.includes("\n"));
      return true;
    },
  );
});

Deno.test("redirects to another host do not carry the registry's credentials", async () => {
  const blob = randomBytes(2000);
  const seen: (string | null)[] = [];
  const storage = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(req.headers.get("authorization"));
    return new Response(blob);
  });
  try {
    await using server = fakeRegistry((req) => {
      seen.push(req.headers.get("authorization"));
      return new Response(null, {
        status: 307,
        headers: { location: `http://localhost:${storage.addr.port}/blob` },
      });
    });
    // The ping answers with a Basic challenge, so the client sends credentials to the registry.
    const client = new RegistryClient({
      credentials: {
        get: () => Promise.resolve({ username: "u", password: "p" }),
        store: () => Promise.resolve(),
        erase: () => Promise.resolve(false),
      },
      fetch: (input, init) => {
        const url = new URL(String(input));
        if (url.pathname === "/v2/") {
          return Promise.resolve(
            new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="x"' } }),
          );
        }
        return fetch(input, init);
      },
    });
    await using store = await tempStore();
    await client.fetchBlob(
      parseReference(`${server.host}/x/y:1`),
      { mediaType: MediaType.ociLayerGzip, digest: sha256(blob), size: blob.byteLength },
      store,
    );
    assert.deepEqual(seen, [`Basic ${btoa("u:p")}`, null]);
  } finally {
    await storage.shutdown();
  }
});

Deno.test("a push whose upload fails with a 5xx restarts the upload", async () => {
  const blob = randomBytes(3000);
  const digest = sha256(blob);
  let puts = 0;
  const received: Uint8Array[] = [];
  await using server = fakeRegistry(async (req) => {
    const url = new URL(req.url);
    if (req.method === "HEAD") return new Response(null, { status: 404 });
    if (req.method === "POST") {
      return new Response(null, {
        status: 202,
        headers: { location: `/v2/x/y/blobs/uploads/${crypto.randomUUID()}?_state=abc` },
      });
    }
    if (req.method === "PUT") {
      received.push(new Uint8Array(await req.arrayBuffer()));
      assert.equal(url.searchParams.get("digest"), digest);
      assert.equal(url.searchParams.get("_state"), "abc");
      return ++puts === 1
        ? new Response("boom", { status: 500 })
        : new Response(null, { status: 201 });
    }
    return new Response(null, { status: 405 });
  });
  await using store = await tempStore();
  await store.put(blob);
  const result = await new RegistryClient({ retry: FAST_RETRY }).pushBlob(
    parseReference(`${server.host}/x/y:1`),
    { mediaType: MediaType.ociLayerGzip, digest, size: blob.byteLength },
    store,
  );
  assert.equal(result, "uploaded");
  assert.deepEqual(server.requests.map((r) => r.method), ["HEAD", "POST", "PUT", "POST", "PUT"]);
  assert.deepEqual(received, [blob, blob]);
});

Deno.test("baseUrl uses HTTPS except for loopback and insecure registries, and maps docker.io", () => {
  const client = new RegistryClient({ insecureRegistries: ["reg.lan:5000"] });
  assert.equal(client.baseUrl("docker.io"), "https://registry-1.docker.io");
  assert.equal(client.baseUrl("ghcr.io"), "https://ghcr.io");
  assert.equal(client.baseUrl("localhost:5000"), "http://localhost:5000");
  assert.equal(client.baseUrl("127.0.0.1:5000"), "http://127.0.0.1:5000");
  assert.equal(client.baseUrl("[::1]:5000"), "http://[::1]:5000");
  assert.equal(client.baseUrl("reg.lan:5000"), "http://reg.lan:5000");
  assert.equal(client.baseUrl("reg.lan:5001"), "https://reg.lan:5001");
});

Deno.test("detectMediaType trusts the body's mediaType, then the header, then the shape", () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  assert.equal(
    detectMediaType(
      "application/json",
      enc({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [] }),
    ),
    MediaType.dockerManifestList,
  );
  assert.equal(
    detectMediaType(
      `${MediaType.dockerManifest}; charset=utf-8`,
      enc({ schemaVersion: 2, config: {} }),
    ),
    MediaType.dockerManifest,
  );
  assert.equal(
    detectMediaType("application/json", enc({ schemaVersion: 2, manifests: [] })),
    MediaType.ociIndex,
  );
  assert.equal(
    detectMediaType(null, enc({ schemaVersion: 2, config: {}, layers: [] })),
    MediaType.ociManifest,
  );
  assert.equal(
    detectMediaType("application/json", enc({ schemaVersion: 1, fsLayers: [] })),
    MediaType.dockerManifestV1Signed,
  );
});

/** A body that sends `bytes` in `parts` pieces, `gapMs` apart. */
function slowBody(bytes: Uint8Array, parts: number, gapMs: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(bytes.byteLength / parts);
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
      if (i * size >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(i * size, ++i * size));
    },
  });
}

/** A body that never sends anything (until the client gives up). */
function stalledBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({ pull: () => new Promise(() => {}) });
}

Deno.test("a slow blob that keeps moving outlasts the no-progress timeout", async () => {
  const blob = randomBytes(64 * 1024);
  await using server = fakeRegistry(() =>
    new Response(slowBody(blob, 8, 100), {
      headers: { "content-length": String(blob.byteLength) },
    })
  );
  await using store = await tempStore();
  // 400 ms without progress would abort; the whole transfer takes twice that.
  const client = new RegistryClient({ retry: { ...FAST_RETRY, timeoutMs: 800 } });
  const start = Date.now();
  await client.fetchBlob(
    parseReference(`${server.host}/x/y:1`),
    { mediaType: MediaType.ociLayerGzip, digest: sha256(blob), size: blob.byteLength },
    store,
  );
  assert.ok(Date.now() - start >= 700);
  assert.equal(server.requests.length, 1, "never cut off");
});

Deno.test("a manifest body that stalls once is fetched again; one that always stalls fails in time", async () => {
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256("{}"), size: 2 },
    layers: [],
  }));
  let always = false;
  await using server = fakeRegistry((_req, n) =>
    new Response(always || n === 1 ? stalledBody() : manifest, {
      headers: { "content-type": MediaType.ociManifest },
    })
  );
  const client = new RegistryClient({ retry: { ...FAST_RETRY, timeoutMs: 600 } });
  const ref = parseReference(`${server.host}/x/y:1`);
  const got = await client.getManifest(ref);
  assert.equal(got.descriptor.digest, sha256(manifest));
  assert.equal(server.requests.length, 2);

  always = true;
  const start = Date.now();
  await assert.rejects(client.getManifest(ref), (e: unknown) => {
    assert.ok(e instanceof RegistryError);
    assert.match(
      e.message,
      new RegExp(
        `^Pull of ${server.host}/x/y:1 failed: registry ${server.host} stopped sending data for 0\\.\\d s \\(2 attempts\\); check the network, or raise IMG_REGISTRY_TIMEOUT if the registry is just slow$`,
      ),
    );
    return true;
  });
  const elapsed = Date.now() - start;
  assert.ok(elapsed >= 550 && elapsed < 3000, `${elapsed} ms`);
});

Deno.test("a manifest whose connection breaks mid-body is fetched again", async () => {
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256("{}"), size: 2 },
    layers: [],
  }));
  await using server = fakeRegistry((_req, n) =>
    new Response(n === 1 ? brokenBody(manifest, 10) : manifest, {
      headers: {
        "content-type": MediaType.ociManifest,
        "content-length": String(manifest.byteLength),
      },
    })
  );
  const got = await new RegistryClient({ retry: FAST_RETRY }).getManifest(
    parseReference(`${server.host}/x/y:1`),
  );
  assert.equal(got.descriptor.digest, sha256(manifest));
  assert.equal(server.requests.length, 2);
});

for (
  const [code, status] of [["BLOB_UPLOAD_UNKNOWN", 404], ["BLOB_UPLOAD_INVALID", 400]] as const
) {
  Deno.test(`an upload session the registry dropped (${code}) is started again`, async () => {
    const blob = randomBytes(3000);
    const digest = sha256(blob);
    let puts = 0;
    await using server = fakeRegistry(async (req) => {
      if (req.method === "HEAD") return new Response(null, { status: 404 });
      if (req.method === "POST") {
        return new Response(null, {
          status: 202,
          headers: { location: `/v2/x/y/blobs/uploads/${crypto.randomUUID()}` },
        });
      }
      await req.arrayBuffer();
      return ++puts === 1
        ? Response.json({ errors: [{ code, message: "blob upload dropped" }] }, { status })
        : new Response(null, { status: 201 });
    });
    await using store = await tempStore();
    await store.put(blob);
    const result = await new RegistryClient({ retry: FAST_RETRY }).pushBlob(
      parseReference(`${server.host}/x/y:1`),
      { mediaType: MediaType.ociLayerGzip, digest, size: blob.byteLength },
      store,
    );
    assert.equal(result, "uploaded");
    assert.deepEqual(server.requests.map((r) => r.method), ["HEAD", "POST", "PUT", "POST", "PUT"]);
    const sessions = server.requests.filter((r) => r.method === "PUT").map((r) => r.path);
    assert.notEqual(sessions[0], sessions[1], "a new session");
  });
}
