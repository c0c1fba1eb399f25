import assert from "node:assert/strict";
import type { CopyInstruction } from "./instructions.ts";
import { type Dockerfile, parseDockerfile } from "./stages.ts";

Deno.test("stages: names, platforms, meta args, commands, original text", () => {
  const df: Dockerfile = parseDockerfile(`# syntax=docker/dockerfile:1
ARG BASE=busybox VERSION
ARG TAG=latest
FROM --platform=$BUILDPLATFORM \${BASE}:\${TAG} AS Build
RUN make
FROM scratch
COPY --from=build /out /
`);
  assert.deepEqual(df.metaArgs.map((a) => a.args), [[{ key: "BASE", value: "busybox" }, {
    key: "VERSION",
  }], [
    { key: "TAG", value: "latest" },
  ]]);
  assert.equal(df.stages.length, 2);
  const [build, final] = df.stages;
  assert.deepEqual(
    [build.index, build.name, build.baseName, build.platform],
    [0, "build", "${BASE}:${TAG}", "$BUILDPLATFORM"],
  );
  assert.equal(build.from.original, "FROM --platform=$BUILDPLATFORM ${BASE}:${TAG} AS Build");
  assert.deepEqual(build.commands.map((c) => [c.kind, c.original, c.startLine]), [[
    "run",
    "RUN make",
    5,
  ]]);
  assert.deepEqual([final.name, final.baseName], ["", "scratch"]);
  assert.equal((final.commands[0] as CopyInstruction).from, "build");
  assert.deepEqual(df.warnings, []);
  assert.deepEqual(df.directives.map((d) => d.name), ["syntax"]);
});

Deno.test("a syntax directive naming another frontend gets a warning", () => {
  const df = parseDockerfile("# syntax=example.com/my/frontend:2\nFROM a\n");
  assert.equal(df.warnings.length, 1);
  assert.match(
    df.warnings[0].message,
    /^Dockerfile:1: .*example\.com\/my\/frontend:2.*built-in Dockerfile frontend/,
  );
  for (
    const s of [
      "docker/dockerfile:1",
      "docker.io/docker/dockerfile:1.7-labs",
      "docker/dockerfile-upstream:master",
    ]
  ) {
    assert.deepEqual(parseDockerfile(`# syntax=${s}\nFROM a\n`).warnings, [], s);
  }
});
