/**
 * Remote blobs against the real distribution registry: an image whose layers stay in the
 * registry is pulled with `deferLayers`, pushed by mounting them, and fetched on demand.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { parseReference } from "../reference.ts";
import { RegistryClient } from "../registry/client.ts";
import { platformChooser, pull, push, type TransferProgress } from "../registry/transfer.ts";
import { makeTestImage, makeTestIndex } from "../registry/_test_image.ts";
import { StateDB } from "../state/db.ts";
import { startRegistry } from "../../tests/_util/registry.ts";
import { startFaultProxy } from "../../tests/_util/fault_proxy.ts";
import { downloadedBlobs } from "../../tests/_util/registry_log.ts";
import { RemoteBlobs } from "./remote_blobs.ts";

async function tempState(): Promise<
  { db: StateDB; content: ContentStore } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "img-remote-blobs-test-" });
  const db = new StateDB(join(dir, "img.db"));
  return {
    db,
    content: new ContentStore(join(dir, "content")),
    [Symbol.asyncDispose]: async () => {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("remote blobs: sources are kept per repository, the latest first; a mount source is another repository of the same registry", async () => {
  await using state = await tempState();
  const remote = new RemoteBlobs(state, () => Promise.reject(new Error("no registry needed")));
  const d = "sha256:" + "a".repeat(64);
  remote.record([d, d], parseReference("reg.example/cache/app:max"));
  remote.record([d], parseReference("other.example/app:v1"));
  deepEqual(remote.sources(d), [
    { domain: "other.example", path: "app" },
    { domain: "reg.example", path: "cache/app" },
  ]);
  deepEqual(remote.mountSource(d, parseReference("reg.example/app:b")), {
    domain: "reg.example",
    path: "cache/app",
  });
  equal(remote.mountSource(d, parseReference("reg.example/cache/app:other")), undefined);
  equal(remote.mountSource(d, parseReference("third.example/app:b")), undefined);
  deepEqual(remote.sources("sha256:" + "b".repeat(64)), []);
  await rejects(
    remote.fetch([{ mediaType: "x", digest: "sha256:" + "b".repeat(64), size: 1 }]),
    /Layer sha256:b+ is not in the content store and no registry is known to have it: pull or build the image again/,
  );
});

Deno.test("remote blobs: a deferred pull downloads the config only; a push mounts the layers, fetches them for another registry, and they are fetched once", async () => {
  await using registry = await startRegistry();
  await using proxy = await startFaultProxy(registry.host, { times: 0 });
  await using other = await startRegistry();
  await using source = await tempState();
  await using state = await tempState();
  const client = new RegistryClient();
  const image = await makeTestImage(source.content, { layerSizes: [3000, 5000] });
  const src = parseReference(`${proxy.host}/cache/app:max`);
  await push(client, src, image.manifest, source.content);

  const remote = new RemoteBlobs(state, () => Promise.resolve(client));
  const seen = proxy.requests.length;
  const pulled = await pull(client, src, state.content, {
    choose: platformChooser({ os: "linux", architecture: "amd64" }),
    deferLayers: remote,
  });
  deepEqual(downloadedBlobs(proxy.requests.slice(seen)), [image.config.digest]);
  equal(await state.content.has(pulled.manifest.digest as Digest), true);
  deepEqual(await remote.missing(image.layers), image.layers);
  deepEqual(remote.sources(image.layers[0].digest), [{ domain: proxy.host, path: "cache/app" }]);

  // To another repository of the registry: mounted, nothing downloaded.
  const events: TransferProgress[] = [];
  const pushSeen = proxy.requests.length;
  await push(client, parseReference(`${proxy.host}/app/b:v1`), pulled.manifest, state.content, {
    remote,
    onProgress: (e) => events.push(e),
  });
  deepEqual(downloadedBlobs(proxy.requests.slice(pushSeen)), []);
  deepEqual(
    events.filter((e) => e.status === "mounted").map((e) => e.descriptor.digest).sort(),
    image.layers.map((l) => l.digest).sort(),
  );

  // To another registry: each layer is fetched (once) and uploaded.
  const otherSeen = proxy.requests.length;
  await push(client, parseReference(`${other.host}/app:v1`), pulled.manifest, state.content, {
    remote,
  });
  deepEqual(
    downloadedBlobs(proxy.requests.slice(otherSeen)).sort(),
    image.layers.map((l) => l.digest).sort(),
  );
  deepEqual(await remote.missing(image.layers), []);
  await remote.fetchImage(pulled.manifest);
  equal(
    downloadedBlobs(proxy.requests.slice(otherSeen)).length,
    image.layers.length,
    "nothing fetched twice",
  );
});

Deno.test("remote blobs: fetchImage fetches the layers of an index's manifests, or one platform's; a source that fails names itself", async () => {
  await using registry = await startRegistry();
  await using source = await tempState();
  await using state = await tempState();
  const client = new RegistryClient();
  const amd64 = await makeTestImage(source.content, { layerSizes: [100] });
  const arm64 = await makeTestImage(source.content, {
    layerSizes: [200],
    platform: { os: "linux", architecture: "arm64" },
  });
  const index = await makeTestIndex(source.content, [amd64.manifest, arm64.manifest]);
  const ref = parseReference(`${registry.host}/app:multi`);
  await push(client, ref, index, source.content);
  // The state has the index, manifests and configs, and knows where the layers are.
  for (const d of [index, amd64.manifest, arm64.manifest, amd64.config, arm64.config]) {
    await state.content.put(await source.content.read(d.digest as Digest));
  }
  const remote = new RemoteBlobs(state, () => Promise.resolve(client));
  remote.record([...amd64.layers, ...arm64.layers].map((l) => l.digest), ref);

  await remote.fetchImage(index, { os: "linux", architecture: "arm64" });
  deepEqual(await remote.missing([...amd64.layers, ...arm64.layers]), amd64.layers);
  await remote.fetchImage(index);
  deepEqual(await remote.missing([...amd64.layers, ...arm64.layers]), []);

  const gone = await makeTestImage(source.content, { layerSizes: [50] });
  remote.record([gone.layers[0].digest], parseReference(`${registry.host}/nothing/here:v1`));
  const error = await remote.fetch(gone.layers).then(() => undefined, (e: Error) => e);
  ok(error, "the fetch failed");
  ok(
    error.message.startsWith(
      `Layer ${gone.layers[0].digest} could not be fetched from ${registry.host}/nothing/here:`,
    ),
    error.message,
  );
  ok(error.message.endsWith("; pull or build the image again"), error.message);
});
