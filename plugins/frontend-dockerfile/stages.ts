/**
 * Build stages: a whole Dockerfile parsed, its instructions typed and grouped by FROM.
 *
 * @module
 */
import { DockerfileError } from "./errors.ts";
import type { ArgInstruction, FromInstruction, Instruction } from "./instructions.ts";
import {
  type Directive,
  type Node,
  parse,
  type ParseOptions,
  type ParseWarning,
} from "./parser.ts";
import { parseInstruction } from "./parse_instruction.ts";

/** A build stage: a FROM and the instructions up to the next FROM. */
export interface Stage {
  /** The stage's position (0-based), which `COPY --from=0` refers to. */
  index: number;
  /** The stage name, lowercased, or `""`. */
  name: string;
  /** The base (unexpanded): image, previous stage name, or `scratch`. */
  baseName: string;
  /** The `--platform` of the FROM (unexpanded), or `""`. */
  platform: string;
  /** The FROM instruction itself. */
  from: FromInstruction;
  /** The instructions of the stage, in order, FROM excluded. */
  commands: Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** The file name used in messages. */
  fileName: string;
  /** The ARGs before the first FROM (global scope, usable in FROM lines). */
  metaArgs: ArgInstruction[];
  /** The build stages, in order. */
  stages: Stage[];
  /** The parser directives at the top. */
  directives: Directive[];
  /** The escape token in force. */
  escapeToken: string;
  /** Warnings to show the user (empty continuation lines, a foreign `# syntax=`). */
  warnings: ParseWarning[];
  /** The raw nodes. */
  nodes: Node[];
}

/**
 * Parses a whole Dockerfile: directives, instructions, typed instructions, stages.
 *
 * ```ts
 * const df = parseDockerfile("FROM busybox AS base\nRUN echo hi\n");
 * df.stages[0].name; // "base"
 * df.stages[0].commands[0].original; // "RUN echo hi"
 * ```
 *
 * @throws {DockerfileError} naming the file and line: `Dockerfile:3: unknown instruction: FORM`.
 */
export function parseDockerfile(text: string | Uint8Array, options: ParseOptions = {}): Dockerfile {
  const fileName = options.fileName ?? "Dockerfile";
  const result = parse(text, { fileName });
  const stages: Stage[] = [];
  const metaArgs: ArgInstruction[] = [];
  for (const node of result.nodes) {
    let inst: Instruction;
    try {
      inst = parseInstruction(node);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      throw new DockerfileError(e.message, fileName, node.startLine, node.endLine, { cause: e });
    }
    if (inst.kind === "from") {
      stages.push({
        index: stages.length,
        name: inst.stageName,
        baseName: inst.baseName,
        platform: inst.platform,
        from: inst,
        commands: [],
      });
      continue;
    }
    if (stages.length === 0) {
      if (inst.kind === "arg") {
        metaArgs.push(inst);
        continue;
      }
      throw new DockerfileError(
        "no build stage in current context",
        fileName,
        node.startLine,
        node.endLine,
      );
    }
    stages[stages.length - 1].commands.push(inst);
  }
  if (stages.length === 0) {
    throw new DockerfileError("dockerfile contains no stages to build", fileName, 0);
  }
  const warnings = [...result.warnings];
  const syntax = result.directives.find((d) => d.name === "syntax");
  if (syntax && !isDockerfileFrontend(syntax.value)) {
    warnings.push({
      message: `${fileName}:${syntax.line}: the syntax directive asks for the frontend ` +
        `${syntax.value}; img builds it with its built-in Dockerfile frontend instead`,
      line: syntax.line,
    });
  }
  return {
    fileName,
    metaArgs,
    stages,
    directives: result.directives,
    escapeToken: result.escapeToken,
    warnings,
    nodes: result.nodes,
  };
}

/** True for the official Dockerfile frontend images (`docker/dockerfile:1`, `...-upstream`). */
function isDockerfileFrontend(ref: string): boolean {
  const name = ref.split(/\s/)[0].replace(/@.*$/, "").replace(/:[^/]*$/, "");
  return /^((docker\.io\/)?docker\/dockerfile(-upstream)?|img\/frontend-dockerfile)$/.test(name);
}
