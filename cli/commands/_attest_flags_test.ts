import assert from "node:assert/strict";
import { gitConfigSource, parseAttestFlags, refuseUnattestedOutputs } from "./_attest_flags.ts";

/** Matches the error's message (without the class name). */
const message = (re: RegExp) => (e: unknown) => re.test((e as Error).message);

Deno.test("--provenance and --sbom parse as buildx's shorthands", () => {
  assert.equal(parseAttestFlags(undefined, undefined), undefined);
  assert.equal(parseAttestFlags("false", "0"), undefined);
  assert.equal(parseAttestFlags("mode=max,disabled=true", "False"), undefined);
  assert.deepEqual(parseAttestFlags("true", undefined), { provenance: { mode: "min" } });
  assert.deepEqual(parseAttestFlags("1", "t"), { provenance: { mode: "min" }, sbom: true });
  assert.deepEqual(parseAttestFlags("mode=max", undefined), { provenance: { mode: "max" } });
  assert.deepEqual(
    parseAttestFlags("mode=min,builder-id=https://ci.example/run/1,version=v0.2", undefined),
    { provenance: { mode: "min", builderId: "https://ci.example/run/1" } },
  );
  assert.deepEqual(parseAttestFlags(undefined, "true"), { sbom: true });
});

Deno.test("--provenance and --sbom options img cannot honour are refused by name", () => {
  const cases: [string | undefined, string | undefined, RegExp][] = [
    ["mode=full", undefined, /^Invalid --provenance mode "full"/],
    ["max", undefined, /^Invalid --provenance "max": use true, false or KEY=VALUE/],
    ["version=v1", undefined, /^--provenance version=v1 is not supported yet/],
    ["reproducible=true", undefined, /^Unknown --provenance option "reproducible"/],
    [undefined, "generator=docker/buildkit-syft-scanner", /^--sbom generator=.* cannot run/],
    [undefined, "scan-stage=true", /^Unknown --sbom option "scan-stage"/],
    [undefined, "disabled=maybe", /^Invalid --sbom disabled="maybe"/],
  ];
  for (const [provenance, sbom, expected] of cases) {
    assert.throws(() => parseAttestFlags(provenance, sbom), message(expected), String(expected));
  }
});

Deno.test("outputs that cannot hold attestations are refused, as buildx refuses type=docker", () => {
  const request = { sbom: true };
  assert.throws(
    () => refuseUnattestedOutputs(request, [{ type: "docker", attrs: {} }]),
    message(/^type=docker cannot hold attestations/),
  );
  assert.throws(
    () => refuseUnattestedOutputs(request, [{ type: "local", attrs: { dest: "x" } }]),
    message(/^type=local cannot hold attestations/),
  );
  refuseUnattestedOutputs(request, [{ type: "image", attrs: {} }, { type: "oci", attrs: {} }]);
  refuseUnattestedOutputs(undefined, [{ type: "docker", attrs: {} }]);
});

Deno.test("a git context's config source: its URL without credentials, and the commit", () => {
  const commit = "a".repeat(40);
  assert.deepEqual(gitConfigSource("https://user:tok3n@git.example/r.git#v1:app", commit), {
    uri: "https://git.example/r.git#v1:app",
    digest: { sha1: commit },
  });
  assert.equal(
    gitConfigSource("git://127.0.0.1:9418/r.git", commit).uri,
    "git://127.0.0.1:9418/r.git",
  );
  assert.equal(gitConfigSource("git@github.com:o/r.git", commit).uri, "git@github.com:o/r.git");
});
