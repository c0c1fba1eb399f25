/**
 * Build attestations (`@img/core/attest`): SLSA provenance and SPDX SBOM predicates of a
 * build, and the in-toto statements the image exporters attach as attestation manifests.
 *
 * @module
 */
export * from "./attestation.ts";
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
