import assert from "node:assert/strict";
import { type ExecOp, type FrontendClient, type ImageConfig, parsePlatform } from "@img/core";
import { DockerfileFrontend } from "./frontend.ts";

const DOCKERFILE = `FROM busybox
RUN echo default
RUN --network=none echo none
RUN --network=host echo host
RUN --security=insecure echo insecure
`;

function client(text: string): FrontendClient {
  return {
    readFile: (input, path) =>
      Promise.resolve(
        input === "dockerfile" && path === "Dockerfile"
          ? new TextEncoder().encode(text)
          : undefined,
      ),
    resolveImageConfig: (ref) => {
      const digest = `sha256:${"a".repeat(64)}`;
      const config: ImageConfig = {
        architecture: "amd64",
        os: "linux",
        config: { Env: ["PATH=/bin"] },
        rootfs: { type: "layers", diff_ids: [] },
      };
      return Promise.resolve({ ref: `${ref}@${digest}`, digest, config });
    },
    warn: () => {},
  };
}

async function execOps(options: Record<string, string>, text = DOCKERFILE): Promise<ExecOp[]> {
  const def = await new DockerfileFrontend().solve(
    { options, platforms: [parsePlatform("linux/amd64")] },
    client(text),
  );
  // In the Dockerfile's order.
  return [...def.graph.vertices.values()].flatMap((v) => v.op.type === "exec" ? [v.op] : [])
    .sort((a, b) => DOCKERFILE.indexOf(a.args.at(-1)!) - DOCKERFILE.indexOf(b.args.at(-1)!));
}

Deno.test("RUN network and security: BuildKit's sandbox by default, the entitlements they need", async () => {
  const ops = await execOps({ allow: "network.host,security.insecure" });
  assert.deepEqual(
    ops.map((o) => [o.args.at(-1), o.network, o.security]),
    [
      ["echo default", undefined, undefined],
      ["echo none", "none", undefined],
      ["echo host", "host", undefined],
      ["echo insecure", undefined, "insecure"],
    ],
  );
  await assert.rejects(execOps({ allow: "network.host" }), /security\.insecure is not allowed/);
  await assert.rejects(execOps({ allow: "security.insecure" }), /network\.host is not allowed/);

  // --network (force-network-mode) applies to the steps that ask for nothing themselves.
  const forced = await execOps({
    "force-network-mode": "none",
    allow: "network.host,security.insecure",
  });
  assert.deepEqual(forced.map((o) => o.network), ["none", "none", "host", "none"]);
  await assert.rejects(
    execOps({ "force-network-mode": "host" }, "FROM busybox\nRUN true\n"),
    /network\.host is not allowed/,
  );
});

Deno.test("add-hosts, shm-size and ulimit options reach every RUN, as BuildKit's exec op meta", async () => {
  const [op] = await execOps({
    "add-hosts": "DB=10.1.2.3,gw=host-gateway",
    "shm-size": String(128 * 1024 * 1024),
    ulimit: "nofile=512:1024,nproc=-1:-1",
  }, "FROM busybox\nRUN true\n");
  assert.deepEqual(op.extraHosts, [{ host: "db", ip: "10.1.2.3" }, {
    host: "gw",
    ip: "host-gateway",
  }]);
  assert.equal(op.shmSize, 128 * 1024 * 1024);
  assert.deepEqual(op.ulimits, [
    { name: "nofile", soft: 512, hard: 1024 },
    { name: "nproc", soft: -1, hard: -1 },
  ]);
  await assert.rejects(execOps({ "shm-size": "64m" }), /Invalid shm-size "64m"/);
  await assert.rejects(execOps({ ulimit: "nofile=2:1" }), /soft limit must not be above/);
  await assert.rejects(execOps({ "add-hosts": "db=nowhere" }), /Invalid --add-host "db=nowhere"/);
});
