/**
 * Integration tests against the real distribution registry (`/usr/bin/docker-registry`), in
 * each auth mode.
 */
import assert from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import { parseReference } from "../reference.ts";
import { startRegistry, type TestRegistry } from "../../tests/_util/registry.ts";
import { startFaultProxy } from "../../tests/_util/fault_proxy.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { platformChooser, pull, push, type TransferProgress } from "./transfer.ts";
import { makeTestImage, makeTestIndex, MemoryCredentialStore } from "./_test_image.ts";

const amd64 = platformChooser({ os: "linux", architecture: "amd64" });

async function tempStore(): Promise<ContentStore & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "img-registry-client-test-" });
  const store = new ContentStore(dir) as ContentStore & AsyncDisposable;
  store[Symbol.asyncDispose] = () => Deno.remove(dir, { recursive: true });
  return store;
}

function clientFor(registry: TestRegistry, extra: RegistryClientOptions = {}): RegistryClient {
  const credentials = new MemoryCredentialStore();
  if (registry.username) {
    credentials.entries.set(registry.host, {
      username: registry.username,
      password: registry.password!,
    });
  }
  return new RegistryClient({ credentials, ...extra });
}

/** Records the method and path of every request a client sends. */
function recordingFetch(log: string[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    log.push(`${init?.method ?? "GET"} ${url.pathname}${url.search}`);
    return fetch(input, init);
  };
}

for (const auth of ["none", "htpasswd", "token"] as const) {
  Deno.test(`push and pull an image round trip (auth: ${auth})`, async () => {
    await using registry = await startRegistry({ auth });
    await using src = await tempStore();
    await using dst = await tempStore();
    const image = await makeTestImage(src, { layerSizes: [10_000, 20_000] });
    const ref = parseReference(`${registry.host}/team/app:1.0`);
    const client = clientFor(registry);

    const events: TransferProgress[] = [];
    const pushed = await push(client, ref, image.manifest, src, {
      onProgress: (e) => events.push(e),
    });
    assert.equal(pushed.digest, image.manifest.digest);
    assert.deepEqual(
      events.filter((e) => e.status === "done").map((e) => e.descriptor.digest).sort(),
      [...image.layers, image.config].map((d) => d.digest).sort(),
    );

    // Pushing again finds every blob there already.
    const again: TransferProgress[] = [];
    await push(client, ref, image.manifest, src, { onProgress: (e) => again.push(e) });
    assert.equal(again.filter((e) => e.status === "exists").length, 3);

    // A fresh client (no cached tokens) pulls it into another store.
    const result = await clientFor(registry).pull(ref, dst, { choose: amd64 });
    assert.equal(result.manifest.digest, image.manifest.digest);
    assert.equal(result.descriptor.digest, image.manifest.digest);
    assert.equal(result.index, undefined);
    assert.equal(result.config.digest, image.config.digest);
    assert.deepEqual(result.layers.map((l) => l.digest), image.layers.map((l) => l.digest));
    for (const d of [image.manifest, image.config, ...image.layers]) {
      assert.deepEqual(await dst.read(d.digest as Digest), await src.read(d.digest as Digest));
    }

    // The manifest as the registry serves it.
    const got = await clientFor(registry).getManifest(ref);
    assert.equal(got.mediaType, MediaType.ociManifest);
    assert.equal(got.descriptor.digest, image.manifest.digest);
    const head = await clientFor(registry).headManifest(ref);
    assert.equal(head?.digest, image.manifest.digest);
    assert.equal(head?.size, image.manifest.size);
    assert.equal(
      await clientFor(registry).headManifest(parseReference(`${registry.host}/team/app:nope`)),
      undefined,
    );
  });
}

Deno.test("pull picks the platform's manifest from an index", async () => {
  await using registry = await startRegistry({ auth: "token" });
  await using src = await tempStore();
  await using dst = await tempStore();
  const a = await makeTestImage(src, { platform: { os: "linux", architecture: "amd64" } });
  const b = await makeTestImage(src, {
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
  });
  const index = await makeTestIndex(src, [a.manifest, b.manifest]);
  const ref = parseReference(`${registry.host}/multi:latest`);
  const client = clientFor(registry);
  await push(client, ref, index, src);

  const result = await pull(clientFor(registry), ref, dst, {
    choose: platformChooser({ os: "linux", architecture: "arm64" }),
  });
  assert.equal(result.index?.digest, index.digest);
  assert.equal(result.descriptor.digest, index.digest);
  assert.equal(result.manifest.digest, b.manifest.digest);
  assert.deepEqual(result.manifest.platform, { os: "linux", architecture: "arm64", variant: "v8" });
  assert.equal(result.config.digest, b.config.digest);
  assert.ok(await dst.has(index.digest as Digest));
  assert.ok(await dst.has(b.layers[0].digest as Digest));
  assert.equal(
    await dst.has(a.layers[0].digest as Digest),
    false,
    "the other platform's layer is not pulled",
  );

  // The amd64 one by the digest in the index.
  const resolved = await client.resolve(ref, amd64);
  assert.equal(resolved.manifest.descriptor.digest, a.manifest.digest);

  await assert.rejects(
    client.resolve(ref, platformChooser({ os: "linux", architecture: "s390x" })),
    (e: Error) => {
      assert.match(
        e.message,
        /^Pull of 127\.0\.0\.1:\d+\/multi:latest failed: the image has no manifest for the requested platform \(it has linux\/amd64, linux\/arm64\/v8\)/,
      );
      return true;
    },
  );
});

Deno.test("htpasswd registry refuses anonymous access with an img login hint", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  await using src = await tempStore();
  const image = await makeTestImage(src);
  const ref = parseReference(`${registry.host}/private/app:1`);
  const anonymous = new RegistryClient();

  await assert.rejects(push(anonymous, ref, image.manifest, src), (e: unknown) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.status, 401);
    assert.equal(
      e.message,
      `Push of ${registry.host}/private/app:1 failed: unauthorized: authentication required (run \`img login ${registry.host}\` if the registry needs credentials)`,
    );
    return true;
  });
  await assert.rejects(
    anonymous.getManifest(ref),
    /Pull of .* failed: unauthorized: authentication required/,
  );

  const wrong = new MemoryCredentialStore();
  wrong.entries.set(registry.host, { username: registry.username!, password: "wrong" });
  await assert.rejects(
    new RegistryClient({ credentials: wrong }).getManifest(ref),
    /failed: unauthorized: authentication required \(check that your account has access, or run `img login 127\.0\.0\.1:\d+` again\)/,
  );

  // Manifest unknown comes through as the registry worded it.
  await assert.rejects(clientFor(registry).getManifest(ref), (e: unknown) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "MANIFEST_UNKNOWN");
    assert.equal(
      e.message,
      `Pull of ${registry.host}/private/app:1 failed: manifest unknown: manifest unknown`,
    );
    return true;
  });
});

Deno.test("checkLogin verifies credentials with Basic auth", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  const client = new RegistryClient();
  await client.checkLogin(registry.host, {
    username: registry.username!,
    password: registry.password!,
  });
  await assert.rejects(
    client.checkLogin(registry.host, { username: registry.username!, password: "nope" }),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(
        e.message,
        `Login to ${registry.host} failed: unauthorized: authentication required`,
      );
      return true;
    },
  );
});

Deno.test("checkLogin verifies credentials through the token server", async () => {
  await using registry = await startRegistry({ auth: "token" });
  const client = new RegistryClient();
  await client.checkLogin(registry.host, {
    username: registry.username!,
    password: registry.password!,
  });
  assert.equal(registry.tokenServer!.issued.basic, 1);
  await assert.rejects(
    client.checkLogin(registry.host, { username: registry.username!, password: "nope" }),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(
        e.message,
        `Login to ${registry.host} failed: unauthorized: incorrect username or password`,
      );
      return true;
    },
  );
});

Deno.test("checkLogin succeeds against a registry without auth", async () => {
  await using registry = await startRegistry();
  await new RegistryClient().checkLogin(registry.host, { username: "any", password: "thing" });
});

Deno.test("token registry: anonymous pull works where the token server grants it, anonymous push does not", async () => {
  await using registry = await startRegistry({ auth: "token", anonymousPull: true });
  await using src = await tempStore();
  await using dst = await tempStore();
  const image = await makeTestImage(src);
  const ref = parseReference(`${registry.host}/public/app:1`);
  await push(clientFor(registry), ref, image.manifest, src);

  const anonymous = new RegistryClient();
  const result = await pull(anonymous, ref, dst, { choose: amd64 });
  assert.equal(result.manifest.digest, image.manifest.digest);
  assert.ok(registry.tokenServer!.issued.anonymous > 0);
  // ...but an anonymous push is not granted.
  await assert.rejects(
    push(anonymous, parseReference(`${registry.host}/public/other:1`), image.manifest, src),
    /Push of 127\.0\.0\.1:\d+\/public\/other:1 failed: unauthorized: authentication required \(run `img login/,
  );
});

Deno.test("token registry: an identity token is exchanged with an OAuth2 refresh grant", async () => {
  await using registry = await startRegistry({ auth: "token" });
  await using src = await tempStore();
  const image = await makeTestImage(src);
  const credentials = new MemoryCredentialStore();
  credentials.entries.set(registry.host, {
    username: "",
    password: "",
    identityToken: registry.identityToken,
  });
  const client = new RegistryClient({ credentials });
  const ref = parseReference(`${registry.host}/oauth/app:1`);
  await push(client, ref, image.manifest, src);
  assert.equal((await client.getManifest(ref)).descriptor.digest, image.manifest.digest);
  assert.ok(registry.tokenServer!.issued.refresh > 0);
  assert.equal(registry.tokenServer!.issued.basic, 0);
  assert.deepEqual([...new Set(credentials.asked)], [registry.host]);
});

Deno.test("token registry: tokens are cached per scope", async () => {
  await using registry = await startRegistry({ auth: "token" });
  await using src = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [100, 200, 300] });
  const client = clientFor(registry);
  const ref = parseReference(`${registry.host}/cache/app:1`);
  await push(client, ref, image.manifest, src);
  // One push token (pull,push) for all the blob and manifest requests.
  assert.equal(registry.tokenServer!.issued.basic, 1);
  await client.getManifest(ref);
  await client.getManifest(ref);
  // One more for the pull scope.
  assert.equal(registry.tokenServer!.issued.basic, 2);
});

for (const auth of ["none", "token"] as const) {
  Deno.test(`cross-repository mount (auth: ${auth})`, async () => {
    await using registry = await startRegistry({ auth });
    await using src = await tempStore();
    const image = await makeTestImage(src, { layerSizes: [5000] });
    const base = parseReference(`${registry.host}/base/img:1`);
    await push(clientFor(registry), base, image.manifest, src);

    const log: string[] = [];
    const client = clientFor(registry, { fetch: recordingFetch(log) });
    const target = parseReference(`${registry.host}/derived/img:1`);
    const events: TransferProgress[] = [];
    await push(client, target, image.manifest, src, {
      mountFrom: base,
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(
      events.filter((e) => e.status === "mounted").length,
      2,
      "layer and config mounted",
    );
    assert.equal(
      log.filter((l) => l.startsWith("POST /v2/derived/img/blobs/uploads/?mount=")).length,
      2,
    );
    assert.equal(
      log.filter((l) => l.startsWith("PUT /v2/derived/img/blobs/")).length,
      0,
      "nothing uploaded",
    );

    // Mounting from a repository that lacks the blob falls back to an upload.
    const other = await makeTestImage(src, { layerSizes: [700] });
    const result = await client.pushBlob(target, other.layers[0], src, { mountFrom: base });
    assert.equal(result, "uploaded");
    assert.ok(await client.blobExists(target, other.layers[0].digest as Digest));
  });
}

Deno.test("blobs larger than the chunk size are uploaded in PATCH chunks", async () => {
  await using registry = await startRegistry({ auth: "htpasswd" });
  await using src = await tempStore();
  await using dst = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [300 * 1024] });
  const layer = image.layers[0];
  assert.ok(layer.size > 4 * 64 * 1024 && layer.size <= 5 * 64 * 1024, `layer size ${layer.size}`);
  const log: string[] = [];
  const client = clientFor(registry, { chunkSize: 64 * 1024, fetch: recordingFetch(log) });
  const ref = parseReference(`${registry.host}/big/app:1`);
  const sent: number[] = [];
  assert.equal(
    await client.pushBlob(ref, layer, src, { onProgress: (n) => sent.push(n) }),
    "uploaded",
  );
  assert.equal(log.filter((l) => l.startsWith("PATCH /v2/big/app/blobs/uploads/")).length, 5);
  assert.equal(sent.at(-1), layer.size);
  assert.equal(sent.length, 5);
  assert.ok(
    log.some((l) =>
      l.startsWith("PUT /v2/big/app/blobs/uploads/") && l.includes(`digest=sha256%3A`)
    ),
  );

  await push(client, ref, image.manifest, src);
  const result = await pull(clientFor(registry), ref, dst, { choose: amd64 });
  assert.deepEqual(result.layers, [layer]);
  assert.deepEqual(await dst.read(layer.digest as Digest), await src.read(layer.digest as Digest));
});

Deno.test("pull by digest verifies the manifest digest and skips blobs already present", async () => {
  await using registry = await startRegistry();
  await using src = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [1000, 2000] });
  const client = clientFor(registry);
  await push(client, parseReference(`${registry.host}/pinned:1`), image.manifest, src);
  const byDigest = parseReference(`${registry.host}/pinned@${image.manifest.digest}`);
  const log: string[] = [];
  const recording = clientFor(registry, { fetch: recordingFetch(log) });
  // The source store has every blob: nothing but the manifest is fetched.
  const result = await pull(recording, byDigest, src, { choose: amd64 });
  assert.equal(result.manifest.digest, image.manifest.digest);
  assert.deepEqual(log.filter((l) => l.includes("/blobs/")), []);
});

Deno.test("a layer download reset mid-body resumes with Range against the real registry", async () => {
  await using registry = await startRegistry({ auth: "token" });
  await using src = await tempStore();
  await using dst = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [2_000_000] });
  await push(
    clientFor(registry),
    parseReference(`${registry.host}/reset/app:1`),
    image.manifest,
    src,
  );
  const layer = image.layers[0];
  await using proxy = await startFaultProxy(registry.host, {
    resetAfterBytes: 500_000,
    matchPath: new RegExp(`/blobs/${layer.digest}$`),
  });
  // The token realm stays the registry's token server; only registry traffic goes through the proxy.
  const credentials = new MemoryCredentialStore();
  credentials.entries.set(proxy.host, {
    username: registry.username!,
    password: registry.password!,
  });
  const client = new RegistryClient({ credentials });
  const result = await client.pull(parseReference(`${proxy.host}/reset/app:1`), dst, {
    choose: amd64,
  });
  assert.deepEqual(result.layers, [layer]);
  assert.deepEqual(await dst.read(layer.digest as Digest), await src.read(layer.digest as Digest));
  assert.equal(proxy.resets, 1);
  const layerRequests = proxy.requests.filter((r) => r.path.endsWith(layer.digest));
  assert.deepEqual(layerRequests.map((r) => [r.status, r.faulted]), [[200, true], [206, false]]);
  assert.match(layerRequests[1].headers.get("range") ?? "", /^bytes=[1-9]\d*-$/);
});

Deno.test("a PATCH chunk cut half-way starts a new upload session against the real registry", async () => {
  await using registry = await startRegistry();
  await using src = await tempStore();
  await using dst = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [300 * 1024] });
  const layer = image.layers[0];
  await using proxy = await startFaultProxy(registry.host, {
    fault: "drop-upload",
    matchPath: /\/blobs\/uploads\//,
    matchMethod: "PATCH",
  });
  // The first chunk of the first session is cut off half-way.
  const log: string[] = [];
  const client = new RegistryClient({ chunkSize: 64 * 1024, fetch: recordingFetch(log) });
  const ref = parseReference(`${proxy.host}/dropped/app:1`);
  assert.equal(await client.pushBlob(ref, layer, src), "uploaded");
  assert.equal(proxy.resets, 1);
  const posts = log.filter((l) => l.startsWith("POST /v2/dropped/app/blobs/uploads/"));
  assert.equal(posts.length, 2, "a second session");
  assert.equal(log.filter((l) => l.startsWith("PATCH ")).length, 1 + 5);
  await push(client, ref, image.manifest, src);
  const result = await pull(
    clientFor(registry),
    parseReference(`${registry.host}/dropped/app:1`),
    dst,
    {
      choose: amd64,
    },
  );
  assert.deepEqual(await dst.read(layer.digest as Digest), await src.read(layer.digest as Digest));
  assert.deepEqual(result.layers, [layer]);
});

Deno.test("listTags follows the registry's Link pages (auth: token)", async () => {
  await using registry = await startRegistry({ auth: "token" });
  await using src = await tempStore();
  const image = await makeTestImage(src, { layerSizes: [1_000] });
  const names = ["a", "b", "c", "d", "e"];
  const base = clientFor(registry);
  for (const tag of names) {
    await push(base, parseReference(`${registry.host}/team/app:${tag}`), image.manifest, src);
  }
  // The registry's full list served in pages of two with Link headers, as registries that
  // paginate answer (this distribution version sends every tag at once); auth stays real.
  const log: string[] = [];
  const client = clientFor(registry, {
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (!url.pathname.endsWith("/tags/list")) return fetch(url, init);
      log.push(url.search);
      const res = await fetch(new URL(url.pathname, url), init);
      if (res.status !== 200) return res;
      const all = ((await res.json()).tags as string[]).sort();
      const last = url.searchParams.get("last");
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + 2);
      const headers = new Headers({ "content-type": "application/json" });
      if (start + 2 < all.length) {
        headers.set("link", `<${url.pathname}?n=2&last=${page[page.length - 1]}>; rel="next"`);
      }
      return new Response(JSON.stringify({ name: "team/app", tags: page }), { headers });
    },
  });
  const tags = await client.listTags(parseReference(`${registry.host}/team/app`));
  assert.deepEqual(tags.sort(), names);
  assert.deepEqual(log, ["", "?n=2&last=b", "?n=2&last=d"]);
  await assert.rejects(
    base.listTags(parseReference(`${registry.host}/team/missing`)),
    /Pull of .*team\/missing.* failed/,
  );
});
