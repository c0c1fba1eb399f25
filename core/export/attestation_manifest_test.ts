import assert from "node:assert/strict";
import { ContentStore } from "../content/store.ts";
import type { Digest } from "../digest.ts";
import type { ExportResult } from "../exporter.ts";
import { ProgressWriter } from "../progress.ts";
import type { Descriptor, Index, Manifest } from "../schemas.ts";
import { subjectNames, writeAttestationManifest } from "./attestation_manifest.ts";
import { exportImage, exportImageIndex, parseImageOutputAttributes } from "./image_output.ts";

const PROVENANCE = { predicateType: "https://slsa.dev/provenance/v0.2", predicate: { p: 1 } };
const SBOM = { predicateType: "https://spdx.dev/Document", predicate: { s: 2 } };

async function withStore(fn: (content: ContentStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(new ContentStore(`${dir}/content`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function result(architecture: string, attestations = [PROVENANCE, SBOM]): ExportResult {
  return {
    config: { os: "linux", architecture, rootfs: { type: "layers", diff_ids: [] } },
    layers: () => Promise.resolve([]),
    rootfs: "/nonexistent",
    names: ["127.0.0.1:5000/app:v1"],
    attestations,
  };
}

Deno.test("subject names are BuildKit's purls, one per name", () => {
  assert.deepEqual(
    subjectNames(["127.0.0.1:5000/app:v1", "busybox", "127.0.0.1:5000/app:v1"], "linux/amd64"),
    [
      "pkg:docker/127.0.0.1%3A5000/app@v1?platform=linux%2Famd64",
      "pkg:docker/docker.io/library/busybox@latest?platform=linux%2Famd64",
    ],
  );
});

Deno.test("an attestation manifest: in-toto layers about the subject, platform unknown/unknown", async () => {
  await withStore(async (content) => {
    const subject: Descriptor = {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${"1a".repeat(32)}`,
      size: 10,
    };
    const entry = await writeAttestationManifest(
      content,
      subject,
      [PROVENANCE, SBOM],
      [],
      "linux/amd64",
    );
    assert.deepEqual(entry.platform, { architecture: "unknown", os: "unknown" });
    assert.deepEqual(entry.annotations, {
      "vnd.docker.reference.digest": subject.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    });
    const manifest = await content.readJSON(entry.digest as Digest) as Manifest;
    assert.deepEqual(manifest.layers.map((l) => [l.mediaType, l.annotations]), [
      ["application/vnd.in-toto+json", { "in-toto.io/predicate-type": PROVENANCE.predicateType }],
      ["application/vnd.in-toto+json", { "in-toto.io/predicate-type": SBOM.predicateType }],
    ]);
    const statement = await content.readJSON(manifest.layers[1].digest as Digest);
    assert.deepEqual(statement, {
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType: SBOM.predicateType,
      subject: [{ name: "_", digest: { sha256: "1a".repeat(32) } }],
      predicate: SBOM.predicate,
    });
    const config = await content.readJSON(manifest.config.digest as Digest) as Record<
      string,
      unknown
    >;
    assert.equal(config.os, "unknown");
  });
});

Deno.test("exportImage with attestations: an index of the image and its attestation manifest; Docker media types give way", async () => {
  await withStore(async (content) => {
    const progress = new ProgressWriter();
    const warnings: string[] = [];
    progress.listen((e) => e.type === "warning" && warnings.push(e.message));
    const { image } = parseImageOutputAttributes({ "oci-mediatypes": "false" }, {});
    const out = await exportImage(result("arm64"), { content, progress }, image);
    assert.equal(out.target.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.equal(out.manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.match(warnings.join("\n"), /Attestations need OCI media types/);
    const index = await content.readJSON(out.target.digest as Digest) as Index;
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.platform]), [
      [out.manifest.digest, { os: "linux", architecture: "arm64" }],
      [index.manifests[1].digest, { architecture: "unknown", os: "unknown" }],
    ]);
    // Without attestations the target is the manifest, in the media types asked for.
    const plain = await exportImage(result("arm64", []), { content, progress }, image);
    assert.equal(plain.target.digest, plain.manifest.digest);
    assert.equal(plain.manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  });
});

Deno.test("exportImageIndex puts every platform's attestation manifest after the images", async () => {
  await withStore(async (content) => {
    const { image } = parseImageOutputAttributes({}, {});
    const { index, manifests } = await exportImageIndex(
      [
        { platform: { os: "linux", architecture: "amd64" }, result: result("amd64") },
        { platform: { os: "linux", architecture: "arm64" }, result: result("arm64") },
      ],
      { content, progress: new ProgressWriter() },
      image,
    );
    const stored = await content.readJSON(index.digest as Digest) as Index;
    assert.equal(stored.manifests.length, 4);
    assert.deepEqual(
      stored.manifests.slice(2).map((m) => m.annotations?.["vnd.docker.reference.digest"]),
      manifests.map((m) => m.digest),
    );
    const statement = await content.readJSON(
      (await content.readJSON(stored.manifests[3].digest as Digest) as Manifest).layers[0]
        .digest as Digest,
    ) as { subject: { name: string }[] };
    assert.deepEqual(statement.subject.map((s) => s.name), [
      "pkg:docker/127.0.0.1%3A5000/app@v1?platform=linux%2Farm64",
    ]);
  });
});
