import assert from "node:assert/strict";
import { sha256 } from "../digest.ts";
import type { Descriptor } from "../schemas.ts";
import { platformChooser } from "./transfer.ts";

function entry(os: string, architecture: string, variant?: string): Descriptor {
  return {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha256(`${os}/${architecture}/${variant}`),
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  };
}

Deno.test("platformChooser picks os/architecture and skips attestations", () => {
  const list = [
    entry("unknown", "unknown"),
    entry("linux", "amd64"),
    entry("linux", "arm", "v7"),
    entry("linux", "arm64", "v8"),
  ];
  assert.equal(platformChooser({ os: "linux", architecture: "amd64" })(list), list[1]);
  assert.equal(platformChooser({ os: "linux", architecture: "arm", variant: "v7" })(list), list[2]);
  assert.equal(
    platformChooser({ os: "linux", architecture: "arm", variant: "v6" })(list),
    undefined,
  );
  assert.equal(platformChooser({ os: "linux", architecture: "arm64" })(list), list[3]);
  assert.equal(
    platformChooser({ os: "linux", architecture: "arm64", variant: "v8" })([
      entry("linux", "arm64"),
    ])?.platform?.architecture,
    "arm64",
  );
  assert.equal(platformChooser({ os: "windows", architecture: "amd64" })(list), undefined);
});
