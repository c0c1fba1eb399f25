import assert from "node:assert/strict";
import {
  configMatchesPlatform,
  formatPlatform,
  parsePlatform,
  platformPathName,
  selectPlatformManifest,
} from "./platform.ts";
import type { Descriptor } from "./schemas.ts";

Deno.test("parsePlatform normalizes as containerd does", () => {
  assert.equal(formatPlatform(parsePlatform("linux/aarch64")), "linux/arm64");
  assert.equal(formatPlatform(parsePlatform("linux/arm64/v8")), "linux/arm64");
  assert.equal(formatPlatform(parsePlatform("linux/arm")), "linux/arm/v7");
  assert.equal(formatPlatform(parsePlatform("x86_64")), "linux/amd64");
  assert.throws(() => parsePlatform("linux//v7"), /Invalid platform "linux\/\/v7"/);
});

Deno.test("platformPathName names a multi-platform export's directories as buildx does", () => {
  assert.equal(platformPathName(parsePlatform("linux/arm64")), "linux_arm64");
  assert.equal(platformPathName(parsePlatform("linux/arm/v7")), "linux_arm_v7");
});

Deno.test("configMatchesPlatform compares OS and architecture after normalization", () => {
  const arm64 = parsePlatform("linux/arm64");
  assert.equal(configMatchesPlatform({ os: "linux", architecture: "aarch64" }, arm64), true);
  assert.equal(configMatchesPlatform({ architecture: "arm64" }, arm64), true);
  assert.equal(configMatchesPlatform({ os: "linux", architecture: "amd64" }, arm64), false);
  assert.equal(configMatchesPlatform({}, arm64), false);
});

Deno.test("selectPlatformManifest: exact match, a lower arm variant, never an attestation", () => {
  const d = (architecture: string, variant?: string, attestation = false): Descriptor => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${architecture}${variant ?? ""}${attestation}`.padEnd(71, "0"),
    size: 1,
    platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
    ...(attestation
      ? { annotations: { "vnd.docker.reference.type": "attestation-manifest" } }
      : {}),
  });
  const index = [d("amd64"), d("arm", "v6"), d("arm64", "v8")];
  assert.equal(selectPlatformManifest(index, parsePlatform("linux/arm64")), index[2]);
  assert.equal(selectPlatformManifest(index, parsePlatform("linux/arm/v7")), index[1]);
  assert.equal(selectPlatformManifest(index, parsePlatform("linux/s390x")), undefined);
  assert.equal(
    selectPlatformManifest([d("amd64", undefined, true)], parsePlatform("linux/amd64")),
    undefined,
  );
});
