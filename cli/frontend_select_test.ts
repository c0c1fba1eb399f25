import assert from "node:assert/strict";
import { chooseFrontend, detectSyntax, isDockerfileImage } from "./frontend_select.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const available = ["dockerfile", "jsonspec"];

Deno.test("the syntax directive is read only from the leading directive lines", () => {
  assert.equal(detectSyntax("# syntax=docker/dockerfile:1\nFROM x\n"), "docker/dockerfile:1");
  assert.equal(detectSyntax("#escape=`\n# Syntax = img/frontend-x  \nFROM x\n"), "img/frontend-x");
  assert.equal(detectSyntax("\uFEFF#!/usr/bin/env img\n#syntax=a/b:1 --x\n"), "a/b:1");
  assert.equal(detectSyntax("// syntax=img/frontend-x\n{}\n"), "img/frontend-x");
  assert.equal(
    detectSyntax('{"syntax": "img/frontend-jsonspec", "from": "x"}'),
    "img/frontend-jsonspec",
  );
  // A comment that is not a directive, an empty line or an instruction ends the directives.
  assert.equal(detectSyntax("# hello\n# syntax=a/b\nFROM x\n"), undefined);
  assert.equal(detectSyntax("\n# syntax=a/b\nFROM x\n"), undefined);
  assert.equal(detectSyntax("FROM x\n# syntax=a/b\n"), undefined);
});

Deno.test("BuildKit's Dockerfile frontend images are the dockerfile frontend", () => {
  for (
    const ref of [
      "docker/dockerfile:1",
      "docker/dockerfile:1.7",
      "docker/dockerfile:labs",
      "docker/dockerfile:1.7-labs",
      "docker.io/docker/dockerfile:1@sha256:abc",
      "docker/dockerfile-upstream:master",
      "docker/dockerfile",
    ]
  ) assert.ok(isDockerfileImage(ref), ref);
  for (
    const ref of [
      "tonistiigi/dockerfile:1",
      "docker/dockerfilex:1",
      "example.com/docker/dockerfile",
    ]
  ) {
    assert.ok(!isDockerfileImage(ref), ref);
  }
});

Deno.test("--frontend wins over BUILDKIT_SYNTAX, which wins over the directive", () => {
  const buildFile = enc("# syntax=img/frontend-jsonspec\n{}\n");
  assert.deepEqual(chooseFrontend({ available }), { name: "dockerfile", source: "default" });
  assert.deepEqual(chooseFrontend({ available, buildFile }), {
    name: "jsonspec",
    source: "syntax directive",
    syntax: "img/frontend-jsonspec",
  });
  assert.equal(
    chooseFrontend({ available, buildFile, buildArg: "docker/dockerfile:1" }).name,
    "dockerfile",
  );
  assert.equal(
    chooseFrontend({ available, buildFile, buildArg: "docker/dockerfile:1", flag: "jsonspec" })
      .source,
    "--frontend",
  );
  assert.equal(
    chooseFrontend({
      available,
      buildFile: enc("# syntax=spec\n{}"),
      aliases: { spec: "jsonspec" },
    }).name,
    "jsonspec",
  );
});

Deno.test("an unknown frontend or foreign syntax is refused in one line naming the frontends", () => {
  assert.throws(() => chooseFrontend({ available, flag: "yaml" }), {
    message: 'Unknown frontend "yaml": available: dockerfile, jsonspec; load others with --plugin',
  });
  assert.throws(
    () => chooseFrontend({ available, buildFile: enc("# syntax=img/frontend-yaml\n") }),
    {
      message:
        'Unknown frontend "yaml" (from syntax directive img/frontend-yaml): available: dockerfile, jsonspec; load others with --plugin',
    },
  );
  assert.throws(
    () => chooseFrontend({ available, buildFile: enc("# syntax=tonistiigi/dockerfile:x\n") }),
    {
      message:
        'The syntax directive asks for the frontend image "tonistiigi/dockerfile:x", which img cannot pull: use img/frontend-NAME or --frontend NAME with one of: dockerfile, jsonspec',
    },
  );
  assert.throws(
    () => chooseFrontend({ available, buildArg: "foo/bar" }),
    /build argument BUILDKIT_SYNTAX/,
  );
});
