import assert from "node:assert/strict";
import {
  applyOutputFlags,
  type BuildxFlags,
  frontendFlagOptions,
  imageId,
  refuseRemoteContext,
  refuseUnsupported,
} from "./_buildx_flags.ts";

const none: BuildxFlags = {
  noCacheFilter: [],
  annotation: [],
  allow: [],
  addHost: [],
  ulimit: [],
  buildContext: [],
};

Deno.test("--push and --load add or mark the image output; --annotation goes to image-like outputs", () => {
  assert.deepEqual(applyOutputFlags([], { ...none, load: true }), [{ type: "image", attrs: {} }]);
  assert.deepEqual(
    applyOutputFlags([{ type: "image", attrs: { name: "a" } }], { ...none, push: true }),
    [{ type: "image", attrs: { name: "a", push: "true" } }],
  );
  assert.deepEqual(
    applyOutputFlags(
      [{ type: "oci", attrs: { dest: "x" } }, { type: "local", attrs: { dest: "y" } }],
      { ...none, annotation: ["a=1", "index:b=2"] },
    ),
    [
      { type: "oci", attrs: { dest: "x", "annotation.a": "1", "annotation-index.b": "2" } },
      { type: "local", attrs: { dest: "y" } },
    ],
  );
  assert.throws(() => applyOutputFlags([], { ...none, annotation: ["x"] }), /Invalid --annotation/);
});

Deno.test("flags img cannot honour yet are refused by name", () => {
  const cases: [Partial<BuildxFlags>, RegExp][] = [
    [{ buildContext: ["a=b"] }, /^--build-context is not supported yet/],
    [{ addHost: ["a:1.1.1.1"] }, /^--add-host is not supported yet/],
    [{ shmSize: "1g" }, /^--shm-size is not supported yet/],
    [{ ulimit: ["nofile=1"] }, /^--ulimit is not supported yet/],
    [{ provenance: "mode=max" }, /^--provenance is not supported yet/],
    [{ sbom: "true" }, /^--sbom is not supported yet/],
    [{ network: "bridge" }, /^Invalid --network "bridge"/],
    [{ network: "host" }, /^--network=host needs --allow network\.host$/],
    [{ allow: ["device"] }, /^Invalid --allow "device"/],
  ];
  for (const [flags, expected] of cases) {
    assert.throws(
      () => refuseUnsupported({ ...none, ...flags }),
      (e: Error) => expected.test(e.message),
      String(expected),
    );
  }
  refuseUnsupported({ ...none, provenance: "false", sbom: "0", network: "none" });
  refuseUnsupported({ ...none, network: "host", allow: ["network.host"] });
});

Deno.test("frontend options and the image ID as buildx takes them", () => {
  assert.deepEqual(
    frontendFlagOptions({
      ...none,
      noCacheFilter: ["a", "b"],
      network: "none",
      allow: ["network.host"],
    }),
    { "no-cache": "a,b", "force-network-mode": "none", allow: "network.host" },
  );
  assert.equal(
    imageId([{ "containerimage.digest": "sha256:m", "containerimage.config.digest": "sha256:c" }]),
    "sha256:c",
  );
  assert.equal(imageId([{ "containerimage.digest": "sha256:m" }]), "sha256:m");
  assert.equal(imageId([{}]), undefined);
});

Deno.test("git contexts are refused; stdin and tarball URLs are not", () => {
  const cases: [string, RegExp][] = [
    ["https://github.com/a/b.git#main:dir", /^A git repository as the build context/],
    ["git@github.com:a/b.git", /^A git repository as the build context/],
  ];
  for (const [path, expected] of cases) {
    assert.throws(() => refuseRemoteContext(path), (e: Error) => expected.test(e.message), path);
  }
  refuseRemoteContext("./dir");
  refuseRemoteContext("-");
  refuseRemoteContext("https://example.com/ctx.tar.gz");
});
