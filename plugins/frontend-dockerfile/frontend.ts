/**
 * The Dockerfile frontend: reads the Dockerfile and `.dockerignore` through the frontend
 * client and converts them into a build definition.
 *
 * Options (BuildKit's names): `filename` (default `Dockerfile`), `target`,
 * `build-arg:NAME`, `label:NAME`, `no-cache`, `source-date-epoch`, `multi-platform`.
 *
 * @module
 */
import {
  type BuildDefinition,
  type BuildRequest,
  type Frontend,
  type FrontendClient,
  hostPlatform,
  ImgError,
} from "@img/core";
import { DockerfileConverter } from "./convert.ts";
import { parseDockerignore } from "./dockerignore.ts";
import { parseDockerfile } from "./instructions.ts";

function prefixed(options: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(options).filter(([k]) => k.startsWith(prefix)).map((
      [k, v],
    ) => [k.slice(prefix.length), v]),
  );
}

/** The Dockerfile frontend. */
export class DockerfileFrontend implements Frontend {
  /** Solves a build request into a build definition. */
  async solve(request: BuildRequest, client: FrontendClient): Promise<BuildDefinition> {
    const o = request.options;
    const filename = o.filename ?? "Dockerfile";
    const text = await client.readFile("dockerfile", filename);
    if (text === undefined) {
      throw new ImgError(`failed to read dockerfile: open ${filename}: no such file or directory`);
    }
    const displayName = filename.split("/").pop() || filename;
    const df = parseDockerfile(text, { fileName: displayName });
    for (const w of df.warnings) client.warn(w.message);
    // docker prefers <Dockerfile>.dockerignore next to the Dockerfile, then the context's.
    const ignoreText = (await client.readFile("dockerfile", `${filename}.dockerignore`)) ??
      (await client.readFile("context", ".dockerignore"));
    const epoch = o["source-date-epoch"] ?? o["build-arg:SOURCE_DATE_EPOCH"];
    if (epoch !== undefined && !/^\d+$/.test(epoch)) {
      throw new ImgError(
        `Invalid SOURCE_DATE_EPOCH "${epoch}": it must be whole seconds since 1970`,
      );
    }
    const converter = new DockerfileConverter(df, client, {
      target: o.target,
      buildArgs: prefixed(o, "build-arg:"),
      labels: prefixed(o, "label:"),
      platform: request.platforms[0] ?? hostPlatform(),
      buildPlatform: hostPlatform(),
      excludes: ignoreText ? parseDockerignore(ignoreText) : [],
      created: epoch !== undefined ? new Date(Number(epoch) * 1000) : new Date(),
      noCache: o["no-cache"] !== undefined,
      multiPlatform: o["multi-platform"] === "true",
    });
    const definition = await converter.convert();
    return epoch !== undefined ? { ...definition, sourceDateEpoch: Number(epoch) } : definition;
  }
}
