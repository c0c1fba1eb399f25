/**
 * Pulls that meet trouble: a connection reset halfway through a blob, two pulls into one
 * state dir at once, and a pull killed with SIGKILL. The content store must never hold a blob
 * under a digest it does not match.
 */
import { equal, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox } from "./_util/busybox.ts";
import { startFaultProxy } from "./_util/fault_proxy.ts";
import { img, imgOk, spawnImg } from "./_util/img.ts";

/** Random, incompressible bytes (crypto.getRandomValues takes at most 64 KiB at a time). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

async function assertContentStoreValid(state: string): Promise<number> {
  const dir = `${state}/content/blobs/sha256`;
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const hash = createHash("sha256");
    for await (const chunk of (await Deno.open(`${dir}/${e.name}`)).readable) hash.update(chunk);
    equal(hash.digest("hex"), e.name, `blob ${e.name} matches its digest`);
    n++;
  }
  return n;
}

Deno.test("a connection reset halfway through a blob download is retried and the pull succeeds", async () => {
  await using registry = await startRegistry();
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  const proxy = await startFaultProxy(registry.host, {
    resetAfterBytes: 512 * 1024,
    matchPath: /\/blobs\/sha256:/,
    times: 1,
  });
  try {
    const big = randomBytes(2 * 1024 * 1024);
    await pushBusybox(registry.host, "library/big", "latest", {
      extraLayers: [[{ path: "big.bin", content: big }]],
    });
    const r = await imgOk(["pull", `${proxy.host}/library/big:latest`], { state });
    ok(r.stdout.includes("Digest: sha256:"));
    equal(proxy.resets, 1, "the proxy cut one blob download");
    equal(await assertContentStoreValid(state), 4); // manifest, config, two layers
  } finally {
    await proxy.stop();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("two concurrent pulls into one state dir both succeed", async () => {
  await using registry = await startRegistry();
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    await pushBusybox(registry.host, "library/busybox", "latest", {
      extraLayers: [[{ path: "data.bin", content: randomBytes(4 * 1024 * 1024) }]],
    });
    await pushBusybox(registry.host, "library/other", "latest", { layered: true });
    const [a, b, c] = await Promise.all([
      img(["pull", `${registry.host}/library/busybox:latest`], { state }),
      img(["pull", `${registry.host}/library/busybox:latest`], { state }),
      img(["pull", `${registry.host}/library/other:latest`], { state }),
    ]);
    for (const r of [a, b, c]) equal(r.code, 0, r.stderr);
    const ls = await imgOk(["ls"], { state });
    equal(ls.stdout.trimEnd().split("\n").length, 3);
    await assertContentStoreValid(state);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("after kill -9 during a pull, the next pull succeeds and every blob matches its digest", async () => {
  await using registry = await startRegistry();
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    await pushBusybox(registry.host, "library/big", "latest", {
      extraLayers: [
        [{ path: "a.bin", content: randomBytes(48 * 1024 * 1024) }],
        [{ path: "b.bin", content: randomBytes(48 * 1024 * 1024) }],
      ],
    });
    const ref = `${registry.host}/library/big:latest`;
    const child = spawnImg(["pull", ref], { state });
    // Kill it once some layer bytes have arrived in the ingest directory.
    const ingest = `${state}/content/ingest`;
    const deadline = Date.now() + 20_000;
    let partial = false;
    while (Date.now() < deadline && !partial) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        for await (const e of Deno.readDir(ingest)) {
          if ((await Deno.stat(`${ingest}/${e.name}`)).size > 1024 * 1024) partial = true;
        }
      } catch { /* not created yet */ }
    }
    child.kill("SIGKILL");
    const status = await child.status;
    ok(partial, "the pull was killed mid-download");
    equal(status.signal, "SIGKILL");
    await child.stdout.cancel();
    await child.stderr.cancel();
    await assertContentStoreValid(state);
    const ls = await imgOk(["ls"], { state });
    equal(ls.stdout.trimEnd().split("\n").length, 1, "the killed pull stored no image");

    await imgOk(["pull", ref], { state });
    equal(await assertContentStoreValid(state), 5);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
