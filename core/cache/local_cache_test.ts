import { deepEqual, equal } from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import { buildCacheArtifact } from "./format.ts";
import { loadLocalCache, saveLocalCache } from "./local_cache.ts";

Deno.test("a local cache directory takes concurrent exports and keeps a readable index", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const content = new ContentStore(`${tmp}/content`);
    const artifacts = [];
    for (let i = 0; i < 4; i++) {
      const blob = await content.put(`layer ${i}`);
      artifacts.push(buildCacheArtifact([{
        key: `sha256:key${i}`,
        description: `step ${i}`,
        layers: [{
          descriptor: { mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size },
          diffID: blob.digest,
        }],
      }]));
    }
    const noFetch = () => Promise.reject(new Error("nothing to fetch"));
    // Different tags at once: every one ends up in index.json or the last write wins, never a
    // torn file; the same tag twice: one of the two.
    await Promise.all(
      artifacts.map((a, i) => saveLocalCache(`${tmp}/cache`, `t${i % 2}`, a, content, noFetch)),
    );
    const index = JSON.parse(await Deno.readTextFile(`${tmp}/cache/index.json`));
    equal(index.mediaType, MediaType.ociIndex);
    for (const m of index.manifests) {
      const tag = m.annotations["org.opencontainers.image.ref.name"];
      const other = new ContentStore(`${tmp}/other`);
      const source = await loadLocalCache(`${tmp}/cache`, tag, other);
      equal(source.records.length, 1);
      await source.fetch(source.records[0].layers[0].descriptor);
      equal(await other.has(source.records[0].layers[0].descriptor.digest as Digest), true);
    }
    // Sequential saves under both tags leave both.
    await saveLocalCache(`${tmp}/cache`, "t0", artifacts[0], content, noFetch);
    await saveLocalCache(`${tmp}/cache`, "t1", artifacts[1], content, noFetch);
    const tags = JSON.parse(await Deno.readTextFile(`${tmp}/cache/index.json`)).manifests
      .map((m: { annotations: Record<string, string> }) =>
        m.annotations["org.opencontainers.image.ref.name"]
      ).sort();
    deepEqual(tags, ["t0", "t1"]);
    deepEqual(
      [...Deno.readDirSync(`${tmp}/cache/blobs/sha256`)].filter((e) => e.name.endsWith(".tmp")),
      [],
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
