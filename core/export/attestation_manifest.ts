/**
 * Attestation manifests as BuildKit writes them into an image index: for an image manifest,
 * an OCI manifest whose layers are the in-toto statements about it (media type
 * `application/vnd.in-toto+json`, annotation `in-toto.io/predicate-type`), listed in the
 * index with platform `unknown/unknown` and the annotations `vnd.docker.reference.type:
 * attestation-manifest` and `vnd.docker.reference.digest: <image manifest digest>`.
 *
 * @module
 */
import {
  type Attestation,
  ATTESTATION_MANIFEST_TYPE,
  dockerPurl,
  IN_TOTO_MEDIA_TYPE,
  inTotoStatement,
  PREDICATE_TYPE_ANNOTATION,
  REFERENCE_DIGEST_ANNOTATION,
  REFERENCE_TYPE_ANNOTATION,
} from "../attest/attestation.ts";
import type { ContentStore } from "../content/store.ts";
import { MediaType } from "../media_types.ts";
import { parseReference, repositoryName } from "../reference.ts";
import type { Descriptor, Manifest } from "../schemas.ts";

/**
 * The subject names of an image's statements, as BuildKit writes them: one purl per image
 * name (`pkg:docker/127.0.0.1%3A5000/app@v1?platform=linux%2Famd64`).
 */
export function subjectNames(names: readonly string[], platform: string): string[] {
  const out: string[] = [];
  for (const name of names) {
    const ref = parseReference(name);
    const purl = dockerPurl(repositoryName(ref), ref.tag, platform);
    if (!out.includes(purl)) out.push(purl);
  }
  return out;
}

/**
 * Writes the attestation manifest of `attestations` about the image manifest `subject` into
 * `content` (statements, config, manifest) and returns its index entry.
 *
 * @param names the image's names, for the statements' subjects
 * @param platform the image's platform (`linux/amd64`), for the subjects' purls
 */
export async function writeAttestationManifest(
  content: ContentStore,
  subject: Descriptor,
  attestations: readonly Attestation[],
  names: readonly string[],
  platform: string,
): Promise<Descriptor> {
  const subjects = subjectNames(names, platform);
  const layers: Descriptor[] = [];
  for (const a of attestations) {
    const statement = inTotoStatement(a, subject.digest, subjects);
    const info = await content.put(JSON.stringify(statement));
    layers.push({
      mediaType: IN_TOTO_MEDIA_TYPE,
      digest: info.digest,
      size: info.size,
      annotations: { [PREDICATE_TYPE_ANNOTATION]: a.predicateType },
    });
  }
  // As BuildKit: a config of platform unknown/unknown whose diff_ids are the statements.
  const config = await content.put(JSON.stringify({
    architecture: "unknown",
    os: "unknown",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
  }));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers,
  };
  const info = await content.put(JSON.stringify(manifest));
  return {
    mediaType: MediaType.ociManifest,
    digest: info.digest,
    size: info.size,
    annotations: {
      [REFERENCE_DIGEST_ANNOTATION]: subject.digest,
      [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_MANIFEST_TYPE,
    },
    platform: { architecture: "unknown", os: "unknown" },
  };
}
