import assert from "node:assert/strict";
import {
  type BuildDefinition,
  type ExecOp,
  type FrontendClient,
  type ImageConfig,
  parsePlatform,
  type Platform,
  type Vertex,
} from "@img/core";
import { DockerfileConverter } from "./convert.ts";
import { parseDockerfile } from "./stages.ts";

const AMD64 = parsePlatform("linux/amd64");
const ARM64 = parsePlatform("linux/arm64");
const ARMV7 = parsePlatform("linux/arm/v7");

/** A client whose images exist for every platform, with a digest per platform. */
function fakeClient(resolved: string[]): FrontendClient {
  return {
    readFile: () => Promise.resolve(undefined),
    resolveImageConfig: (ref: string, p: Platform) => {
      const platform = [p.os, p.architecture, p.variant].filter(Boolean).join("/");
      resolved.push(`${ref} ${platform}`);
      const digest = `sha256:${platform.replaceAll("/", "-").padEnd(64, "0")}`;
      const config: ImageConfig = {
        architecture: p.architecture,
        os: p.os,
        config: { Env: ["PATH=/bin"] },
        rootfs: { type: "layers", diff_ids: [] },
      };
      return Promise.resolve({ ref: `${ref}@${digest}`, digest, config });
    },
    warn: () => {},
  };
}

async function convert(
  text: string,
  platform: Platform,
  buildPlatform: Platform = AMD64,
  resolved: string[] = [],
  multiPlatform = false,
): Promise<BuildDefinition> {
  const df = parseDockerfile(new TextEncoder().encode(text), { fileName: "Dockerfile" });
  return await new DockerfileConverter(df, fakeClient(resolved), {
    buildArgs: {},
    labels: {},
    platform,
    buildPlatform,
    excludes: [],
    created: new Date(0),
    multiPlatform,
  }).convert();
}

function runs(def: BuildDefinition): Vertex[] {
  return [...def.graph.vertices.values()].filter((v) => v.op.type === "exec");
}

function runScript(v: Vertex): string {
  return (v.op as ExecOp).args.at(-1)!;
}

Deno.test("platform args: TARGET* from the target, BUILD* from the build platform", async () => {
  const def = await convert(
    `ARG TARGETARCH
FROM busybox
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
ARG BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT
RUN echo $TARGETPLATFORM $TARGETOS $TARGETARCH v=$TARGETVARIANT $BUILDPLATFORM $BUILDOS $BUILDARCH b=$BUILDVARIANT
`,
    ARMV7,
  );
  const [run] = runs(def);
  const env = (run.op as ExecOp).env;
  for (
    const e of [
      "TARGETPLATFORM=linux/arm/v7",
      "TARGETOS=linux",
      "TARGETARCH=arm",
      "TARGETVARIANT=v7",
      "BUILDPLATFORM=linux/amd64",
      "BUILDOS=linux",
      "BUILDARCH=amd64",
      "BUILDVARIANT=",
    ]
  ) assert.ok(env.includes(e), `${e} in ${env.join(" ")}`);
  assert.deepEqual(run.platform, ARMV7);
});

Deno.test("platform args are visible in a stage only after ARG", async () => {
  const def = await convert(
    "FROM busybox\nENV BEFORE=[$TARGETARCH]\nARG TARGETARCH\nENV AFTER=[$TARGETARCH]\n",
    ARM64,
  );
  const env = def.config.config?.Env ?? [];
  assert.ok(env.includes("BEFORE=[]"), env.join(" "));
  assert.ok(env.includes("AFTER=[arm64]"), env.join(" "));
});

Deno.test("FROM --platform expands global args and picks the base image for that platform", async () => {
  const resolved: string[] = [];
  const def = await convert(
    `ARG HOSTP=$BUILDPLATFORM
FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETARCH
RUN echo build for $TARGETARCH
FROM --platform=\${HOSTP} alpine AS other
FROM busybox
COPY --from=build /out /out
COPY --from=other /etc /etc
`,
    ARM64,
    AMD64,
    resolved,
  );
  assert.deepEqual(resolved.sort(), [
    "alpine linux/amd64",
    "busybox linux/amd64",
    "busybox linux/arm64",
  ]);
  const [run] = runs(def);
  assert.deepEqual(run.platform, AMD64);
  assert.ok((run.op as ExecOp).env.includes("TARGETARCH=arm64"));
  assert.equal(def.config.architecture, "arm64");
});

Deno.test("FROM --platform with an unknown value is an error naming it", async () => {
  await assert.rejects(
    () => convert("FROM --platform=linux//x busybox\n", ARM64),
    /Invalid platform "linux\/\/x"/,
  );
});

Deno.test("cache keys: a RUN differs per platform; a build-platform stage is shared", async () => {
  const text = `FROM scratch AS files
COPY a /a
FROM --platform=$BUILDPLATFORM busybox AS build
RUN make
FROM files
RUN uname -m
COPY --from=build /out /out
`;
  const amd = await convert(text, AMD64);
  const arm = await convert(text, ARM64);
  const byScript = (def: BuildDefinition) =>
    new Map(runs(def).map((v) => [runScript(v), v.digest]));
  const a = byScript(amd);
  const b = byScript(arm);
  assert.equal(a.get("make"), b.get("make"));
  // Same input (a scratch stage with the same files), but another platform: another key.
  assert.notEqual(a.get("uname -m"), b.get("uname -m"));
});

Deno.test("a stage built on another stage runs for that stage's platform", async () => {
  const def = await convert(
    `FROM --platform=$BUILDPLATFORM busybox AS build
FROM build
RUN true
`,
    ARM64,
  );
  assert.deepEqual(runs(def)[0].platform, AMD64);
});

Deno.test("several platforms: step names carry the stage's platform, as BuildKit's do", async () => {
  const text = `FROM --platform=$BUILDPLATFORM busybox AS build
RUN make
FROM busybox
RUN uname -m
COPY --from=build /out /out
`;
  const names = (def: BuildDefinition) => runs(def).map((v) => v.name).sort();
  assert.deepEqual(names(await convert(text, ARM64, AMD64, [], true)), [
    "[linux/amd64 build 2/2] RUN make",
    "[linux/arm64 stage-1 2/3] RUN uname -m",
  ]);
  assert.deepEqual(names(await convert(text, ARM64, AMD64, [], false)), [
    "[build 2/2] RUN make",
    "[stage-1 2/3] RUN uname -m",
  ]);
});

Deno.test("ADD of a git URL: a git source vertex per repository, copied from its root", async () => {
  const def = await convert(
    [
      "FROM scratch",
      "ADD --keep-git-dir=true --chown=1:2 https://example.com/org/repo.git#v1 local.txt /dst/",
      "ADD git@example.com:org/repo.git#main:docs /docs",
    ].join("\n"),
    AMD64,
  );
  const sources = [...def.graph.vertices.values()].filter((v) =>
    v.op.type === "source" && v.op.identifier.startsWith("git://")
  );
  assert.deepEqual(sources.map((v) => v.op.type === "source" && v.op.identifier).sort(), [
    "git://example.com/org/repo.git#v1",
    "git://git@example.com:org/repo.git#main:docs",
  ]);
  const https = sources.find((v) => v.name.includes("https://"))!;
  assert.equal(https.op.type === "source" && https.op.attrs?.["git.keepgitdir"], "true");
  assert.equal(https.location, "Dockerfile:2");
  const add = [...def.graph.vertices.values()].find((v) => v.name.includes("local.txt"))!;
  assert.ok(add.op.type === "file");
  // The local source from the context (input 1), the repository's root from input 2.
  assert.deepEqual(
    add.op.actions.map((a) => a.action === "copy" && [a.input, a.src, a.dest, a.chown]),
    [[1, ["local.txt"], "/dst/", "1:2"], [2, ["."], "/dst/", "1:2"]],
  );
  assert.equal(add.inputs[2], https.digest);
});

Deno.test("COPY of a git URL and --checksum of a local file are refused as BuildKit refuses them", async () => {
  await assert.rejects(
    () => convert("FROM scratch\nCOPY https://example.com/r.git /x", AMD64),
    /Dockerfile:2.*source can't be a git ref for COPY/,
  );
  await assert.rejects(
    () => convert("FROM scratch\nADD --checksum=sha256:abc local.txt /x", AMD64),
    /checksum requires HTTP\(S\) or Git sources/,
  );
});
