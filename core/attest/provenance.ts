/**
 * A minimal SLSA provenance v0.2 predicate, as BuildKit writes it
 * (https://docs.docker.com/build/metadata/attestations/slsa-definitions/): `builder.id`,
 * `buildType` `https://mobyproject.org/buildkit@v1`, `invocation` (the config source: a git
 * context's URL and commit, and the Dockerfile's name; the
 * frontend and, in `mode=max` only, its options: build args, labels, the IDs of the secrets
 * and SSH agents RUN steps mounted, the local inputs), the
 * base images as `materials` by digest, and `metadata` (invocation ID, start and finish times,
 * completeness). Secrets never appear: the frontend options do not hold them.
 *
 * @module
 */
import { type Attestation, dockerPurl, SLSA_PROVENANCE_V02 } from "./attestation.ts";

/** BuildKit's `buildType` for provenance v0.2. */
export const BUILDKIT_BUILD_TYPE = "https://mobyproject.org/buildkit@v1";

/** A base image the build pulled, by digest. */
export interface ProvenanceMaterial {
  /** The repository with its registry (`docker.io/library/busybox`). */
  repository: string;
  /** Its tag, when it was named by one. */
  tag?: string;
  /** The digest it resolved to. */
  digest: string;
  /** The platform it was resolved for (`linux/amd64`). */
  platform?: string;
}

/** What the provenance of one platform's result says. */
export interface ProvenanceInput {
  /** `min` (the default) leaves out build args, labels and the local inputs; `max` has them. */
  mode: "min" | "max";
  /** The frontend, as BuildKit names it (`dockerfile.v0`). */
  frontend: string;
  /** The frontend options (`filename`, `target`, `build-arg:NAME`, `label:NAME`, ...). */
  frontendOptions: Record<string, string>;
  /** The platform built for (`linux/amd64`). */
  platform: string;
  /** The base images. */
  materials: ProvenanceMaterial[];
  /** A unique ID of the build. */
  invocationId: string;
  /** When the build started. */
  startedOn: Date;
  /** When it finished. */
  finishedOn: Date;
  /** `builder.id`: the URL of the build, when known (BuildKit's `builder-id` parameter). */
  builderId?: string;
  /** The context, when it is a git repository: its URL and commit. */
  configSource?: { uri: string; digest: Record<string, string> };
  /** The secrets RUN steps mounted, by ID only (`mode=max`): never their values. */
  secrets?: { id: string; optional: boolean }[];
  /** The SSH agents RUN steps mounted, by ID (`mode=max`). */
  ssh?: { id: string; optional: boolean }[];
}

/** The frontend options that are not user input (img's own, BuildKit's internal ones). */
const INTERNAL_OPTIONS = new Set(["multi-platform", "no-cache", "force-network-mode", "allow"]);

/** The SLSA provenance v0.2 attestation of a build, as BuildKit writes it. */
export function provenanceAttestation(input: ProvenanceInput): Attestation {
  const o = input.frontendOptions;
  const parameters: Record<string, unknown> = { frontend: input.frontend };
  if (input.mode === "max") {
    const args = Object.fromEntries(
      Object.entries(o).filter(([k]) => k !== "filename" && !INTERNAL_OPTIONS.has(k)).sort(),
    );
    if (Object.keys(args).length) parameters.args = args;
    if (input.secrets?.length) parameters.secrets = input.secrets;
    if (input.ssh?.length) parameters.ssh = input.ssh;
    parameters.locals = [{ name: "context" }, { name: "dockerfile" }];
  }
  const materials: { uri: string; digest: Record<string, string> }[] = input.materials.map((m) => {
    const [algorithm, hex] = m.digest.split(":", 2);
    return { uri: dockerPurl(m.repository, m.tag, m.platform), digest: { [algorithm]: hex } };
  });
  const source = input.configSource;
  if (source) materials.unshift({ uri: source.uri, digest: source.digest });
  return {
    predicateType: SLSA_PROVENANCE_V02,
    predicate: {
      builder: { id: input.builderId ?? "" },
      buildType: BUILDKIT_BUILD_TYPE,
      materials,
      invocation: {
        configSource: {
          ...(source ? { uri: source.uri, digest: source.digest } : {}),
          entryPoint: o.filename ?? "Dockerfile",
        },
        parameters,
        environment: { platform: input.platform },
      },
      metadata: {
        buildInvocationID: input.invocationId,
        buildStartedOn: input.startedOn.toISOString(),
        buildFinishedOn: input.finishedOn.toISOString(),
        completeness: { parameters: input.mode === "max", environment: true, materials: false },
        reproducible: false,
      },
    },
  };
}
