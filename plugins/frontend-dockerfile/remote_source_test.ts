import assert from "node:assert/strict";
import {
  type BuildDefinition,
  type FileOp,
  type FrontendClient,
  parsePlatform,
  type SourceOp,
} from "@img/core";
import { DockerfileConverter } from "./convert.ts";
import { httpSourceOp, validateChecksum } from "./remote_source.ts";
import { parseDockerfile } from "./stages.ts";

const AMD64 = parsePlatform("linux/amd64");
const SUM = `sha256:${"ab".repeat(32)}`;

const client: FrontendClient = {
  readFile: () => Promise.resolve(undefined),
  resolveImageConfig: (ref: string) =>
    Promise.resolve({
      ref: `${ref}@sha256:${"0".repeat(64)}`,
      digest: `sha256:${"0".repeat(64)}`,
      config: {
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [] },
      },
    }),
  warn: () => {},
};

async function convert(text: string): Promise<BuildDefinition> {
  const df = parseDockerfile(new TextEncoder().encode(text), { fileName: "Dockerfile" });
  return await new DockerfileConverter(df, client, {
    buildArgs: {},
    labels: {},
    platform: AMD64,
    buildPlatform: AMD64,
    excludes: [],
    created: new Date(0),
  }).convert();
}

Deno.test("httpSourceOp names the file after the URL's path", () => {
  assert.deepEqual(httpSourceOp("https://h/dir/tool?x=1", ""), {
    type: "source",
    identifier: "https://h/dir/tool?x=1",
    attrs: { "http.filename": "tool" },
  });
  assert.equal(httpSourceOp("https://h/", SUM).attrs?.["http.filename"], "__unnamed__");
  assert.equal(httpSourceOp("https://h/", SUM).attrs?.["http.checksum"], SUM);
  assert.throws(() => validateChecksum("md5:abc"), /invalid checksum digest format/);
  validateChecksum(SUM);
});

Deno.test("ADD of a URL copies the downloaded file from its own source, never unpacked", async () => {
  const def = await convert(
    "FROM busybox\nADD --chown=1:2 --chmod=755 https://h/x/app.tar.gz local.tar /opt/\n",
  );
  const vertices = [...def.graph.vertices.values()];
  const http = vertices.find((v) => v.op.type === "source" && v.op.identifier.startsWith("https:"));
  assert.ok(http, "an http source vertex");
  assert.equal((http.op as SourceOp).attrs?.["http.filename"], "app.tar.gz");
  assert.equal(http.location, "Dockerfile:2");
  const add = def.graph.vertices.get(def.graph.root)!;
  const [local, remote] = (add.op as FileOp).actions;
  assert.equal(add.inputs[remote.action === "copy" ? remote.input : -1], http.digest);
  assert.deepEqual(remote, {
    action: "copy",
    input: 2,
    src: ["app.tar.gz"],
    dest: "/opt/",
    chown: "1:2",
    chmod: "755",
    options: { createDestPath: true },
  });
  assert.ok(local.action === "copy" && local.input === 1 && local.options?.unpack);
  const unpacked = await convert("FROM busybox\nADD --unpack=true https://h/a.tgz /opt/\n");
  const [action] = (unpacked.graph.vertices.get(unpacked.graph.root)!.op as FileOp).actions;
  assert.ok(action.action === "copy" && action.options?.unpack, "--unpack=true unpacks a URL");
});

Deno.test("ADD --checksum: on the URL's source; refused for local and several sources", async () => {
  const def = await convert(`FROM busybox\nADD --checksum=${SUM} https://h/f /f\n`);
  const http = [...def.graph.vertices.values()].find((v) =>
    v.op.type === "source" && v.op.identifier === "https://h/f"
  );
  assert.equal((http?.op as SourceOp).attrs?.["http.checksum"], SUM);
  await assert.rejects(
    convert(`FROM busybox\nADD --checksum=${SUM} local /f\n`),
    /Dockerfile:2: checksum requires HTTP\(S\) or Git sources: local is neither/,
  );
  await assert.rejects(
    convert(`FROM busybox\nADD --checksum=${SUM} https://h/a https://h/b /d/\n`),
    /checksum can't be specified for multiple sources/,
  );
  await assert.rejects(
    convert(`FROM busybox\nADD --checksum=sha256:nope https://h/a /a\n`),
    /invalid checksum digest format/,
  );
  await assert.rejects(
    convert("FROM busybox\nCOPY https://h/a /a\n"),
    /source can't be a URL for COPY/,
  );
});
