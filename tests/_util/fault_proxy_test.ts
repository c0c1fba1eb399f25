import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256 } from "../../core/digest.ts";
import { pushBusybox } from "./busybox.ts";
import { startFaultProxy } from "./fault_proxy.ts";
import { startRegistry } from "./registry.ts";

async function run(cmd: string, args: string[]): Promise<{ code: number; stdout: Uint8Array }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return { code: out.code, stdout: out.stdout };
}

Deno.test("fault proxy cuts the first blob GET after N bytes; fetch keep-alive works", async () => {
  await using registry = await startRegistry();
  const pushed = await pushBusybox(registry.host);
  const layer = pushed.image!.layers[0];
  await using proxy = await startFaultProxy(registry.host, {
    resetAfterBytes: 1000,
    matchPath: /\/blobs\/sha256:/,
  });
  const base = `http://${proxy.host}/v2/library/busybox`;
  const client = Deno.createHttpClient({});
  try {
    // Requests that do not match, and a HEAD on a matching path, pass untouched.
    const m = await fetch(`${base}/manifests/latest`, {
      client,
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(m.status, 200);
    assert.equal(sha256(new Uint8Array(await m.arrayBuffer())), pushed.digest);
    const head = await fetch(`${base}/blobs/${layer.digest}`, { client, method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get("content-length")), layer.size);
    assert.equal(proxy.resets, 0);

    // The first GET of a blob: headers arrive, the body breaks after exactly 1000 bytes.
    const cut = await fetch(`${base}/blobs/${layer.digest}`, { client });
    assert.equal(cut.status, 200);
    assert.equal(Number(cut.headers.get("content-length")), layer.size);
    let got = 0;
    await assert.rejects(async () => {
      for await (const chunk of cut.body!) got += chunk.byteLength;
    });
    assert.equal(got, 1000);
    assert.equal(proxy.resets, 1);

    // The second one succeeds, with the right bytes.
    const ok = await fetch(`${base}/blobs/${layer.digest}`, { client });
    assert.equal(ok.status, 200);
    const bytes = new Uint8Array(await ok.arrayBuffer());
    assert.equal(bytes.byteLength, layer.size);
    assert.equal(sha256(bytes), layer.digest);
    assert.equal(proxy.resets, 1);

    assert.deepEqual(
      proxy.requests.map((r) => [r.method, r.status, r.faulted]),
      [["GET", 200, false], ["HEAD", 200, false], ["GET", 200, true], ["GET", 200, false]],
    );
    // Keep-alive: the first three requests shared a connection; the cut one closed it.
    assert.equal(proxy.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("fault proxy cuts `times` responses, then curl downloads the blob intact", async () => {
  await using registry = await startRegistry();
  const pushed = await pushBusybox(registry.host);
  const layer = pushed.image!.layers[0];
  await using proxy = await startFaultProxy(registry.host, {
    resetAfterBytes: 5000,
    matchPath: /\/blobs\//,
    times: 2,
  });
  const url = `http://${proxy.host}/v2/library/busybox/blobs/${layer.digest}`;
  for (let i = 0; i < 2; i++) {
    const r = await run("curl", ["-sS", "--fail", url]);
    assert.equal(r.code, 18, "curl exits with 18 (partial file)"); // CURLE_PARTIAL_FILE
    assert.equal(r.stdout.byteLength, 5000);
  }
  const r = await run("curl", ["-sS", "--fail", url]);
  assert.equal(r.code, 0);
  assert.equal(sha256(r.stdout), layer.digest);
  assert.equal(proxy.resets, 2);
});

Deno.test("fault proxy passes uploads through: skopeo push and curl with 100-continue", async () => {
  await using registry = await startRegistry();
  await using proxy = await startFaultProxy(registry.host, {
    resetAfterBytes: 10,
    matchPath: /^\/never-matches$/,
  });
  // A real client (Go net/http in skopeo) pushing through the proxy: POST, PATCH, PUT, HEAD.
  const pushed = await pushBusybox(proxy.host, "through/proxy", "v1");
  const inspect = await run("skopeo", [
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${registry.host}/through/proxy:v1`,
  ]);
  assert.equal(inspect.code, 0);
  assert.equal(sha256(inspect.stdout), pushed.digest);
  assert.ok(proxy.requests.some((r) => r.method === "PUT"));

  // A monolithic upload with `Expect: 100-continue` (an interim response).
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7) % 251);
    const digest = sha256(data);
    await Deno.writeFile(join(dir, "blob"), data);
    const start = await fetch(`http://${proxy.host}/v2/through/proxy/blobs/uploads/`, {
      method: "POST",
    });
    await start.body?.cancel();
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get("location")!, `http://${proxy.host}`);
    location.host = proxy.host;
    location.searchParams.set("digest", digest);
    const put = await run("curl", [
      "-sS",
      "--fail",
      "-H",
      "Expect: 100-continue",
      "-T",
      join(dir, "blob"),
      location.toString(),
    ]);
    assert.equal(put.code, 0);
    const get = await fetch(`http://${proxy.host}/v2/through/proxy/blobs/${digest}`);
    assert.equal(sha256(new Uint8Array(await get.arrayBuffer())), digest);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(proxy.resets, 0);
});
