import assert from "node:assert/strict";
import {
  type BuildDefinition,
  type FileOp,
  type FrontendClient,
  GraphBuilder,
  type ImageConfig,
  parsePlatform,
  type Platform,
  type ResolveImageOptions,
  type SourceOp,
  type Vertex,
} from "@img/core";
import { DockerfileConverter } from "./convert.ts";
import { loadNamedContext, namedContextKey } from "./named_context.ts";
import { parseDockerfile } from "./stages.ts";

const AMD64 = parsePlatform("linux/amd64");
const ARM64 = parsePlatform("linux/arm64");

interface Resolved {
  ref: string;
  options?: ResolveImageOptions;
}

/** A client with images for every reference, and a `.dockerignore` in the local `dir`. */
function fakeClient(resolved: Resolved[] = []): FrontendClient {
  return {
    readFile: (input, path) =>
      Promise.resolve(
        input === "dir" && path === ".dockerignore"
          ? new TextEncoder().encode("secret.txt\n")
          : undefined,
      ),
    resolveImageConfig: (ref: string, p: Platform, options?: ResolveImageOptions) => {
      resolved.push({ ref, options });
      const digest = `sha256:${"1".repeat(64)}`;
      const config: ImageConfig = {
        architecture: p.architecture,
        os: p.os,
        config: { Env: ["PATH=/image"] },
        rootfs: { type: "layers", diff_ids: [] },
      };
      return Promise.resolve({ ref: `${ref.split("@")[0]}@${digest}`, digest, config });
    },
    warn: () => {},
  };
}

async function convert(
  text: string,
  namedContexts: Record<string, string>,
  resolved: Resolved[] = [],
): Promise<BuildDefinition> {
  const df = parseDockerfile(new TextEncoder().encode(text), { fileName: "Dockerfile" });
  return await new DockerfileConverter(df, fakeClient(resolved), {
    buildArgs: {},
    labels: {},
    platform: AMD64,
    excludes: [],
    created: new Date(0),
    namedContexts,
  }).convert();
}

function sources(def: BuildDefinition): SourceOp[] {
  return [...def.graph.vertices.values()].map((v) => v.op)
    .filter((op): op is SourceOp => op.type === "source");
}

function root(def: BuildDefinition): Vertex {
  return def.graph.vertices.get(def.graph.root)!;
}

Deno.test("a name finds its context as BuildKit normalizes it, the platform's first", () => {
  const contexts = { alpine: "x", "alpine::linux/arm64": "y", "team/app": "z" };
  assert.equal(namedContextKey("alpine", AMD64, contexts), "alpine");
  assert.equal(namedContextKey("docker.io/library/alpine:latest", AMD64, contexts), "alpine");
  assert.equal(namedContextKey("alpine", ARM64, contexts), "alpine::linux/arm64");
  assert.equal(namedContextKey("team/app", AMD64, contexts), "team/app");
  assert.equal(namedContextKey("alpine:3", AMD64, contexts), undefined);
  assert.equal(namedContextKey("Not A Name", AMD64, contexts), undefined);
});

Deno.test("each kind of value becomes its source; others are refused", async () => {
  const graph = new GraphBuilder();
  const resolved: Resolved[] = [];
  const deps = { graph, client: fakeClient(resolved) };
  const local = await loadNamedContext("src", "local:dir", AMD64, deps);
  assert.equal(local.local, true);
  assert.deepEqual(graph.vertices.get(local.head)!.op, {
    type: "source",
    identifier: "local://dir",
    attrs: { excludes: JSON.stringify(["secret.txt"]) },
  });
  const image = await loadNamedContext("base", "docker-image://reg.example/base:1", AMD64, deps);
  assert.equal(
    (graph.vertices.get(image.head)!.op as SourceOp).identifier,
    `docker-image://reg.example/base:1@sha256:${"1".repeat(64)}`,
  );
  assert.deepEqual(image.config?.config?.Env, ["PATH=/image"]);
  const digest = `sha256:${"2".repeat(64)}`;
  const layout = await loadNamedContext("base", `oci-layout://store1:v1@${digest}`, AMD64, deps);
  assert.deepEqual((graph.vertices.get(layout.head)!.op as SourceOp).attrs, {
    platform: "linux/amd64",
    "oci.store": "store1",
  });
  assert.deepEqual(resolved, [
    { ref: "reg.example/base:1", options: { resolveMode: "pull" } },
    { ref: `base@${digest}`, options: { ociStore: "store1" } },
  ]);
  const scratch = await loadNamedContext("s", "docker-image://scratch", AMD64, deps);
  assert.equal((graph.vertices.get(scratch.head)!.op as SourceOp).identifier, "scratch");
  await assert.rejects(
    loadNamedContext("base", "oci-layout://store1:v1", AMD64, deps),
    /oci-layout reference "store1:v1" of context base has no digest/,
  );
  await assert.rejects(
    loadNamedContext("x", "input:foo", AMD64, deps),
    /unsupported context source input for x/,
  );
});

Deno.test("a named context replaces a stage of its name, FROM, COPY --from and --mount from=", async () => {
  const resolved: Resolved[] = [];
  const def = await convert(
    [
      "FROM scratch AS tools",
      "COPY missing /",
      "FROM alpine",
      "COPY --from=tools /bin/tool /tool",
      "COPY --from=src /a /a",
      "RUN --mount=from=src,target=/mnt true",
      "",
    ].join("\n"),
    { tools: "docker-image://reg.example/tools:1", alpine: "local:dir", src: "local:dir" },
    resolved,
  );
  // The tools stage is never converted: its COPY of a missing file is not in the graph.
  const names = [...def.graph.vertices.values()].map((v) => v.name);
  assert.ok(!names.some((n) => n.includes("COPY missing")), names.join("\n"));
  assert.deepEqual(resolved.map((r) => r.ref), ["reg.example/tools:1"]);
  // FROM a directory: its files copied onto scratch, an empty config.
  assert.deepEqual(
    sources(def).map((s) => s.identifier).sort(),
    ["docker-image://reg.example/tools:1@sha256:" + "1".repeat(64), "local://dir", "scratch"],
  );
  assert.deepEqual(def.config.config?.Env, [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  ]);
  const run = root(def);
  assert.equal(run.op.type, "exec");
  const copies = [...def.graph.vertices.values()].filter((v) =>
    v.op.type === "file" && (v.op as FileOp).actions.some((a) => a.action === "copy")
  );
  assert.ok(copies.some((v) => v.name.endsWith("FROM alpine")), copies.map((v) => v.name).join());
});

Deno.test("without a context of the name, a stage of that name is used as before", async () => {
  const def = await convert("FROM alpine AS base\nFROM base\nRUN true\n", { other: "local:dir" });
  assert.deepEqual(sources(def).map((s) => s.identifier), [
    `docker-image://alpine@sha256:${"1".repeat(64)}`,
  ]);
});
