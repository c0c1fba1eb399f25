/**
 * The typed instruction model: each raw {@link Node} of the parser becomes a
 * `FromInstruction`, `RunInstruction`, `CopyInstruction`, ... with its flags checked, and the
 * instructions are grouped into build stages, as BuildKit's
 * `frontend/dockerfile/instructions` does.
 *
 * Arguments are kept as written (quotes included): the builder expands them with
 * {@link ShellLex.processWord} for the instructions {@link expandsVariables} lists, which is
 * also where docker removes the quotes.
 *
 * @module
 */
import { DockerfileError, InstructionError } from "./errors.ts";
import { chompHeredocContent, mustParseHeredoc } from "./heredoc.ts";
import {
  type Directive,
  type Node,
  parse,
  type ParseOptions,
  type ParseWarning,
} from "./parser.ts";
import { goQuote, type ShellLex } from "./shell_lex.ts";

/** Where an instruction is in its file. */
export interface InstructionBase {
  /** The source text, continuations joined and trimmed: `RUN make`; for history and progress. */
  original: string;
  /** The instruction as written (`RUN`, `run`). */
  keyword: string;
  /** The first line (1-based). */
  startLine: number;
  /** The last line (1-based), heredoc bodies included. */
  endLine: number;
  /** The `--flag` words as written. */
  flags: string[];
  /** The comment lines right above the instruction. */
  comments: string[];
}

/** A `key=value` of ENV or LABEL; the value keeps its quotes until it is expanded. */
export interface KeyValuePair {
  /** The name. */
  key: string;
  /** The value, as written. */
  value: string;
  /** True for the legacy `ENV key value` form (no `=`). */
  noDelim: boolean;
}

/** One name of an ARG, with its default when it has one. */
export interface ArgDefinition {
  /** The name. */
  key: string;
  /** The default, as written, or `undefined` for `ARG name`. */
  value?: string;
}

/** `FROM [--platform=p] image [AS name]`: starts a build stage. */
export interface FromInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "from";
  /** The base: an image reference, a previous stage's name, or `scratch` (unexpanded). */
  baseName: string;
  /** The stage name, lowercased, or `""` when the stage has none. */
  stageName: string;
  /** The `--platform` value (unexpanded), or `""`. */
  platform: string;
}

/** A file a shell-form command gets from a heredoc. */
export interface ShellInlineFile {
  /** The heredoc delimiter (`EOF`). */
  name: string;
  /** The heredoc body, as written (see `chomp`). */
  data: string;
  /** True for `<<-`: strip leading tabs from `data`. */
  chomp: boolean;
  /** False when the delimiter was quoted: do not expand `data`. */
  expand: boolean;
}

/** Fields shared by RUN, CMD and ENTRYPOINT. */
export interface ShellDependentCommand {
  /** The command: the JSON array, or one string in shell form. */
  cmdLine: string[];
  /** True in shell form: the stage's SHELL is prepended when it runs. */
  prependShell: boolean;
  /** Heredoc bodies (RUN only). */
  files: ShellInlineFile[];
}

/** A `RUN --mount=...` mount. */
export interface RunMount {
  /** `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`. */
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /** The stage or image to mount from (`from=`), or `""` for the build context. */
  from: string;
  /** `source=`/`src=`: the path in `from`, or the secret id. */
  source: string;
  /** `target=`/`dst=`/`destination=`: where it is mounted. */
  target: string;
  /** Read-only: defaults to true for bind, secret and ssh, false for cache and tmpfs. */
  readOnly: boolean;
  /** `id=`: the cache id or the secret/ssh id. */
  id: string;
  /** `sharing=` of a cache mount: `shared` (default), `private` or `locked`. */
  sharing: string;
  /** `required=` of a secret or ssh mount. */
  required: boolean;
  /** `size=` of a tmpfs mount, in bytes. */
  sizeLimit?: number;
  /** `env=` of a secret mount: the variable the secret is exposed as. */
  env?: string;
  /** `mode=`, octal, for cache, secret and ssh mounts. */
  mode?: number;
  /** `uid=` for cache, secret and ssh mounts. */
  uid?: number;
  /** `gid=` for cache, secret and ssh mounts. */
  gid?: number;
  /**
   * True when a value referenced a variable: the mount was read without expansion; parse
   * the spec again with {@link parseMount} and an expander before using it.
   */
  unexpanded: boolean;
}

/** `RUN [--mount=...] [--network=...] [--security=...] command`. */
export interface RunInstruction extends InstructionBase, ShellDependentCommand {
  /** Discriminant. */
  kind: "run";
  /** The mounts, parsed (see {@link RunMount.unexpanded}). */
  mounts: RunMount[];
  /** The `--mount` values as written, to parse again with an expander. */
  mountSpecs: string[];
  /** `--network`: `default`, `none` or `host`. */
  network: "default" | "none" | "host";
  /** `--security`: `sandbox` or `insecure`. */
  security: "sandbox" | "insecure";
  /** The flag names that were used. */
  flagsUsed: string[];
}

/** `CMD command`. */
export interface CmdInstruction extends InstructionBase, ShellDependentCommand {
  /** Discriminant. */
  kind: "cmd";
}

/** `ENTRYPOINT command`. */
export interface EntrypointInstruction extends InstructionBase, ShellDependentCommand {
  /** Discriminant. */
  kind: "entrypoint";
}

/** `ENV a=b c=d` or `ENV a b c`. */
export interface EnvInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "env";
  /** The variables, in order. */
  env: KeyValuePair[];
}

/** `LABEL a=b c=d`. */
export interface LabelInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "label";
  /** The labels, in order. */
  labels: KeyValuePair[];
}

/** `ARG a=1 b`. */
export interface ArgInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "arg";
  /** The arguments, in order. */
  args: ArgDefinition[];
}

/** `MAINTAINER name` (deprecated; becomes the config's author). */
export interface MaintainerInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "maintainer";
  /** The maintainer, verbatim. */
  maintainer: string;
}

/** `EXPOSE 80/tcp 53/udp`. */
export interface ExposeInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "expose";
  /** The port words, sorted as BuildKit sorts them (each may expand to several ports). */
  ports: string[];
}

/** `VOLUME ["/a", "/b"]` or `VOLUME /a /b`. */
export interface VolumeInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "volume";
  /** The paths. */
  volumes: string[];
}

/** `USER name[:group]`. */
export interface UserInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "user";
  /** The user, unexpanded. */
  user: string;
}

/** `WORKDIR path`. */
export interface WorkdirInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "workdir";
  /** The path, unexpanded; relative paths chain on the previous WORKDIR. */
  path: string;
}

/** A file COPY or ADD gets from a heredoc. */
export interface SourceContent {
  /** The heredoc delimiter, used as the file name. */
  path: string;
  /** The body (leading tabs already stripped for `<<-`). */
  data: string;
  /** False when the delimiter was quoted: do not expand `data`. */
  expand: boolean;
}

/** Fields shared by COPY and ADD. */
export interface SourcesAndDest {
  /** The source paths (or URLs for ADD), unexpanded. */
  sourcePaths: string[];
  /** Sources given as heredocs. */
  sourceContents: SourceContent[];
  /** The destination, unexpanded. */
  destPath: string;
  /** `--chown=user[:group]`, or `""`. */
  chown: string;
  /** `--chmod=mode`, or `""`. */
  chmod: string;
  /** `--link`. */
  link: boolean;
  /** `--exclude=pattern` values. */
  excludePatterns: string[];
}

/** `COPY [--from=...] [--chown=...] [--chmod=...] [--link] [--parents] [--exclude=...] src... dest`. */
export interface CopyInstruction extends InstructionBase, SourcesAndDest {
  /** Discriminant. */
  kind: "copy";
  /** `--from`: a stage name or index, or an image, or `""` for the context. */
  from: string;
  /** `--parents`. */
  parents: boolean;
}

/** `ADD [--chown] [--chmod] [--link] [--checksum] [--keep-git-dir] [--unpack] [--exclude] src... dest`. */
export interface AddInstruction extends InstructionBase, SourcesAndDest {
  /** Discriminant. */
  kind: "add";
  /** `--checksum=sha256:...` of a remote source, or `""`. */
  checksum: string;
  /** `--keep-git-dir`. */
  keepGitDir: boolean;
  /** `--unpack[=bool]`, or `undefined` for the default (local archives are unpacked). */
  unpack?: boolean;
}

/** `SHELL ["/bin/bash", "-c"]`. */
export interface ShellInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "shell";
  /** The shell and its arguments. */
  shell: string[];
}

/** `STOPSIGNAL signal`. */
export interface StopSignalInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "stopsignal";
  /** The signal, unexpanded. */
  signal: string;
}

/** A health check as the image config stores it; durations in nanoseconds, 0 = inherit. */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...args]` or `["CMD-SHELL", command]`. */
  test: string[];
  /** `--interval`, ns. */
  interval: number;
  /** `--timeout`, ns. */
  timeout: number;
  /** `--start-period`, ns. */
  startPeriod: number;
  /** `--start-interval`, ns. */
  startInterval: number;
  /** `--retries`. */
  retries: number;
}

/** `HEALTHCHECK [options] CMD command` or `HEALTHCHECK NONE`. */
export interface HealthcheckInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "healthcheck";
  /** The health check. */
  health: HealthConfig;
}

/** `ONBUILD instruction`. */
export interface OnbuildInstruction extends InstructionBase {
  /** Discriminant. */
  kind: "onbuild";
  /** The trigger as the image config stores it: the text after `ONBUILD` (+ heredocs). */
  expression: string;
  /** The trigger, parsed. */
  trigger: Instruction;
}

/** Any instruction of a Dockerfile. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | CopyInstruction
  | AddInstruction
  | ShellInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

/** The instructions Docker knows, lowercased. */
export const INSTRUCTIONS: readonly string[] = [
  "add",
  "arg",
  "cmd",
  "copy",
  "entrypoint",
  "env",
  "expose",
  "from",
  "healthcheck",
  "label",
  "maintainer",
  "onbuild",
  "run",
  "shell",
  "stopsignal",
  "user",
  "volume",
  "workdir",
];

// ---------------------------------------------------------------------------------------
// Flags

type FlagType = "bool" | "string" | "strings";

interface Flag {
  type: FlagType;
  value: string;
  values: string[];
}

/** The `--flags` of one instruction, checked like BuildKit's `BFlags`. */
class BFlags {
  #flags = new Map<string, Flag>();
  used = new Set<string>();
  constructor(readonly args: string[]) {}

  #add(name: string, type: FlagType, def: string): Flag {
    const flag = { type, value: def, values: [] };
    this.#flags.set(name, flag);
    return flag;
  }
  addBool(name: string, def = false): Flag {
    return this.#add(name, "bool", def ? "true" : "false");
  }
  addString(name: string, def = ""): Flag {
    return this.#add(name, "string", def);
  }
  addStrings(name: string): Flag {
    return this.#add(name, "strings", "");
  }

  parse(): void {
    for (let arg of this.args) {
      if (!arg.startsWith("--")) throw new InstructionError(`arg should start with -- : ${arg}`);
      if (arg === "--") return;
      arg = arg.slice(2);
      let value = "";
      const index = arg.indexOf("=");
      if (index >= 0) {
        value = arg.slice(index + 1);
        arg = arg.slice(0, index);
      }
      const flag = this.#flags.get(arg);
      if (!flag) {
        const hint = suggest(arg, [...this.#flags.keys()]);
        throw new InstructionError(
          `unknown flag: --${arg}${hint ? ` (did you mean --${hint}?)` : ""}`,
        );
      }
      if (this.used.has(arg) && flag.type !== "strings") {
        throw new InstructionError(`duplicate flag specified: --${arg}`);
      }
      this.used.add(arg);
      switch (flag.type) {
        case "bool": {
          if (index >= 0 && value === "") {
            throw new InstructionError(`missing a value on flag: --${arg}`);
          }
          const lower = value.toLowerCase();
          if (lower === "") flag.value = "true";
          else if (lower === "true" || lower === "false") flag.value = lower;
          else {
            throw new InstructionError(`expecting boolean value for flag --${arg}, not: ${value}`);
          }
          break;
        }
        case "string":
          if (index < 0) throw new InstructionError(`missing a value on flag: --${arg}`);
          flag.value = value;
          break;
        case "strings":
          if (index < 0) throw new InstructionError(`missing a value on flag: --${arg}`);
          flag.values.push(value);
          break;
      }
    }
  }
}

/** The closest option to `value` when it is close enough to be a typo. */
function suggest(value: string, options: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  let best: string | undefined;
  let bestDist = v.length >= 4 ? 3 : 2;
  for (const o of options) {
    const dist = editDistance(v, o.toLowerCase());
    if (dist < bestDist) {
      bestDist = dist;
      best = o;
    }
  }
  return best;
}

/** Optimal string alignment distance (a transposition costs 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = 0; i <= a.length; i++) d[i][0] = i;
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

// ---------------------------------------------------------------------------------------
// Instructions

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

function handleJSONArgs(args: string[], json: boolean): string[] {
  if (args.length === 0) return [];
  if (json) return args;
  return [args.join(" ")];
}

const errAtLeastOneArgument = (c: string) =>
  new InstructionError(`${c} requires at least one argument`);
const errExactlyOneArgument = (c: string) =>
  new InstructionError(`${c} requires exactly one argument`);
const errNoDestination = (c: string) =>
  new InstructionError(
    `${c} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );
const errBlankNames = (c: string) => new InstructionError(`${c} names can not be blank`);

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
      return parseAdd(node, flags, args, b);
    case "copy":
      return parseCopy(node, flags, args, b);
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

function parseCopy(node: Node, flags: BFlags, args: string[], b: InstructionBase): CopyInstruction {
  if (args.length < 2) throw errNoDestination("COPY");
  const exclude = flags.addStrings("exclude");
  const parents = flags.addBool("parents");
  const chown = flags.addString("chown");
  const from = flags.addString("from");
  const chmod = flags.addString("chmod");
  const link = flags.addBool("link");
  flags.parse();
  return {
    kind: "copy",
    ...b,
    ...parseSourcesAndDest(node, args, "COPY"),
    from: from.value,
    chown: chown.value,
    chmod: chmod.value,
    link: link.value === "true",
    parents: parents.value === "true",
    excludePatterns: exclude.values,
  };
}

function parseAdd(node: Node, flags: BFlags, args: string[], b: InstructionBase): AddInstruction {
  if (args.length < 2) throw errNoDestination("ADD");
  const exclude = flags.addStrings("exclude");
  const chown = flags.addString("chown");
  const chmod = flags.addString("chmod");
  const link = flags.addBool("link");
  const keepGitDir = flags.addBool("keep-git-dir");
  const checksum = flags.addString("checksum");
  const unpack = flags.addBool("unpack");
  flags.parse();
  return {
    kind: "add",
    ...b,
    ...parseSourcesAndDest(node, args, "ADD"),
    chown: chown.value,
    chmod: chmod.value,
    link: link.value === "true",
    keepGitDir: keepGitDir.value === "true",
    checksum: checksum.value,
    unpack: flags.used.has("unpack") ? unpack.value === "true" : undefined,
    excludePatterns: exclude.values,
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

const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"];
const MOUNT_KEYS = [
  "type",
  "from",
  "source",
  "target",
  "readonly",
  "id",
  "sharing",
  "required",
  "size",
  "env",
  "mode",
  "uid",
  "gid",
  "src",
  "dst",
  "destination",
  "ro",
  "rw",
  "readwrite",
];

/**
 * Parses a `--mount` value (`type=cache,target=/root/.cache,sharing=locked`), as BuildKit's
 * `parseMount`. With `expand`, every value is expanded first; without it, values that
 * reference a variable are kept as written and the mount is marked `unexpanded`.
 *
 * @throws {InstructionError} on an unknown key or type, or an invalid combination.
 */
export function parseMount(spec: string, expand?: (word: string) => string): RunMount {
  const m: RunMount = {
    type: "bind",
    from: "",
    source: "",
    target: "",
    readOnly: false,
    id: "",
    sharing: "",
    required: false,
    unexpanded: false,
  };
  let roAuto = true;
  for (const field of splitCSV(spec)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === "readonly" || key === "ro") {
        m.readOnly = true;
        roAuto = false;
        continue;
      }
      if (key === "readwrite" || key === "rw") {
        m.readOnly = false;
        roAuto = false;
        continue;
      }
      if (key === "required") {
        if (m.type === "secret" || m.type === "ssh") {
          m.required = true;
          continue;
        }
        throw new InstructionError(`unexpected key '${key}' for mount type '${m.type}'`);
      }
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
    }
    let value = field.slice(eq + 1);
    if (expand) {
      value = expand(value);
    } else if (/\$./.test(value)) {
      if (key === "from") {
        throw new InstructionError(
          `'${key}' doesn't support variable expansion, define alias stage instead`,
        );
      }
      if (!MOUNT_KEYS.includes(key)) throw unexpectedKey(key, field);
      m.unexpanded = true;
      switch (key) {
        case "source":
        case "src":
          m.source = value;
          break;
        case "target":
        case "dst":
        case "destination":
          m.target = value;
          break;
        case "id":
          m.id = value;
          break;
        case "env":
          m.env = value;
          break;
      }
      continue;
    }
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!MOUNT_TYPES.includes(t)) {
          const hint = suggest(value, MOUNT_TYPES);
          throw new InstructionError(
            `unsupported mount type ${goQuote(value)}${hint ? ` (did you mean ${hint}?)` : ""}`,
          );
        }
        m.type = t as RunMount["type"];
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case "readwrite":
      case "rw":
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case "required":
        if (m.type !== "secret" && m.type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${m.type}'`);
        }
        m.required = parseBool(key, value);
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!["shared", "private", "locked"].includes(s)) {
          throw new InstructionError(`unsupported sharing value ${goQuote(value)}`);
        }
        m.sharing = s;
        break;
      }
      case "size":
        if (m.type !== "tmpfs") {
          throw new InstructionError(`size not allowed for ${goQuote(m.type)} type mounts`);
        }
        m.sizeLimit = parseRAMInBytes(value);
        break;
      case "env":
        m.env = value;
        break;
      case "mode":
        if (!/^[0-7]+$/.test(value)) throw new InstructionError(`invalid value ${value} for mode`);
        m.mode = Number.parseInt(value, 8);
        break;
      case "uid":
      case "gid": {
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
          throw new InstructionError(`invalid value ${value} for ${key}`);
        }
        m[key] = Number(value);
        break;
      }
      default:
        throw unexpectedKey(key, field);
    }
  }

  const fileInfoAllowed = m.type === "secret" || m.type === "ssh" || m.type === "cache";
  for (const k of ["mode", "uid", "gid"] as const) {
    if (m[k] !== undefined && !fileInfoAllowed) {
      throw new InstructionError(`${k} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = !(m.type === "cache" || m.type === "tmpfs");
  if (m.sharing !== "" && m.type !== "cache") {
    throw new InstructionError(`invalid cache sharing set for ${m.type} mount`);
  }
  if (m.type === "cache" && m.sharing === "") m.sharing = "shared";
  if (m.type === "secret") {
    if (m.from !== "") throw new InstructionError("secret mount should not have a from");
    if (m.source === "" && m.target === "" && m.id === "" && m.env === undefined) {
      throw new InstructionError("invalid secret mount. one of source, target required");
    }
    if (m.source !== "" && m.id !== "") {
      throw new InstructionError("both source and id can't be set");
    }
  }
  return m;
}

function unexpectedKey(key: string, field: string): InstructionError {
  const hint = suggest(key, MOUNT_KEYS);
  return new InstructionError(
    `unexpected key '${key}' in '${field}'${hint ? ` (did you mean ${hint}?)` : ""}`,
  );
}

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new InstructionError(`invalid value for ${key}: ${value}`);
}

/** Splits one CSV record, as Go's `encoding/csv` reads a `--mount` value. */
function splitCSV(s: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new InstructionError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          );
        }
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ",") {
        throw new InstructionError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        );
      }
    } else {
      while (i < s.length && s[i] !== ",") field += s[i++];
    }
    fields.push(field);
    if (i >= s.length) break;
    i++; // the comma
  }
  return fields;
}

/** Parses a size like docker's `units.RAMInBytes` (`64m`, `1g`, `1024`); binary units. */
function parseRAMInBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new InstructionError(`invalid size: '${value}'`);
  const mult: Record<string, number> = {
    "": 1,
    k: 2 ** 10,
    m: 2 ** 20,
    g: 2 ** 30,
    t: 2 ** 40,
    p: 2 ** 50,
  };
  return Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
}

function parseHealthcheck(node: Node, flags: BFlags, args: string[]): HealthConfig {
  if (args.length === 0) throw errAtLeastOneArgument("HEALTHCHECK");
  let typ = args[0].toUpperCase();
  const rest = args.slice(1);
  const health: HealthConfig = {
    test: [],
    interval: 0,
    timeout: 0,
    startPeriod: 0,
    startInterval: 0,
    retries: 0,
  };
  if (typ === "NONE") {
    if (rest.length !== 0) throw new InstructionError("HEALTHCHECK NONE takes no arguments");
    flags.parse();
    health.test = ["NONE"];
    return health;
  }
  const interval = flags.addString("interval");
  const timeout = flags.addString("timeout");
  const startPeriod = flags.addString("start-period");
  const startInterval = flags.addString("start-interval");
  const retries = flags.addString("retries");
  flags.parse();
  if (typ !== "CMD") {
    throw new InstructionError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
  }
  const cmd = handleJSONArgs(rest, node.json);
  if (cmd.length === 0) throw new InstructionError("Missing command after HEALTHCHECK CMD");
  if (!node.json) typ = "CMD-SHELL";
  health.test = [typ, ...cmd];
  health.interval = parseOptInterval("interval", interval.value);
  health.timeout = parseOptInterval("timeout", timeout.value);
  health.startPeriod = parseOptInterval("start-period", startPeriod.value);
  health.startInterval = parseOptInterval("start-interval", startInterval.value);
  if (retries.value !== "") {
    if (!/^[+-]?\d+$/.test(retries.value)) {
      throw new InstructionError(
        `strconv.ParseInt: parsing ${goQuote(retries.value)}: invalid syntax`,
      );
    }
    const n = Number.parseInt(retries.value, 10);
    if (n < 0) throw new InstructionError(`--retries cannot be negative (${n})`);
    health.retries = n;
  }
  return health;
}

function parseOptInterval(name: string, value: string): number {
  if (value === "") return 0;
  const d = parseDuration(value);
  if (d === 0) return 0;
  if (d < 1_000_000) {
    throw new InstructionError(`Interval ${goQuote(name)} cannot be less than 1ms`);
  }
  return d;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a Go duration (`30s`, `1m30s`, `1.5h`, `500ms`) into nanoseconds.
 *
 * @throws {InstructionError} when `s` is not a duration.
 */
export function parseDuration(s: string): number {
  const orig = s;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new InstructionError(`time: invalid duration ${goQuote(orig)}`);
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) {
      throw new InstructionError(
        /^(\d+(?:\.\d*)?|\.\d+)$/.test(s)
          ? `time: missing unit in duration ${goQuote(orig)}`
          : `time: invalid duration ${goQuote(orig)}`,
      );
    }
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

// ---------------------------------------------------------------------------------------
// Stages

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

/**
 * Expands the arguments of an instruction with `lex` against `env`, the way BuildKit's
 * `Expand` methods do for the instructions {@link expandsVariables} lists (quotes removed as
 * a side effect); other instructions come back unchanged. FROM's base and platform, COPY's
 * `--from` and RUN's mounts are left to the builder, which expands them with its own scopes.
 *
 * @throws {ShellLexError} on a bad substitution or `${x:?}` of an unset variable.
 */
export function expandInstruction<T extends Instruction>(
  inst: T,
  lex: ShellLex,
  env: Parameters<ShellLex["processWord"]>[1],
): T {
  const w = (s: string) => lex.processWord(s, env);
  const i = inst as Instruction;
  switch (i.kind) {
    case "env":
      return { ...i, env: i.env.map((p) => ({ ...p, key: w(p.key), value: w(p.value) })) } as T;
    case "label":
      return {
        ...i,
        labels: i.labels.map((p) => ({ ...p, key: w(p.key), value: w(p.value) })),
      } as T;
    case "arg":
      return {
        ...i,
        args: i.args.map((a) => ({
          key: w(a.key),
          value: a.value === undefined ? undefined : w(a.value),
        })),
      } as T;
    case "copy":
    case "add": {
      const common = {
        sourcePaths: i.sourcePaths.map(w),
        destPath: w(i.destPath),
        chown: w(i.chown),
        chmod: w(i.chmod),
        excludePatterns: i.excludePatterns.map(w),
      };
      if (i.kind === "add") return { ...i, ...common, checksum: w(i.checksum) } as T;
      return { ...i, ...common } as T;
    }
    case "expose":
      return { ...i, ports: i.ports.flatMap((p) => lex.processWords(p, env)) } as T;
    case "volume":
      return { ...i, volumes: i.volumes.map(w) } as T;
    case "user":
      return { ...i, user: w(i.user) } as T;
    case "workdir":
      return { ...i, path: w(i.path) } as T;
    case "stopsignal":
      return { ...i, signal: w(i.signal) } as T;
    default:
      return inst;
  }
}
