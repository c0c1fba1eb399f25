import { equal } from "node:assert/strict";
import { parseDockerfile } from "./stages.ts";
import { targetBaseImage } from "./base_image.ts";

const amd64 = { os: "linux", architecture: "amd64" };

function base(text: string, buildArgs: Record<string, string> = {}, target?: string) {
  return targetBaseImage(parseDockerfile(text), { buildArgs, platform: amd64, target });
}

Deno.test("targetBaseImage expands FROM with the global ARGs and --build-arg", () => {
  equal(base("FROM busybox\nRUN true\n"), "busybox");
  equal(base("ARG BASE\nFROM ${BASE}\n", { BASE: "reg:5000/busybox:1" }), "reg:5000/busybox:1");
  equal(base("ARG TAG=1.36\nFROM busybox:${TAG}\n"), "busybox:1.36");
  equal(base("ARG TAG=1.36\nFROM busybox:${TAG}\n", { TAG: "2" }), "busybox:2");
  equal(base("ARG A=x\nARG B=${A}y\nFROM img-${B}\n"), "img-xy");
  equal(base("FROM debian:${TARGETARCH}\n"), "debian:amd64");
});

Deno.test("targetBaseImage follows FROM stage to the image, for the target", () => {
  const df = "FROM alpine AS build\nRUN make\nFROM debian AS other\nFROM build\nCOPY . /\n";
  equal(base(df), "alpine");
  equal(base(df, {}, "other"), "debian");
  equal(base(df, {}, "BUILD"), "alpine");
  equal(base(df, {}, "missing"), undefined);
  // A later stage of the same name is not an earlier one: FROM names the image.
  equal(base("FROM busybox AS busybox\n"), "busybox");
});

Deno.test("targetBaseImage leaves scratch, other platforms and bad words to the conversion", () => {
  equal(base("FROM scratch\nCOPY a /\n"), undefined);
  equal(base("FROM --platform=linux/arm64 busybox\n"), undefined);
  equal(base("FROM --platform=$BUILDPLATFORM golang AS b\nFROM b\n"), undefined);
  equal(base("ARG BASE\nFROM ${BASE}\n"), undefined);
  equal(base("FROM ${BAD\n"), undefined);
});
