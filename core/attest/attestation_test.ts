import assert from "node:assert/strict";
import { dockerPurl, inTotoStatement } from "./attestation.ts";

Deno.test("an in-toto statement names the manifest digest; `_` without names", () => {
  const attestation = { predicateType: "https://spdx.dev/Document", predicate: { a: 1 } };
  const digest = `sha256:${"0f".repeat(32)}`;
  assert.deepEqual(inTotoStatement(attestation, digest, []), {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://spdx.dev/Document",
    subject: [{ name: "_", digest: { sha256: "0f".repeat(32) } }],
    predicate: { a: 1 },
  });
  const named = inTotoStatement(attestation, digest, ["pkg:docker/a@1", "pkg:docker/b@2"]);
  assert.deepEqual(named.subject.map((s) => s.name), ["pkg:docker/a@1", "pkg:docker/b@2"]);
});

Deno.test("docker purls percent-encode the registry's port and the platform", () => {
  assert.equal(
    dockerPurl("127.0.0.1:5000/app/web", "v1", "linux/arm/v7"),
    "pkg:docker/127.0.0.1%3A5000/app/web@v1?platform=linux%2Farm%2Fv7",
  );
  assert.equal(
    dockerPurl("docker.io/library/busybox", undefined),
    "pkg:docker/docker.io/library/busybox",
  );
});
