import assert from "node:assert/strict";
import { provenanceAttestation, type ProvenanceInput } from "./provenance.ts";

const input: ProvenanceInput = {
  mode: "min",
  frontend: "dockerfile.v0",
  frontendOptions: {
    filename: "build.Dockerfile",
    target: "final",
    "build-arg:VERSION": "1.2.3",
    "label:team": "tools",
    "multi-platform": "true",
  },
  platform: "linux/arm64",
  materials: [{
    repository: "docker.io/library/busybox",
    tag: "1.36",
    digest: `sha256:${"ab".repeat(32)}`,
    platform: "linux/arm64",
  }],
  secrets: [{ id: "npmrc", optional: false }],
  ssh: [{ id: "default", optional: true }],
  invocationId: "id-1",
  startedOn: new Date("2024-01-01T00:00:00Z"),
  finishedOn: new Date("2024-01-01T00:01:00Z"),
};

Deno.test("provenance mode=min: BuildKit's v0.2 fields, the base by digest, no build args or secret IDs", () => {
  const a = provenanceAttestation(input);
  assert.equal(a.predicateType, "https://slsa.dev/provenance/v0.2");
  assert.deepEqual(a.predicate, {
    builder: { id: "" },
    buildType: "https://mobyproject.org/buildkit@v1",
    materials: [{
      uri: "pkg:docker/docker.io/library/busybox@1.36?platform=linux%2Farm64",
      digest: { sha256: "ab".repeat(32) },
    }],
    invocation: {
      configSource: { entryPoint: "build.Dockerfile" },
      parameters: { frontend: "dockerfile.v0" },
      environment: { platform: "linux/arm64" },
    },
    metadata: {
      buildInvocationID: "id-1",
      buildStartedOn: "2024-01-01T00:00:00.000Z",
      buildFinishedOn: "2024-01-01T00:01:00.000Z",
      completeness: { parameters: false, environment: true, materials: false },
      reproducible: false,
    },
  });
  assert.ok(!JSON.stringify(a).includes("1.2.3"), "no build arg value in mode=min");
});

Deno.test("provenance mode=max: the frontend's args and locals, not img's internal options", () => {
  const p = provenanceAttestation({ ...input, mode: "max", builderId: "https://ci/run/7" })
    .predicate as Record<string, Record<string, Record<string, unknown>>>;
  assert.deepEqual(p.builder, { id: "https://ci/run/7" });
  assert.deepEqual(p.invocation.parameters, {
    frontend: "dockerfile.v0",
    args: { "build-arg:VERSION": "1.2.3", "label:team": "tools", target: "final" },
    secrets: [{ id: "npmrc", optional: false }],
    ssh: [{ id: "default", optional: true }],
    locals: [{ name: "context" }, { name: "dockerfile" }],
  });
  assert.equal((p.metadata.completeness as Record<string, boolean>).parameters, true);
});

Deno.test("provenance of a git context: its URL and commit as config source and material", () => {
  const configSource = { uri: "git://127.0.0.1/r.git#v1", digest: { sha1: "c".repeat(40) } };
  const p = provenanceAttestation({ ...input, configSource }).predicate as Record<
    string,
    Record<string, unknown> & { uri?: string }[]
  >;
  assert.deepEqual(p.invocation.configSource, { ...configSource, entryPoint: "build.Dockerfile" });
  assert.deepEqual(p.materials[0], configSource);
});
