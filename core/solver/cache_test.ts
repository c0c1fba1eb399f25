import { deepEqual, equal } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { StateDB } from "../state/db.ts";
import { BuildCache, type LayerRecord, layerVariant, PULLED_VARIANT } from "./cache.ts";

const GZIP: LayerRecord = {
  digest: "sha256:" + "1".repeat(64),
  diffID: "sha256:" + "a".repeat(64),
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  size: 10,
};
const ZSTD: LayerRecord = {
  digest: "sha256:" + "2".repeat(64),
  diffID: "sha256:" + "a".repeat(64),
  mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
  size: 9,
};

Deno.test("layerVariant names compression, level and epoch", () => {
  equal(layerVariant({}), "gzip");
  equal(layerVariant({ compression: "zstd", level: 19 }), "zstd:19");
  equal(layerVariant({ compression: "gzip", sourceDateEpoch: 0 }), "gzip@0");
  equal(
    layerVariant({ compression: "uncompressed", level: 3, sourceDateEpoch: 5 }),
    "uncompressed@5",
  );
});

Deno.test("the gzip and zstd blobs of one snapshot coexist", () => {
  const dir = Deno.makeTempDirSync();
  const db = new StateDB(join(dir, "img.db"));
  try {
    const cache = new BuildCache(db, "native");
    cache.recordLayer("snap", "gzip", GZIP);
    cache.recordLayer("snap", "zstd", ZSTD);
    new BuildCache(db, "overlayfs").recordLayer("snap", "gzip", ZSTD);
    equal(cache.layer("snap", "gzip")?.digest, GZIP.digest);
    equal(cache.layer("snap", "zstd")?.digest, ZSTD.digest);
    equal(cache.layer("snap", "gzip@1"), undefined);
    deepEqual([...cache.layerVariants("snap")], [["gzip", GZIP], ["zstd", ZSTD]]);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the migration keeps pulled layer records and drops built ones", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "img.db");
  // The layer table as schema version 3 had it (and the tables later migrations refer to).
  const old = new DatabaseSync(path);
  old.exec(`CREATE TABLE images (name TEXT PRIMARY KEY, digest TEXT NOT NULL);
   CREATE TABLE cache (backend TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (backend, key));
   CREATE TABLE layers (
     backend TEXT NOT NULL, snapshot TEXT NOT NULL, diff_id TEXT NOT NULL,
     digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
     PRIMARY KEY (backend, snapshot));
   INSERT INTO layers VALUES ('native', 'layer-abc', '${GZIP.diffID}', '${GZIP.digest}',
     '${GZIP.mediaType}', 10);
   INSERT INTO layers VALUES ('native', 'built-1', '${ZSTD.diffID}', '${ZSTD.digest}',
     '${ZSTD.mediaType}', 9);
   PRAGMA user_version = 3;`);
  old.close();
  const db = new StateDB(path);
  try {
    const cache = new BuildCache(db, "native");
    deepEqual(cache.layer("layer-abc", PULLED_VARIANT), GZIP);
    deepEqual([...cache.layerVariants("built-1")], []);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
