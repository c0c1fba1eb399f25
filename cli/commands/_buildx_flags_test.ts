import assert from "node:assert/strict";
import {
  applyOutputFlags,
  type BuildxFlags,
  frontendFlagOptions,
  imageId,
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

Deno.test("flags img cannot honour yet, and malformed ones, are refused by name", () => {
  const cases: [Partial<BuildxFlags>, RegExp][] = [
    [{ addHost: ["a"] }, /^Invalid --add-host "a": use HOST:IP/],
    [{ addHost: ["a:example.com"] }, /^Invalid --add-host "a:example.com"/],
    [{ shmSize: "lots" }, /^Invalid --shm-size "lots"/],
    [{ ulimit: ["files=1"] }, /^Invalid --ulimit "files=1": unknown limit "files"/],
    [{ ulimit: ["nofile=2:1"] }, /soft limit must not be above the hard limit/],
    [{ network: "bridge" }, /^Invalid --network "bridge"/],
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
  // As buildx, --network host asks for the entitlement itself.
  refuseUnsupported({ ...none, network: "host" });
  refuseUnsupported({ ...none, addHost: ["a:1.2.3.4"], shmSize: "64m", ulimit: ["nproc=-1"] });
  refuseUnsupported({ ...none, buildContext: ["a=./dir"] });
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
  assert.deepEqual(
    frontendFlagOptions({
      ...none,
      network: "host",
      allow: ["network.host"],
      addHost: ["a:10.1.2.3", "gw:host-gateway", "v6:::1"],
      shmSize: "128m",
      ulimit: ["nofile=512:1024", "core=0"],
    }),
    {
      "force-network-mode": "host",
      allow: "network.host",
      "add-hosts": "a=10.1.2.3,gw=host-gateway,v6=::1",
      "shm-size": String(128 * 1024 * 1024),
      ulimit: "nofile=512:1024,core=0:0",
    },
  );
  assert.deepEqual(frontendFlagOptions({ ...none, network: "host" }), {
    "force-network-mode": "host",
    allow: "network.host",
  });
  assert.deepEqual(
    frontendFlagOptions({ ...none, network: "host", allow: ["security.insecure"] }).allow,
    "security.insecure,network.host",
  );
  assert.equal(
    imageId([{ "containerimage.digest": "sha256:m", "containerimage.config.digest": "sha256:c" }]),
    "sha256:c",
  );
  assert.equal(imageId([{ "containerimage.digest": "sha256:m" }]), "sha256:m");
  assert.equal(imageId([{}]), undefined);
});
