/**
 * End-to-end tests of pull, tag, push, ls and rm against the real distribution registry,
 * checked with skopeo.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startRegistry } from "./_util/registry.ts";
import { pushBusybox, pushBusyboxIndex } from "./_util/busybox.ts";
import { img, imgOk, run } from "./_util/img.ts";

async function skopeoInspect(
  ref: string,
): Promise<{ Digest: string; Layers: string[]; Architecture: string }> {
  return JSON.parse(await run(["skopeo", "inspect", "--tls-verify=false", `docker://${ref}`]));
}

Deno.test("pull, tag, push to another repository: skopeo sees the same layers", async () => {
  await using registry = await startRegistry();
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    const pushed = await pushBusybox(registry.host, "library/busybox", "latest", { layered: true });
    const src = `${registry.host}/library/busybox:latest`;
    const pulled = await imgOk(["pull", src], { state });
    match(pulled.stdout, new RegExp(`^Pulling ${src.replace(/\./g, "\\.")}\\.\\.\\.`));
    match(pulled.stdout, new RegExp(`Digest: ${pushed.digest}`));
    match(pulled.stdout, /Size: [\d.]+(B|KiB|MiB)/);

    const dst = `${registry.host}/team/app:v1`;
    const tagged = await imgOk(["tag", src, dst], { state });
    equal(tagged.stdout.trim(), `Successfully tagged ${src} as ${dst}`);

    const pushedOut = await imgOk(["push", dst], { state });
    equal(pushedOut.stdout, `Pushing ${dst}...\nSuccessfully pushed ${dst}\n`);

    const a = await skopeoInspect(src);
    const b = await skopeoInspect(dst);
    deepEqual(b.Layers, a.Layers);
    equal(b.Digest, a.Digest);
    equal(a.Layers.length, 3);

    const ls = await imgOk(["ls"], { state });
    const lines = ls.stdout.trimEnd().split("\n");
    match(lines[0], /^NAME\s+SIZE\s+CREATED AT\s+UPDATED AT\s+DIGEST\s+PLATFORM$/);
    equal(lines.length, 3);
    for (const line of lines.slice(1)) {
      match(
        line,
        /\d+(\.\d+)?(B|KiB|MiB)\s+(Less than a second|\d+ seconds?) ago\s+.* ago\s+sha256:[a-f0-9]{64}\s+linux\/(amd64|arm64)$/,
      );
      ok(line.includes(pushed.digest));
    }
    const filtered = await imgOk(["ls", "-f", "reference=*/team/*"], { state });
    equal(filtered.stdout.trimEnd().split("\n").length, 2);
    ok(filtered.stdout.includes("team/app:v1"));

    const rm = await imgOk(["rm", dst], { state });
    equal(rm.stdout.trim(), `Untagged: ${dst}`);
    const missing = await img(["rm", dst], { state });
    equal(missing.code, 1);
    match(missing.stderr, /No such image/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("pull picks the host's platform from an index, or the one --platform names", async () => {
  await using registry = await startRegistry();
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    const pushed = await pushBusyboxIndex(registry.host, "multi/busybox", "latest");
    const ref = `${registry.host}/multi/busybox:latest`;
    const host = await imgOk(["pull", ref], { state });
    const arch = Deno.build.arch === "x86_64" ? "amd64" : "arm64";
    match(host.stdout, new RegExp(`Platform: linux/${arch}`));
    const hostManifest = pushed.index!.manifests.find((m) => m.platform?.architecture === arch)!;
    match(host.stdout, new RegExp(`Digest: ${hostManifest.digest}`));

    const other = arch === "amd64" ? "arm64" : "amd64";
    const r = await imgOk(["pull", "--platform", `linux/${other}`, ref], { state });
    const otherManifest = pushed.index!.manifests.find((m) => m.platform?.architecture === other)!;
    match(r.stdout, new RegExp(`Digest: ${otherManifest.digest}`));

    const none = await img(["pull", "--platform", "linux/s390x", ref], { state });
    equal(none.code, 1);
    match(
      none.stderr,
      /no manifest for the requested platform \(it has linux\/amd64, linux\/arm64/,
    );
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("bad input: invalid references, unknown images and registries fail with one line", async () => {
  const state = await Deno.makeTempDir({ prefix: "img-state-" });
  try {
    const bad = await img(["pull", "UPPER/Case"], { state });
    equal(bad.code, 1);
    match(bad.stderr, /^img: Invalid reference format.*lowercase/);
    equal(bad.stderr.trim().split("\n").length, 1);
    const unknown = await img(["push", "nothing-here"], { state });
    equal(unknown.code, 1);
    match(unknown.stderr, /^img: No such image: nothing-here/);
    const refused = await img(["pull", "127.0.0.1:1/none:latest"], { state });
    equal(refused.code, 1);
    match(refused.stderr, /127\.0\.0\.1:1/);
    equal(refused.stderr.trim().split("\n").length, 1);
    const flag = await img(["pull", "--bogus", "x"], { state });
    equal(flag.code, 1);
    match(flag.stderr, /unknown option '--bogus'/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
