import assert from "node:assert/strict";
import { parseSshSpec, relayAgent } from "./ssh.ts";

Deno.test("parseSshSpec: default is SSH_AUTH_SOCK, ID=PATH a socket or keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "img-ssh-spec-" });
  try {
    const sock = `${dir}/agent.sock`;
    const listener = Deno.listen({ transport: "unix", path: sock });
    try {
      assert.deepEqual(parseSshSpec("default", { SSH_AUTH_SOCK: sock }), {
        id: "default",
        paths: [sock],
      });
      assert.throws(() => parseSshSpec("default", {}), /make sure SSH_AUTH_SOCK is set/);
      await Deno.writeTextFile(`${dir}/key`, "k");
      assert.deepEqual(parseSshSpec(`gh=${dir}/key`, {}), { id: "gh", paths: [`${dir}/key`] });
      assert.throws(() => parseSshSpec(`gh=${sock},${dir}/key`, {}), /mixes an agent socket/);
      assert.throws(() => parseSshSpec(`gh=${dir}/missing`, {}), /Cannot use/);

      // The relay passes bytes both ways.
      const relayed = `${dir}/relay.sock`;
      const relay = relayAgent(sock, relayed, { mode: 0o600, uid: Deno.uid()!, gid: Deno.gid()! });
      assert.equal(Deno.statSync(relayed).mode! & 0o777, 0o600);
      const client = await Deno.connect({ transport: "unix", path: relayed });
      const server = await listener.accept();
      await client.write(new TextEncoder().encode("ping"));
      const buf = new Uint8Array(4);
      assert.equal(await server.read(buf), 4);
      assert.equal(new TextDecoder().decode(buf), "ping");
      await server.write(new TextEncoder().encode("pong"));
      assert.equal(await client.read(buf), 4);
      assert.equal(new TextDecoder().decode(buf), "pong");
      client.close();
      server.close();
      await relay.close();
    } finally {
      listener.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
