/**
 * Records what Docker (BuildKit) gives for each case of the corpus into its `expected.json`.
 * Run by hand, as root, where a Docker engine runs (see README.md):
 *
 * ```sh
 * deno run -A tests/corpus/generate.ts [--host unix:///var/run/docker.sock] [CASE...]
 * ```
 *
 * It starts the loopback registry, pushes the busybox base, and for each case runs
 * `docker build` with BuildKit, `docker save`, and reduces the image to its facts.
 *
 * @module
 */
import { pushBusybox } from "../_util/busybox.ts";
import { startRegistry } from "../_util/registry.ts";
import {
  applyLayer,
  BASE_REPO,
  caseBuildArgs,
  configFacts,
  type CorpusCase,
  type Expected,
  listCases,
  normalizeRegistry,
  parentReference,
  readTar,
  type Tree,
  treeFacts,
} from "./_corpus.ts";

const DOCKER = Deno.env.get("DOCKER") ?? "/usr/bin/docker";

function parseArgs(args: string[]): { host?: string; only: string[] } {
  let host: string | undefined;
  const only: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--host") host = args[++i];
    else only.push(args[i]);
  }
  return { host, only };
}

const { host: dockerHost, only } = parseArgs(Deno.args);

async function docker(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(DOCKER, {
    args: [...(dockerHost ? ["-H", dockerHost] : []), ...args],
    cwd,
    env: { DOCKER_BUILDKIT: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `docker ${args.join(" ")} exited ${out.code}:\n${dec.decode(out.stderr)}${
        dec.decode(out.stdout)
      }`,
    );
  }
  return dec.decode(out.stdout);
}

/** Saves `ref` with `docker save` and returns its config and merged tree. */
async function savedImage(ref: string): Promise<{ config: Record<string, unknown>; tree: Tree }> {
  const file = await Deno.makeTempFile({ suffix: ".tar" });
  try {
    await docker(["save", "-o", file, ref]);
    const files = new Map<string, Uint8Array>();
    await readTar(await Deno.readFile(file), (h, content) => {
      if (h.type === "file") files.set(h.name, content);
    });
    const manifest = JSON.parse(new TextDecoder().decode(files.get("manifest.json")!)) as {
      Config: string;
      Layers: string[];
    }[];
    const config = JSON.parse(new TextDecoder().decode(files.get(manifest[0].Config)!));
    const tree: Tree = new Map();
    for (const layer of manifest[0].Layers) await applyLayer(tree, files.get(layer)!);
    return { config, tree };
  } finally {
    await Deno.remove(file);
  }
}

async function build(c: CorpusCase, registryHost: string, tag: string): Promise<void> {
  const args = ["build", "--network", "host", "--progress", "plain", "-t", tag];
  for (const a of caseBuildArgs(c, registryHost)) args.push("--build-arg", a);
  if (c.options.target) args.push("--target", c.options.target);
  for (const [k, v] of Object.entries(c.options.labels ?? {})) args.push("--label", `${k}=${v}`);
  args.push(".");
  await docker(args, c.dir);
}

const version = (await docker(["version", "--format", "{{.Server.Version}}"])).trim();
await using registry = await startRegistry();
await pushBusybox(registry.host, BASE_REPO, "latest");
const baseRef = `${registry.host}/${BASE_REPO}:latest`;
await docker(["pull", baseRef]);
const base = await savedImage(baseRef);
let failed = 0;
for (const c of listCases()) {
  const wanted = only.length === 0 || only.includes(c.name) ||
    listCases().some((x) => only.includes(x.name) && x.options.parent === c.name);
  if (!wanted || (c.options.needs && !only.includes(c.name))) {
    if (c.options.needs) console.log(`skip ${c.name}: needs ${c.options.needs}`);
    continue;
  }
  const tag = `img-corpus/${c.name}:latest`;
  try {
    await build(c, registry.host, tag);
    if (listCases().some((x) => x.options.parent === c.name)) {
      const ref = parentReference(registry.host, c.name);
      await docker(["tag", tag, ref]);
      await docker(["push", ref]);
    }
    const image = await savedImage(tag);
    const expected: Expected = {
      generatedBy: `docker ${version} (BuildKit), tests/corpus/generate.ts`,
      ...configFacts(image.config, registry.host),
      ...normalizeRegistry(treeFacts(image.tree, base.tree), registry.host),
    };
    await Deno.writeTextFile(`${c.dir}/expected.json`, JSON.stringify(expected, null, 2) + "\n");
    console.log(`ok   ${c.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${c.name}: ${(e as Error).message}`);
  }
}
if (failed) Deno.exit(1);
