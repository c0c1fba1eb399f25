/**
 * Types one raw parser node into an {@link Instruction}, checking its flags and arguments
 * with BuildKit's wording.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";
import { chompHeredocContent, mustParseHeredoc } from "./heredoc.ts";
import {
  type AddInstruction,
  type ArgDefinition,
  type CopyInstruction,
  type Instruction,
  type InstructionBase,
  INSTRUCTIONS,
  type KeyValuePair,
  type RunInstruction,
  type ShellDependentCommand,
  type SourceContent,
} from "./instructions.ts";
import type { Node } from "./parser.ts";
import { goQuote } from "./shell_lex.ts";
import { BFlags } from "./_bflags.ts";
import { suggest } from "./_suggest.ts";
import { parseMount } from "./mount.ts";
import { parseHealthcheck } from "./_healthcheck.ts";
import {
  errAtLeastOneArgument,
  errBlankNames,
  errExactlyOneArgument,
  errNoDestination,
  handleJSONArgs,
} from "./_args.ts";

function base(node: Node): InstructionBase {
  return {
    original: node.original.trim(),
    keyword: node.keyword,
    startLine: node.startLine,
    endLine: node.endLine,
    flags: node.flags,
    comments: node.comments,
  };
}

/** The arguments the way BuildKit's `nodeArgs` lists them (an ONBUILD's trigger inlined). */
function nodeArgs(node: Node): string[] {
  if (node.sub) return [node.sub.value, ...nodeArgs(node.sub)];
  return node.args;
}

/**
 * Types one raw node.
 *
 * @throws {InstructionError} with BuildKit's wording, without the location (the caller adds
 * it; {@link parseDockerfile} throws {@link DockerfileError}s).
 */
export function parseInstruction(node: Node): Instruction {
  const flags = new BFlags(node.flags);
  const args = nodeArgs(node);
  const b = base(node);
  switch (node.value) {
    case "env":
    case "label": {
      flags.parse();
      const name = node.value.toUpperCase();
      if (args.length === 0) throw errAtLeastOneArgument(name);
      if (args.length % 3 !== 0) {
        throw new InstructionError(`Bad input to ${name}, too many arguments`);
      }
      const pairs: KeyValuePair[] = [];
      for (let j = 0; j < args.length; j += 3) {
        if (args[j].length === 0) throw errBlankNames(name);
        pairs.push({ key: args[j], value: args[j + 1], noDelim: args[j + 2] === "" });
      }
      return node.value === "env"
        ? { kind: "env", ...b, env: pairs }
        : { kind: "label", ...b, labels: pairs };
    }
    case "maintainer":
      if (args.length !== 1) throw errExactlyOneArgument("MAINTAINER");
      flags.parse();
      return { kind: "maintainer", ...b, maintainer: args[0] };
    case "add":
    case "copy":
      return parseCopyOrAdd(node, flags, args, b);
    case "from": {
      const stageName = parseBuildStageName(args);
      const platform = flags.addString("platform");
      flags.parse();
      return { kind: "from", ...b, baseName: args[0], stageName, platform: platform.value };
    }
    case "onbuild": {
      if (args.length === 0 || !node.sub) throw errAtLeastOneArgument("ONBUILD");
      flags.parse();
      const trigger = node.sub.keyword.toUpperCase();
      if (trigger === "ONBUILD") {
        throw new InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      }
      if (trigger === "MAINTAINER" || trigger === "FROM") {
        throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
      }
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of node.heredocs) expression += "\n" + h.content + h.name;
      return { kind: "onbuild", ...b, expression, trigger: parseInstruction(node.sub) };
    }
    case "workdir":
      if (args.length !== 1) throw errExactlyOneArgument("WORKDIR");
      flags.parse();
      return { kind: "workdir", ...b, path: args[0] };
    case "run":
      return parseRun(node, flags, args, b);
    case "cmd":
      flags.parse();
      return { kind: "cmd", ...b, ...shellDependent(node, args) };
    case "entrypoint":
      flags.parse();
      return { kind: "entrypoint", ...b, ...shellDependent(node, args) };
    case "healthcheck":
      return { kind: "healthcheck", ...b, health: parseHealthcheck(node, flags, args) };
    case "expose":
      if (args.length === 0) throw errAtLeastOneArgument("EXPOSE");
      flags.parse();
      return { kind: "expose", ...b, ports: [...args].sort() };
    case "user":
      if (args.length !== 1) throw errExactlyOneArgument("USER");
      flags.parse();
      return { kind: "user", ...b, user: args[0] };
    case "volume": {
      if (args.length === 0) throw errAtLeastOneArgument("VOLUME");
      flags.parse();
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === "")) {
        throw new InstructionError("VOLUME specified can not be an empty string");
      }
      return { kind: "volume", ...b, volumes };
    }
    case "stopsignal":
      if (args.length !== 1) throw errExactlyOneArgument("STOPSIGNAL");
      flags.parse();
      return { kind: "stopsignal", ...b, signal: args[0] };
    case "arg": {
      if (args.length < 1) throw errAtLeastOneArgument("ARG");
      flags.parse();
      const defs: ArgDefinition[] = args.map((arg) => {
        const i = arg.indexOf("=");
        if (i < 0) return { key: arg };
        if (i === 0) throw errBlankNames("ARG");
        return { key: arg.slice(0, i), value: arg.slice(i + 1) };
      });
      return { kind: "arg", ...b, args: defs };
    }
    case "shell": {
      flags.parse();
      const shell = handleJSONArgs(args, node.json);
      if (shell.length === 0) throw errAtLeastOneArgument("SHELL");
      if (!node.json) {
        throw new InstructionError("SHELL requires the arguments to be in JSON form");
      }
      return { kind: "shell", ...b, shell };
    }
  }
  const hint = suggest(node.value, INSTRUCTIONS);
  throw new InstructionError(
    `unknown instruction: ${node.keyword.toUpperCase()}${
      hint ? ` (did you mean ${hint.toUpperCase()}?)` : ""
    }`,
  );
}

function shellDependent(node: Node, args: string[]): ShellDependentCommand {
  return {
    cmdLine: handleJSONArgs(args, node.json),
    prependShell: !node.json,
    files: node.heredocs.map((h) => ({
      name: h.name,
      data: h.content,
      chomp: h.chomp,
      expand: h.expand,
    })),
  };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseBuildStageName(args: string[]): string {
  if (args.length === 3 && args[1].toLowerCase() === "as") {
    const name = args[2].toLowerCase();
    if (!STAGE_NAME.test(name)) {
      throw new InstructionError(
        `invalid name for build stage: ${
          goQuote(args[2])
        }, name can't start with a number or contain symbols`,
      );
    }
    return name;
  }
  if (args.length !== 1) throw new InstructionError("FROM requires either one or three arguments");
  return "";
}

function parseSourcesAndDest(node: Node, args: string[], command: string) {
  const srcs = args.slice(0, -1);
  const dest = args[args.length - 1];
  if (!node.json && mustParseHeredoc(dest)) {
    throw new InstructionError(`${command} cannot accept a heredoc as a destination`);
  }
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sourcePaths: string[] = [];
  const sourceContents: SourceContent[] = [];
  for (const src of srcs) {
    const heredoc = node.json ? undefined : mustParseHeredoc(src);
    if (heredoc) {
      let data = byName.get(heredoc.name)?.content ?? "";
      if (heredoc.chomp) data = chompHeredocContent(data);
      sourceContents.push({ path: heredoc.name, data, expand: heredoc.expand });
    } else {
      sourcePaths.push(src);
    }
  }
  return { sourcePaths, sourceContents, destPath: dest };
}

/** COPY and ADD share their parser: COPY adds `--from` and `--parents`, ADD its remote options. */
function parseCopyOrAdd(
  node: Node,
  flags: BFlags,
  args: string[],
  b: InstructionBase,
): CopyInstruction | AddInstruction {
  const command = node.value === "copy" ? "COPY" : "ADD";
  if (args.length < 2) throw errNoDestination(command);
  const exclude = flags.addStrings("exclude");
  const chown = flags.addString("chown");
  const chmod = flags.addString("chmod");
  const link = flags.addBool("link");
  const common = () => ({
    ...b,
    ...parseSourcesAndDest(node, args, command),
    chown: chown.value,
    chmod: chmod.value,
    link: link.value === "true",
    excludePatterns: exclude.values,
  });
  if (node.value === "copy") {
    const parents = flags.addBool("parents");
    const from = flags.addString("from");
    flags.parse();
    return { kind: "copy", ...common(), from: from.value, parents: parents.value === "true" };
  }
  const keepGitDir = flags.addBool("keep-git-dir");
  const checksum = flags.addString("checksum");
  const unpack = flags.addBool("unpack");
  flags.parse();
  return {
    kind: "add",
    ...common(),
    keepGitDir: keepGitDir.value === "true",
    checksum: checksum.value,
    unpack: flags.used.has("unpack") ? unpack.value === "true" : undefined,
  };
}

function parseRun(node: Node, flags: BFlags, args: string[], b: InstructionBase): RunInstruction {
  const mount = flags.addStrings("mount");
  const network = flags.addString("network", "default");
  const security = flags.addString("security", "sandbox");
  flags.parse();
  const mounts = mount.values.map((spec) => parseMount(spec));
  if (!["default", "none", "host"].includes(network.value)) {
    throw new InstructionError(`unsupported network mode ${goQuote(network.value)}`);
  }
  if (!["sandbox", "insecure"].includes(security.value)) {
    throw new InstructionError(`unsupported security mode ${goQuote(security.value)}`);
  }
  return {
    kind: "run",
    ...b,
    ...shellDependent(node, args),
    mounts,
    mountSpecs: mount.values,
    network: network.value as RunInstruction["network"],
    security: security.value as RunInstruction["security"],
    flagsUsed: [...flags.used],
  };
}
