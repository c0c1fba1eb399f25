/**
 * `@img/frontend-dockerfile`: the Dockerfile frontend of img.
 *
 * This module exports the parsing half: directives, continuations, heredocs, the typed
 * instruction model, build stages, variable expansion and `.dockerignore`.
 *
 * ```ts
 * import { expandInstruction, parseDockerfile, ShellLex } from "@img/frontend-dockerfile";
 *
 * const df = parseDockerfile("FROM busybox\nENV GREETING=\"hello world\"\n");
 * const lex = new ShellLex(df.escapeToken);
 * const env = expandInstruction(df.stages[0].commands[0], lex, {});
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./heredoc.ts";
export * from "./parser.ts";
export * from "./instructions.ts";
export * from "./parse_instruction.ts";
export * from "./mount.ts";
export * from "./duration.ts";
export * from "./stages.ts";
export * from "./base_image.ts";
export * from "./expand.ts";
export * from "./shell_lex.ts";
export * from "./dockerignore.ts";
export * from "./convert.ts";
export * from "./frontend.ts";

import meta from "./deno.json" with { type: "json" };
import { API_VERSION, type FrontendPlugin } from "@img/core";
import { DockerfileFrontend } from "./frontend.ts";

/** The `dockerfile` frontend plugin. */
const plugin: FrontendPlugin = {
  kind: "frontend",
  name: "dockerfile",
  version: meta.version,
  apiVersion: API_VERSION,
  description: "Dockerfile frontend: Dockerfile and .dockerignore to a build graph",
  create: () => new DockerfileFrontend(),
};

export default plugin;
