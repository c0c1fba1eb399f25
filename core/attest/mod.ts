/**
 * Build attestations (`@img/core/attest`): SLSA provenance and SPDX SBOM predicates of a
 * build, and the in-toto statements the image exporters attach as attestation manifests.
 *
 * @module
 */
export {
  type Attestation,
  ATTESTATION_MANIFEST_TYPE,
  type AttestationRequest,
  attestationsNotHeld,
  dockerPurl,
  IN_TOTO_MEDIA_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  type InTotoStatement,
  inTotoStatement,
  type InTotoSubject,
  PREDICATE_TYPE_ANNOTATION,
  REFERENCE_DIGEST_ANNOTATION,
  REFERENCE_TYPE_ANNOTATION,
  SLSA_PROVENANCE_V02,
  SPDX_DOCUMENT,
} from "./attestation.ts";
export {
  BUILDKIT_BUILD_TYPE,
  provenanceAttestation,
  type ProvenanceInput,
  type ProvenanceMaterial,
} from "./provenance.ts";
export {
  findPackages,
  packagePurl,
  parseApkInstalled,
  parseDpkgStatus,
  sbomAttestation,
  type SbomOptions,
  type SbomPackage,
} from "./sbom.ts";
