import assert from "node:assert/strict";
import { join } from "node:path";
import { parseBuildContexts } from "./_build_contexts.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;
const OTHER = `sha256:${"b".repeat(64)}`;

async function layout(entries: { digest: string; tag?: string }[]): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: entries.map((e) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: e.digest,
        size: 100,
        ...(e.tag ? { annotations: { "org.opencontainers.image.ref.name": e.tag } } : {}),
      })),
    }),
  );
  return dir;
}

Deno.test("a directory becomes local:NAME, with buildx's names for context and dockerfile", async () => {
  const cwd = await Deno.makeTempDir();
  await Deno.mkdir(join(cwd, "src"));
  const c = await parseBuildContexts(["src=src", "context=./src", "dockerfile=src"], cwd);
  assert.deepEqual(c.options, {
    "context:src": "local:src",
    "context:context": "local:_context",
    "context:dockerfile": "local:_dockerfile",
  });
  assert.deepEqual(c.locals, {
    src: join(cwd, "src"),
    _context: join(cwd, "src"),
    _dockerfile: join(cwd, "src"),
  });
  await assert.rejects(parseBuildContexts(["x=missing"], cwd), /does not exist/);
  await Deno.writeTextFile(join(cwd, "file"), "");
  await assert.rejects(parseBuildContexts(["x=file"], cwd), /is not a directory/);
});

Deno.test("docker-image:// is passed on as given", async () => {
  const c = await parseBuildContexts(["alpine=docker-image://127.0.0.1:5000/base:1"]);
  assert.deepEqual(c.options, { "context:alpine": "docker-image://127.0.0.1:5000/base:1" });
  assert.deepEqual(c.locals, {});
  await assert.rejects(parseBuildContexts(["a=docker-image://"]), /name an image/);
});

Deno.test("oci-layout:// resolves its digest from index.json as buildx does", async () => {
  const one = await layout([{ digest: DIGEST }]);
  let c = await parseBuildContexts([`base=oci-layout://${one}`]);
  const [store] = Object.keys(c.ociStores);
  assert.equal(c.ociStores[store], one);
  assert.equal(c.options["context:base"], `oci-layout://${store}:latest@${DIGEST}`);

  const two = await layout([{ digest: DIGEST, tag: "v1" }, { digest: OTHER, tag: "v2" }]);
  c = await parseBuildContexts([`base=oci-layout://${two}:v2`]);
  assert.match(c.options["context:base"], new RegExp(`:v2@${OTHER}$`));
  await assert.rejects(parseBuildContexts([`base=oci-layout://${two}`]), /no image tagged latest/);
  c = await parseBuildContexts([`base=oci-layout://${two}@${DIGEST}`]);
  assert.match(c.options["context:base"], new RegExp(`:latest@${DIGEST}$`));
  await assert.rejects(
    parseBuildContexts([`base=oci-layout://${two}@sha256:12`]),
    /the digest must be sha256/,
  );
  await assert.rejects(
    parseBuildContexts([`base=oci-layout://${await Deno.makeTempDir()}`]),
    /is not an OCI image layout \(no index\.json\)/,
  );
});

Deno.test("git and URL values are refused naming the option", async () => {
  for (
    const v of [
      "a=https://github.com/moby/buildkit.git#main",
      "a=git@github.com:moby/buildkit.git",
      "a=https://example.com/ctx.tar.gz",
    ]
  ) {
    await assert.rejects(
      parseBuildContexts([v]),
      /--build-context a=.* is not supported yet/,
    );
  }
  await assert.rejects(
    parseBuildContexts(["=dir"]),
    /Invalid --build-context "=dir": use NAME=VALUE/,
  );
  await assert.rejects(parseBuildContexts(["a"]), /use NAME=VALUE/);
});
