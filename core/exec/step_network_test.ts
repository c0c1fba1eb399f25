import assert from "node:assert/strict";
import {
  openStepNetwork,
  resetNetworkWarning,
  SLIRP_HOST_GATEWAY,
  slirpResolvConf,
  slirpUnavailable,
} from "./step_network.ts";

Deno.test("openStepNetwork: host and none start nothing", async () => {
  const host = await openStepNetwork("host", { env: { PATH: "/nonexistent" } });
  assert.equal(host.kind, "host");
  assert.equal(host.hostGateway, "127.0.0.1");
  await host.close();
  const none = await openStepNetwork("none", { env: { PATH: "/nonexistent" } });
  assert.equal(none.kind, "none");
  await none.close();
});

Deno.test("openStepNetwork: without slirp4netns, the host's network and one warning naming the package", async () => {
  resetNetworkWarning();
  const warnings: string[] = [];
  const options = { env: { PATH: "/nonexistent" }, warn: (m: string) => warnings.push(m) };
  for (let i = 0; i < 3; i++) {
    const net = await openStepNetwork("default", options);
    assert.equal(net.kind, "host");
    await net.close();
  }
  assert.equal(warnings.length, 1, "warned once");
  assert.match(
    warnings[0],
    /host's network .*slirp4netns is not installed \(apt-get install slirp4netns\)/,
  );
});

Deno.test("slirpUnavailable: a tun device the user may not open is named with its fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/bin`);
    for (const p of ["slirp4netns", "unshare"]) {
      await Deno.writeTextFile(`${dir}/bin/${p}`, "#!/bin/sh\n", { mode: 0o755 });
    }
    const env = { PATH: `${dir}/bin` };
    assert.match(
      slirpUnavailable(env, `${dir}/missing-tun`)!,
      /missing-tun cannot be opened \(NotFound\): .*chmod 0666/,
    );
    await Deno.writeTextFile(`${dir}/tun`, "");
    assert.equal(slirpUnavailable(env, `${dir}/tun`), undefined);
    assert.match(slirpUnavailable({ PATH: "/nonexistent" })!, /slirp4netns is not installed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slirpResolvConf: slirp4netns's forwarder instead of the host's servers, search and options kept", () => {
  assert.equal(
    slirpResolvConf(
      "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch corp.example\noptions edns0\n",
    ),
    "nameserver 10.0.2.3\nsearch corp.example\noptions edns0\n",
  );
  assert.equal(slirpResolvConf(""), "nameserver 10.0.2.3\n");
  assert.equal(SLIRP_HOST_GATEWAY, "10.0.2.2");
});
