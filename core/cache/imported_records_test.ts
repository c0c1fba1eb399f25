import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import { parseReference } from "../reference.ts";
import { StateDB } from "../state/db.ts";
import { BuildCacheImports } from "./imports.ts";
import {
  forgetImportedRecord,
  listImportedRecords,
  rememberImportedRecord,
  useImportedRecord,
} from "./imported_records.ts";
import type { CacheImportSpec } from "./spec.ts";

async function withState(fn: (db: StateDB, content: ContentStore, tmp: string) => Promise<void>) {
  const tmp = await Deno.makeTempDir();
  const db = new StateDB(`${tmp}/img.db`);
  try {
    await fn(db, new ContentStore(`${tmp}/content`), tmp);
  } finally {
    db.close();
    await Deno.remove(tmp, { recursive: true });
  }
}

const SPEC: CacheImportSpec = { type: "registry", ref: parseReference("reg.example/app:cache") };

Deno.test("imported records are kept with their source, touched when used, and forgotten", async () => {
  await withState(async (db) => {
    const layers = [{
      descriptor: { mediaType: MediaType.ociLayer, digest: "sha256:" + "a".repeat(64), size: 3 },
      diffID: "sha256:" + "b".repeat(64),
    }];
    rememberImportedRecord(db, { key: "sha256:k1", description: "RUN make", layers }, SPEC);
    rememberImportedRecord(db, { key: "sha256:k1", description: "RUN make", layers }, SPEC);
    const [kept] = listImportedRecords(db);
    equal(listImportedRecords(db).length, 1);
    deepEqual(kept.layers, layers);
    deepEqual(kept.source, SPEC);
    await new Promise((r) => setTimeout(r, 5));
    const used = useImportedRecord(db, "sha256:k1")!;
    ok(used.lastUsedAt.getTime() >= kept.lastUsedAt.getTime());
    ok(useImportedRecord(db, "sha256:k1")!.lastUsedAt > kept.lastUsedAt);
    equal(useImportedRecord(db, "sha256:none"), undefined);
    equal(forgetImportedRecord(db, "sha256:k1"), true);
    equal(forgetImportedRecord(db, "sha256:k1"), false);
    deepEqual(listImportedRecords(db), []);
  });
});

Deno.test("a later build finds a kept record and opens its source only when a layer is needed", async () => {
  await withState(async (db, content, tmp) => {
    const remote = new ContentStore(`${tmp}/remote`);
    const blob = await remote.put("layer bytes");
    const descriptor = { mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size };
    const record = {
      key: "sha256:step",
      description: "COPY . .",
      layers: [{ descriptor, diffID: blob.digest }],
    };
    const source = {
      name: "reg.example/app:cache",
      records: [record],
      fetch: async (d: { digest: string }) => {
        await content.put(await remote.read(d.digest as Digest));
      },
    };
    // The first build reads the source: a hit is kept.
    const first = new BuildCacheImports(content, { db });
    first.add(source, SPEC);
    deepEqual(first.lookup("sha256:step"), record);
    equal(first.lookup("sha256:other"), undefined);
    equal(listImportedRecords(db).length, 1);

    // A later build without --cache-from: found in the state; the source opens on first fetch.
    const opened: CacheImportSpec[] = [];
    const later = new BuildCacheImports(content, {
      db,
      open: (spec) => {
        opened.push(spec);
        return Promise.resolve(source);
      },
    });
    deepEqual(later.lookup("sha256:step")?.layers, record.layers);
    equal(opened.length, 0, "looking up opens nothing");
    await later.fetchLayers(record.layers);
    deepEqual(opened, [SPEC]);
    equal(await content.has(blob.digest), true);

    // Forgotten (pruned): a miss.
    forgetImportedRecord(db, "sha256:step");
    equal(new BuildCacheImports(content, { db }).lookup("sha256:step"), undefined);
    // Without an opener, a kept record's blob cannot be fetched: an error the solver turns
    // into running the step.
    rememberImportedRecord(db, record, SPEC);
    await content.delete(blob.digest);
    const blind = new BuildCacheImports(content, { db });
    ok(blind.lookup("sha256:step"));
    await rejects(blind.fetchBlob(descriptor), /No cache source has blob/);
  });
});
