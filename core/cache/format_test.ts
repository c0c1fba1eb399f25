import { deepEqual, equal, throws } from "node:assert/strict";
import { sha256 } from "../digest.ts";
import { MediaType } from "../media_types.ts";
import { manifestSchema } from "../schemas.ts";
import {
  buildCacheArtifact,
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  parseCacheRecords,
} from "./format.ts";

const layer = (n: number) => ({
  descriptor: { mediaType: MediaType.ociLayerGzip, digest: sha256(`blob${n}`), size: n },
  diffID: sha256(`tar${n}`),
});

Deno.test("a cache artifact shares layers between records and reads back", () => {
  const records = [
    { key: "sha256:k1", description: "[1/2] RUN a", layers: [layer(1)] },
    { key: "sha256:k2", description: "[2/2] RUN b", layers: [layer(1), layer(2)] },
  ];
  const artifact = buildCacheArtifact(records);
  const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(artifact.manifest)));
  equal(manifest.mediaType, MediaType.ociManifest);
  equal(manifest.config.mediaType, CACHE_CONFIG_MEDIA_TYPE);
  equal(JSON.parse(new TextDecoder().decode(artifact.manifest)).artifactType, CACHE_ARTIFACT_TYPE);
  equal(manifest.config.digest, sha256(artifact.config));
  equal(artifact.descriptor.digest, sha256(artifact.manifest));
  deepEqual(
    manifest.layers.map((l) => l.digest),
    [layer(1), layer(2)].map((l) => l.descriptor.digest),
  );
  deepEqual(parseCacheRecords(manifest, artifact.config, "test"), records);
});

Deno.test("an image manifest or a broken config is not a cache", () => {
  const artifact = buildCacheArtifact([{ key: "k", description: "d", layers: [layer(1)] }]);
  const manifest = manifestSchema.parse(JSON.parse(new TextDecoder().decode(artifact.manifest)));
  throws(
    () =>
      parseCacheRecords(
        { ...manifest, config: { ...manifest.config, mediaType: MediaType.ociConfig } },
        artifact.config,
        "reg/app:v1",
      ),
    /reg\/app:v1 is not an img build cache/,
  );
  throws(
    () => parseCacheRecords(manifest, new TextEncoder().encode("{}"), "x"),
    /The cache config of x is not valid/,
  );
  throws(
    () => parseCacheRecords({ ...manifest, layers: [] }, artifact.config, "x"),
    /does not match its manifest's layers/,
  );
});
