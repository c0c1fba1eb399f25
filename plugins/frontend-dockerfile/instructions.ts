/**
 * The typed instruction model: each raw `Node` of the parser becomes a `FromInstruction`,
 * `RunInstruction`, `CopyInstruction`, ... (see `parse_instruction.ts`), as BuildKit's
 * `frontend/dockerfile/instructions` does.
 *
 * Arguments are kept as written (quotes included): the builder expands them with
 * `expandInstruction` (`expand.ts`), which is also where docker removes the quotes.
 *
 * @module
 */
import type { RunMount } from "./mount.ts";

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
