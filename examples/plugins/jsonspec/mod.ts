/**
 * An example third-party frontend: `jsonspec` builds an image from a JSON build spec instead
 * of a Dockerfile, and emits the same build graph ops the Dockerfile frontend emits (an image
 * source, exec ops for `run`, file ops copying from the build context for `copy`).
 *
 * ```json
 * {
 *   "from": "busybox:latest",
 *   "steps": [
 *     { "env": { "GREETING": "hello" } },
 *     { "workdir": "/app" },
 *     { "run": "echo $GREETING > greeting" },
 *     { "copy": { "src": ["app.sh"], "dest": "/app/" } }
 *   ],
 *   "config": { "Cmd": ["/app/app.sh"] }
 * }
 * ```
 *
 * ```sh
 * img --plugin ./examples/plugins/jsonspec/mod.ts build --frontend jsonspec -f build.json .
 * ```
 *
 * or with `# syntax=img/frontend-jsonspec` as the spec's first line (leading `#` lines are
 * comments), or `"syntax": "img/frontend-jsonspec"` in it. It lives outside img's workspace
 * and uses nothing but `@img/core`: the frontend seam and the build graph's `GraphBuilder`.
 *
 * @module
 */
import {
  API_VERSION,
  type BuildDefinition,
  type BuildRequest,
  type ContainerConfig,
  type Digest,
  type Frontend,
  type FrontendClient,
  type FrontendPlugin,
  GraphBuilder,
  type ImageConfig,
  ImgError,
} from "@img/core";

/** One step of a spec. */
export type Step =
  | { run: string | string[] }
  | { copy: { src: string[]; dest: string } }
  | { env: Record<string, string> }
  | { workdir: string };

/** A build spec. */
export interface BuildSpec {
  /** The base image, or `scratch`. */
  from: string;
  /** The steps, in order. */
  steps?: Step[];
  /** Fields merged into the image's container config (`Cmd`, `Entrypoint`, `Labels`, ...). */
  config?: ContainerConfig;
  /** The `# syntax=` equivalent, ignored here. */
  syntax?: string;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Parses a spec: leading `#` and `//` lines are comments, the rest is JSON. */
export function parseSpec(text: string, file: string): BuildSpec {
  const lines = text.split("\n");
  while (lines.length && /^\s*(#|\/\/)/.test(lines[0])) lines.shift();
  let spec: BuildSpec;
  try {
    spec = JSON.parse(lines.join("\n"));
  } catch (e) {
    throw new ImgError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof spec?.from !== "string" || spec.from === "") {
    throw new ImgError(`${file}: "from" must name a base image or scratch`);
  }
  return spec;
}

/** The `jsonspec` frontend. */
export class JsonSpecFrontend implements Frontend {
  /** Solves a build request (option `filename`, default `build.json`) into a build definition. */
  async solve(request: BuildRequest, client: FrontendClient): Promise<BuildDefinition> {
    const file = request.options.filename ?? "build.json";
    const data = await client.readFile("dockerfile", file);
    if (data === undefined) {
      throw new ImgError(`Cannot read the build spec ${file}: it does not exist`);
    }
    const spec = parseSpec(new TextDecoder().decode(data), file);
    const platform = request.platforms[0];
    const created = new Date().toISOString();
    const graph = new GraphBuilder();
    let head: Digest;
    let image: ImageConfig;
    if (spec.from === "scratch") {
      head = graph.add({ type: "source", identifier: "scratch" }, [], "FROM scratch");
      image = {
        architecture: platform.architecture,
        os: platform.os,
        config: { Env: [DEFAULT_PATH] },
        rootfs: { type: "layers", diff_ids: [] },
        history: [],
      };
    } else {
      const base = await client.resolveImageConfig(spec.from, platform);
      head = graph.add(
        { type: "source", identifier: `docker-image://${base.ref}`, attrs: {} },
        [],
        `FROM ${base.ref}`,
        { platform },
      );
      image = structuredClone(base.config);
      image.history ??= [];
    }
    const config: ContainerConfig = (image.config ??= {});
    config.Env ??= [DEFAULT_PATH];
    let context: Digest | undefined;
    const steps = spec.steps ?? [];
    for (const [i, step] of steps.entries()) {
      const name = `[${i + 1}/${steps.length}] ${JSON.stringify(step)}`;
      let createdBy: string;
      let empty = false;
      if ("run" in step) {
        const args = typeof step.run === "string" ? ["/bin/sh", "-c", step.run] : step.run;
        head = graph.add(
          {
            type: "exec",
            args,
            env: config.Env,
            cwd: config.WorkingDir || "/",
            ...(config.User ? { user: config.User } : {}),
            network: "host",
            mounts: [],
          },
          [head],
          name,
        );
        createdBy = `RUN ${args.join(" ")}`;
      } else if ("copy" in step) {
        context ??= graph.add(
          { type: "source", identifier: "local://context", attrs: {} },
          [],
          "context",
        );
        head = graph.add(
          {
            type: "file",
            actions: [{
              action: "copy",
              input: 1,
              src: step.copy.src,
              dest: step.copy.dest,
              options: { followSymlinks: true, allowWildcard: true, createDestPath: true },
            }],
          },
          [head, context],
          name,
        );
        createdBy = `COPY ${[...step.copy.src, step.copy.dest].join(" ")}`;
      } else if ("env" in step) {
        const vars: Map<string, string> = new Map(
          (config.Env ?? []).map((e): [string, string] => [e.split("=", 1)[0], e]),
        );
        for (const [k, v] of Object.entries(step.env)) vars.set(k, `${k}=${v}`);
        config.Env = [...vars.values()];
        createdBy = `ENV ${Object.entries(step.env).map(([k, v]) => `${k}=${v}`).join(" ")}`;
        empty = true;
      } else if ("workdir" in step) {
        config.WorkingDir = step.workdir;
        head = graph.add(
          {
            type: "file",
            actions: [{ action: "mkdir", path: step.workdir, mode: 0o755, parents: true }],
          },
          [head],
          name,
        );
        createdBy = `WORKDIR ${step.workdir}`;
      } else {
        throw new ImgError(`${file}: step ${i + 1} is not one of run, copy, env or workdir`);
      }
      image.history!.push({
        created,
        created_by: createdBy,
        ...(empty ? { empty_layer: true } : {}),
      });
    }
    Object.assign(config, spec.config ?? {});
    image.created = created;
    return { graph: graph.build(head), config: image };
  }
}

/** The `jsonspec` frontend plugin. */
const plugin: FrontendPlugin = {
  kind: "frontend",
  name: "jsonspec",
  version: "0.1.0",
  apiVersion: API_VERSION,
  description: "JSON build specs: from, steps (run, copy, env, workdir) and config",
  create: () => new JsonSpecFrontend(),
};

export default plugin;
