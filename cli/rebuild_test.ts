import { deepEqual, equal } from "node:assert/strict";
import { parseRebuildArgs } from "./rebuild.ts";

Deno.test("parseRebuildArgs: builds whose flags only shape the stored image", () => {
  deepEqual(parseRebuildArgs(["build", "."]), {
    state: undefined,
    context: ".",
    file: undefined,
    quiet: false,
    progress: "auto",
    buildArgs: [],
    target: undefined,
    platform: undefined,
    frontend: undefined,
    registryTimeout: undefined,
  });
  deepEqual(
    parseRebuildArgs([
      "--state",
      "/s",
      "-b",
      "x",
      "build",
      "--no-console",
      "-t",
      "a",
      "--tag=b",
      "-f",
      "ctx/Dockerfile.dev",
      "--build-arg",
      "X=1",
      "--build-arg=Y",
      "--platform",
      "linux/amd64",
      "--target",
      "t",
      "ctx",
    ]),
    {
      state: "/s",
      context: "ctx",
      file: "ctx/Dockerfile.dev",
      quiet: false,
      progress: "plain",
      buildArgs: ["X=1", "Y"],
      target: "t",
      platform: "linux/amd64",
      frontend: undefined,
      registryTimeout: undefined,
    },
  );
  equal(parseRebuildArgs(["build", "-q", "--progress", "tty", "."])?.progress, "quiet");
  equal(parseRebuildArgs(["-s", "/a", "--state=/b", "build", "."])?.state, "/b", "the last wins");
});

Deno.test("parseRebuildArgs: everything else is the full CLI's", () => {
  for (
    const args of [
      [],
      ["ls"],
      ["build"],
      ["build", "a", "b"],
      ["build", "-"],
      ["build", "-f", "-", "."],
      ["build", "https://example.com/ctx.tar"],
      ["build", "git@example.com:repo.git"],
      ["build", "--push", "-t", "a", "."],
      ["build", "-o", "type=local,dest=out", "."],
      ["build", "--no-cache", "."],
      ["build", "--pull", "."],
      ["build", "--secret", "id=a,src=f", "."],
      ["build", "--iidfile", "f", "."],
      ["build", "--platform", "linux/amd64,linux/arm64", "."],
      ["build", "--progress", "fancy", "."],
      ["build", "-t"],
      ["-d", "build", "."],
      ["--plugin", "./p.ts", "build", "."],
      ["build", "-qt", "a", "."],
      ["build", "--no-console=1", "."],
      ["-b=x", "build", "."],
    ]
  ) {
    equal(parseRebuildArgs(args), undefined, args.join(" "));
  }
});
