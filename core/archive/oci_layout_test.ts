import assert from "node:assert/strict";
import { join } from "node:path";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import { parsePlatform } from "../platform.ts";
import type { Index } from "../schemas.ts";
import { buildBusyboxIndexLayout, buildBusyboxLayout } from "../../tests/_util/busybox.ts";
import { blobPath } from "./blobs.ts";
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  findOciLayoutEntry,
  importOciLayoutImage,
  readOciLayoutIndex,
} from "./oci_layout.ts";

const DESC = { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1 };

Deno.test("an index.json entry by ref name or image name, else the only one", () => {
  const a = { ...DESC, digest: "sha256:a", annotations: { [ANNOTATION_REF_NAME]: "v1" } };
  const b = { ...DESC, digest: "sha256:b", annotations: { [ANNOTATION_IMAGE_NAME]: "v2" } };
  const index: Index = { schemaVersion: 2, manifests: [a, b] };
  assert.equal(findOciLayoutEntry(index, "v1"), a);
  assert.equal(findOciLayoutEntry(index, "v2"), b);
  assert.equal(findOciLayoutEntry(index, "latest"), undefined);
  assert.equal(findOciLayoutEntry({ schemaVersion: 2, manifests: [a] }, "latest"), a);
});

Deno.test("a directory without index.json is refused with what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      readOciLayoutIndex(dir),
      /is not an OCI image layout \(no index\.json\): write one with img build -o type=oci,tar=false/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an image of a layout is copied into the content store, its blobs verified", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "img-oci-layout-reader-" });
  try {
    const built = await buildBusyboxLayout(`${tmp}/layout`, { tag: "v1" });
    const store = new ContentStore(`${tmp}/content`);
    const host = parsePlatform(`linux/${built.config.architecture}`);
    const image = await importOciLayoutImage(built.dir, built.digest, host, store);
    assert.equal(image.descriptor.digest, built.digest);
    assert.equal(image.manifest.config.digest, built.configDigest);
    for (const l of image.manifest.layers) assert.ok(await store.has(l.digest as Digest));

    // An index: the platform's manifest, and only its blobs.
    const index = await buildBusyboxIndexLayout(`${tmp}/index`, { tag: "multi" });
    const other = new ContentStore(`${tmp}/content2`);
    const arm = await importOciLayoutImage(
      index.dir,
      index.digest,
      parsePlatform("linux/arm64"),
      other,
    );
    assert.equal(arm.descriptor.digest, index.manifests[1].digest);
    assert.equal(arm.config.architecture, "arm64");
    assert.equal(await other.has(index.manifests[0].digest as Digest), false);
    await assert.rejects(
      importOciLayoutImage(index.dir, index.digest, parsePlatform("linux/s390x"), other),
      /has no manifest for platform linux\/s390x/,
    );

    // A corrupt blob is refused, a missing one named.
    const layer = image.manifest.layers[0].digest;
    await Deno.writeTextFile(join(built.dir, blobPath(layer)), "tampered");
    await assert.rejects(
      importOciLayoutImage(built.dir, built.digest, host, new ContentStore(`${tmp}/c3`)),
      /Content size mismatch|digest/,
    );
    await Deno.remove(join(built.dir, blobPath(layer)));
    await assert.rejects(
      importOciLayoutImage(built.dir, built.digest, host, new ContentStore(`${tmp}/c4`)),
      /lacks blob sha256:/,
    );
    await assert.rejects(
      importOciLayoutImage(built.dir, `sha256:${"0".repeat(64)}`, host, store),
      /has no image sha256:0+/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
