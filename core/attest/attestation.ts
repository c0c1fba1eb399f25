/**
 * Attestations as BuildKit attaches them: an in-toto statement per predicate (SLSA
 * provenance, an SPDX SBOM) whose subject is the image manifest, stored as a layer of an
 * attestation manifest beside the image in its index.
 *
 * @module
 */
import { ImgError } from "../errors.ts";

/** The in-toto statement type BuildKit writes. */
export const IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1";
/** The media type of an in-toto statement stored as a layer. */
export const IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json";
/** The layer annotation naming a statement's predicate type. */
export const PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type";
/** The predicate type of SLSA provenance v0.2, as BuildKit writes by default. */
export const SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2";
/** The predicate type of an SPDX document. */
export const SPDX_DOCUMENT = "https://spdx.dev/Document";
/** The annotation on an attestation manifest's index entry: its kind. */
export const REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type";
/** The annotation on an attestation manifest's index entry: the image manifest it is about. */
export const REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest";
/** The value of {@linkcode REFERENCE_TYPE_ANNOTATION} for attestation manifests. */
export const ATTESTATION_MANIFEST_TYPE = "attestation-manifest";

/** One attestation of a build result, before it is bound to the image's manifest. */
export interface Attestation {
  /** The predicate's type (`https://slsa.dev/provenance/v0.2`, `https://spdx.dev/Document`). */
  predicateType: string;
  /** The predicate itself (plain JSON). */
  predicate: unknown;
}

/** A subject of an in-toto statement: a name and the digests of the artifact. */
export interface InTotoSubject {
  /** The artifact's name (a purl for an image, `_` when it has none). */
  name: string;
  /** Digests by algorithm (`{ sha256: "<hex>" }`). */
  digest: Record<string, string>;
}

/** An in-toto statement (v0.1, as BuildKit writes). */
export interface InTotoStatement {
  /** Always {@linkcode IN_TOTO_STATEMENT_TYPE}. */
  _type: string;
  /** The predicate's type. */
  predicateType: string;
  /** What the statement is about. */
  subject: InTotoSubject[];
  /** The predicate. */
  predicate: unknown;
}

/** What the build asks for: `--provenance` and `--sbom`, as buildx parses them. */
export interface AttestationRequest {
  /** SLSA provenance, with BuildKit's `mode` (`min` leaves out build args and labels). */
  provenance?: {
    /** `min` (the default) or `max`. */
    mode: "min" | "max";
    /** `builder.id`: the URL of the build (BuildKit's `builder-id` parameter). */
    builderId?: string;
  };
  /** An SPDX SBOM of the final image. */
  sbom?: boolean;
  /** The frontend's name for the provenance, as BuildKit names it (`dockerfile.v0`). */
  frontend?: string;
  /** The builder's name and version, the SBOM's creator (`img-0.1.0`). */
  tool?: string;
  /**
   * The build's context when it is a git repository: its URL (without credentials) and the
   * commit (`{ sha1: "..." }`), BuildKit's `invocation.configSource` and a material.
   */
  configSource?: { uri: string; digest: Record<string, string> };
}

/**
 * The in-toto statement of `attestation` about the image manifest `digest`, with one subject
 * per name (`pkg:docker/NAME@TAG?platform=...`, as BuildKit names them), or `_` without names.
 */
export function inTotoStatement(
  attestation: Attestation,
  digest: string,
  subjectNames: readonly string[],
): InTotoStatement {
  const [algorithm, hex] = digest.split(":", 2);
  const names = subjectNames.length ? subjectNames : ["_"];
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    predicateType: attestation.predicateType,
    subject: names.map((name) => ({ name, digest: { [algorithm]: hex } })),
    predicate: attestation.predicate,
  };
}

/**
 * The package URL (purl) of a docker image as BuildKit writes it in subjects and materials:
 * `pkg:docker/REPO@TAG?platform=OS%2FARCH` (the registry host's `:` percent-encoded).
 *
 * @param repository the repository with its registry (`127.0.0.1:5000/app`, `docker.io/library/busybox`)
 */
export function dockerPurl(repository: string, tag: string | undefined, platform?: string): string {
  const path = repository.split("/").map(encodeURIComponent).join("/");
  const version = tag ? `@${encodeURIComponent(tag)}` : "";
  return `pkg:docker/${path}${version}${
    platform ? `?platform=${encodeURIComponent(platform)}` : ""
  }`;
}

/**
 * The error for an output that cannot hold attestations (`type=docker`: a docker archive has
 * no image index, so buildx refuses it too), naming the output type and why.
 */
export function attestationsNotHeld(type: string, why: string): ImgError {
  return new ImgError(
    `type=${type} cannot hold attestations (${why}): use type=oci or type=image, or drop --provenance and --sbom`,
  );
}
