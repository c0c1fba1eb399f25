/**
 * Dockerfile to build graph, as BuildKit's `dockerfile2llb` does: stages become chains of
 * vertices, only the stages the target needs are converted, and the image config (env,
 * entrypoint, history, ...) is computed alongside.
 *
 * @module
 */
import {
  type BuildDefinition,
  type ContainerConfig,
  type Digest,
  type ExecMount,
  type ExecOp,
  type ExtraHost,
  type FileAction,
  formatPlatform,
  type FrontendClient,
  GraphBuilder,
  type History,
  type ImageConfig,
  ImgError,
  parsePlatform,
  type Platform,
  type Ulimit,
} from "@img/core";
import { parseChmod } from "@img/core/solver";
import {
  type GitRef,
  gitSourceName,
  gitSourceOp,
  type GitSourceSpec,
  parseGitRef,
} from "@img/core/source";
import { httpFilename, httpSourceOp, isHttpURL, validateChecksum } from "./remote_source.ts";
import { DockerfileError } from "./errors.ts";
import type {
  AddInstruction,
  CopyInstruction,
  Instruction,
  RunInstruction,
} from "./instructions.ts";
import { expandInstruction } from "./expand.ts";
import { parseMount } from "./mount.ts";
import { parsePortSpecs } from "./ports.ts";
import type { Linter } from "./checks.ts";
import { suggest } from "./_suggest.ts";
import { type Dockerfile, parseDockerfile, type Stage } from "./stages.ts";
import { ShellLex } from "./shell_lex.ts";
import { metaArgValues, platformArgs } from "./base_image.ts";
import { toExecMount } from "./exec_mount.ts";
import { loadNamedContext, type NamedContext, namedContextKey } from "./named_context.ts";

/** The PATH BuildKit gives images that start from scratch, and RUN steps without one. */
export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Build arguments every build accepts without an ARG (docker's predefined proxy args). */
const PROXY_ARGS = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
];

const HISTORY_COMMENT = "buildkit.dockerfile.v0";

/** What the converter needs besides the Dockerfile. */
export interface ConvertOptions {
  /** The stage to build (`--target`); the last one by default. */
  target?: string;
  /** `--build-arg` values. */
  buildArgs: Record<string, string>;
  /** `--label` values, added to the final image. */
  labels: Record<string, string>;
  /** The platform the build targets (`TARGETPLATFORM`). */
  platform: Platform;
  /** The platform the build runs on (`BUILDPLATFORM`); the target platform by default. */
  buildPlatform?: Platform;
  /** The `.dockerignore` patterns, applied to the context. */
  excludes: string[];
  /** Build checks: the converter reports `UndefinedVar` to it. */
  linter?: Linter;
  /** The `created` time of history entries and the image (SOURCE_DATE_EPOCH or now). */
  created: Date;
  /** Do not use the cache for any vertex. */
  noCache?: boolean;
  /** `--no-cache-filter`: do not use the cache for the steps of these stages (names or indexes). */
  noCacheStages?: string[];
  /**
   * `--network` (BuildKit's `force-network-mode`): the network of every RUN that asks for
   * none itself; `host` needs `--allow network.host`.
   */
  networkMode?: "default" | "none" | "host";
  /** `--add-host` (BuildKit's `add-hosts`): `/etc/hosts` entries of every RUN. */
  extraHosts?: ExtraHost[];
  /** `--shm-size` (BuildKit's `shm-size`): the size of every RUN's `/dev/shm` in bytes. */
  shmSize?: number;
  /** `--ulimit` (BuildKit's `ulimit`): the resource limits of every RUN. */
  ulimits?: Ulimit[];
  /** Entitlements granted with `--allow` (`network.host`, `security.insecure`). */
  allow?: string[];
  /**
   * Named contexts (BuildKit's `context:NAME` frontend options, `--build-context`): `NAME` or
   * `NAME::PLATFORM` to `local:LOCAL`, `docker-image://REF` or `oci-layout://STORE:TAG@DIGEST`.
   * A name replaces the stage of that name, and the image of that name in `FROM`,
   * `COPY --from` and `RUN --mount from=`.
   */
  namedContexts?: Record<string, string>;
  /**
   * One of several platforms is being built: step names carry the stage's platform
   * (`[linux/arm64 build 2/3] RUN ...`), as BuildKit shows them.
   */
  multiPlatform?: boolean;
}

interface StageState {
  stage: Stage;
  /** Display prefix, `[build ` or `[`. */
  prefix: string;
  /** The number of vertex-making steps of the stage, FROM included. */
  total: number;
  step: number;
  head: Digest;
  /** The platform the stage's steps run for (`FROM --platform`, else the target's). */
  platform: Platform;
  config: ImageConfig;
  /** Declared ARGs in scope with their values (`undefined` = declared without value). */
  args: Map<string, string | undefined>;
  shell: string[];
  cmdSet: boolean;
  converted: boolean;
}

function emptyImage(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: [DEFAULT_PATH], WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
}

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf("=");
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return m;
}

/** Sets `key` in the config's Env, in place when it is there already (BuildKit's `addEnv`). */
function setEnv(config: ContainerConfig, key: string, value: string): void {
  const env = [...(config.Env ?? [])];
  const i = env.findIndex((e) => e.split("=", 1)[0] === key);
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  config.Env = env;
}

/** Go's `%q` of a string: a double-quoted Go string literal. */
function goQuoteString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

/** Go's `%q` of a `[]string`: `["a" "b"]`, as BuildKit writes CMD and ENTRYPOINT history. */
function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuoteString).join(" ")}]`;
}

/** Go's `%q` of an int: a single-quoted rune literal (`'\x03'`, `'A'`). */
function goQuoteRune(n: number): string {
  const named: Record<number, string> = {
    7: "\\a",
    8: "\\b",
    9: "\\t",
    10: "\\n",
    11: "\\v",
    12: "\\f",
    13: "\\r",
    39: "\\'",
    92: "\\\\",
  };
  if (named[n]) return `'${named[n]}'`;
  if (n >= 0x20 && n < 0x7f) return `'${String.fromCharCode(n)}'`;
  if (n < 0x100) return `'\\x${n.toString(16).padStart(2, "0")}'`;
  return `'${String.fromCodePoint(n)}'`;
}

/** Go's `time.Duration.String()` of `ns` nanoseconds (`0s`, `1m30s`, `500ms`). */
function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ["ns", 1] : u < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    out = `${trimFraction(u / (div as number))}${unit}`;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const sec = `${trimFraction(u / 1e9)}s`;
    out = h ? `${h}h${m}m${sec}` : m ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trimFraction(x: number): string {
  return x.toFixed(9).replace(/\.?0+$/, "");
}

/** Joins `path` onto the working directory as BuildKit does, keeping a trailing slash. */
function resolvePath(workdir: string | undefined, path: string): string {
  const trailing = path.endsWith("/") || path.endsWith("/.");
  const joined = path.startsWith("/") ? path : `${workdir || "/"}/${path}`;
  const parts: string[] = [];
  for (const c of joined.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  const clean = `/${parts.join("/")}`;
  return trailing && clean !== "/" ? `${clean}/` : clean;
}

/** Converts a parsed Dockerfile into a build definition. */
export class DockerfileConverter {
  readonly #df: Dockerfile;
  readonly #client: FrontendClient;
  readonly #opts: ConvertOptions;
  readonly #graph = new GraphBuilder();
  readonly #lex: ShellLex;
  readonly #states: StageState[] = [];
  readonly #usedArgs = new Set<string>();
  readonly #named = new Map<string, Promise<NamedContext | undefined>>();
  #context?: Digest;

  /** Creates a converter. */
  constructor(df: Dockerfile, client: FrontendClient, opts: ConvertOptions) {
    this.#df = df;
    this.#client = client;
    this.#opts = opts;
    this.#lex = new ShellLex(df.escapeToken);
  }

  #error(detail: string, inst: { startLine: number; endLine?: number }): DockerfileError {
    return new DockerfileError(
      detail,
      this.#df.fileName,
      inst.startLine,
      inst.endLine ?? inst.startLine,
    );
  }

  #location(inst: { startLine: number }): string {
    return `${this.#df.fileName}:${inst.startLine}`;
  }

  /** The start of a step's name: `[build `, or `[linux/arm64 build ` for several platforms. */
  #prefix(st: StageState): string {
    if (!this.#opts.multiPlatform) return st.prefix;
    return `[${formatPlatform(st.platform)}${st.prefix === "[" ? " " : ` ${st.prefix.slice(1)}`}`;
  }

  /** The predefined platform args (`TARGETPLATFORM`, `BUILDARCH`, ...). */
  #platformArgs(): Map<string, string> {
    return platformArgs(this.#opts.platform, this.#opts.buildPlatform ?? this.#opts.platform);
  }

  /** The global ARGs (before the first FROM), with overrides from `--build-arg`. */
  #metaArgs(): Map<string, string> {
    return metaArgValues(
      this.#df.metaArgs,
      this.#platformArgs(),
      this.#opts.buildArgs,
      (word, env, inst) => this.#expand(word, env, inst),
      this.#usedArgs,
    );
  }

  #expand(
    word: string,
    env: Map<string, string>,
    inst: { startLine: number; endLine?: number },
  ): string {
    try {
      return this.#lex.processWord(word, env);
    } catch (e) {
      throw this.#error((e as Error).message, inst);
    }
  }

  #context_(): Digest {
    this.#context ??= this.#graph.add(
      {
        type: "source",
        identifier: "local://context",
        attrs: this.#opts.excludes.length ? { excludes: JSON.stringify(this.#opts.excludes) } : {},
      },
      [],
      "[internal] load build context",
    );
    return this.#context;
  }

  /** Finds a stage by name or index, as `FROM`, `COPY --from` and `--mount from=` do. */
  #findStage(name: string, before?: number): StageState | undefined {
    const lower = name.toLowerCase();
    const limit = before ?? this.#states.length;
    for (let i = 0; i < limit; i++) {
      if (this.#states[i].stage.name === lower && lower !== "") return this.#states[i];
    }
    if (/^\d+$/.test(name) && before === undefined) {
      const i = Number(name);
      if (i < this.#states.length) return this.#states[i];
    }
    return undefined;
  }

  /** Converts the Dockerfile; the result builds the target stage. */
  async convert(): Promise<BuildDefinition> {
    const df = this.#df;
    const meta = this.#metaArgs();
    // Stage names and display prefixes, before anything is converted.
    for (const stage of df.stages) {
      const vertexSteps = stage.commands.filter((c) =>
        c.kind === "run" || c.kind === "copy" || c.kind === "add" || c.kind === "workdir"
      ).length;
      this.#states.push({
        stage,
        prefix: df.stages.length > 1 ? `[${stage.name || `stage-${stage.index}`} ` : "[",
        total: vertexSteps + 1,
        step: 0,
        head: "" as Digest,
        platform: this.#opts.platform,
        config: emptyImage(this.#opts.platform),
        args: new Map(),
        shell: ["/bin/sh", "-c"],
        cmdSet: false,
        converted: false,
      });
    }
    let target = this.#states[this.#states.length - 1];
    if (this.#opts.target) {
      const found = this.#states.find((s) => s.stage.name === this.#opts.target!.toLowerCase());
      if (!found) {
        throw new ImgError(`failed to reach build target ${this.#opts.target} in Dockerfile`);
      }
      target = found;
    }
    await this.#convertStage(target, meta, []);
    const config = structuredClone(target.config);
    if (Object.keys(this.#opts.labels).length) {
      config.config ??= {};
      config.config.Labels = { ...config.config.Labels, ...this.#opts.labels };
    }
    config.created = this.#opts.created.toISOString();
    this.#warnUnusedArgs();
    return { graph: this.#graph.build(target.head), config };
  }

  #warnUnusedArgs(): void {
    const unused = Object.keys(this.#opts.buildArgs)
      .filter((k) =>
        !this.#usedArgs.has(k) && !PROXY_ARGS.includes(k) && !this.#platformArgs().has(k) &&
        // BuildKit's own (BUILDKIT_INLINE_CACHE, BUILDKIT_SYNTAX, ...) are read by the builder.
        !k.startsWith("BUILDKIT_")
      );
    if (unused.length) {
      this.#client.warn(`one or more build args were not consumed: [${unused.sort().join(" ")}]`);
    }
  }

  /**
   * Converts `st` (and, first, every stage it depends on). `chain` detects cycles; `via` is
   * the instruction that needs `st` (a cycle is reported at its line).
   */
  async #convertStage(
    st: StageState,
    meta: Map<string, string>,
    chain: StageState[],
    via?: Instruction,
  ): Promise<void> {
    if (st.converted) return;
    const label = st.stage.name || String(st.stage.index);
    if (chain.includes(st)) {
      throw this.#error(`circular dependency detected on stage: ${label}`, via ?? st.stage.from);
    }
    chain = [...chain, st];
    const from = st.stage.from;
    const baseName = this.#expand(st.stage.baseName, meta, from);
    if (baseName === "") {
      throw this.#error("base name (" + st.stage.baseName + ") should not be blank", from);
    }
    const platformSpec = st.stage.platform ? this.#expand(st.stage.platform, meta, from) : "";
    const baseStage = this.#findStage(baseName, st.stage.index);
    let platform = platformSpec ? parsePlatform(platformSpec) : this.#opts.platform;
    st.platform = platform;
    const fromName = () => `${this.#prefix(st)}${++st.step}/${st.total}] FROM`;
    // As BuildKit: a named context of the stage's name replaces the whole stage.
    const replaced = st.stage.name
      ? await this.#namedContext(st.stage.name, platformSpec ? platform : undefined, from)
      : undefined;
    if (replaced) {
      this.#startFrom(st, replaced, platform, st.stage.name);
      st.converted = true;
      return;
    }
    if (baseName.toLowerCase() === st.stage.name && st.stage.name !== "" && !baseStage) {
      throw this.#error(`circular dependency detected on stage: ${st.stage.name}`, from);
    }
    const named = !baseStage && baseName.toLowerCase() !== "scratch"
      ? await this.#namedContext(baseName, platformSpec ? platform : undefined, from)
      : undefined;
    if (named) {
      this.#startFrom(st, named, platform, baseName);
    } else if (baseStage) {
      await this.#convertStage(baseStage, meta, chain);
      // A stage built on another stage runs for that stage's platform, as BuildKit does.
      if (!platformSpec) platform = baseStage.platform;
      st.platform = platform;
      st.head = baseStage.head;
      st.config = structuredClone(baseStage.config);
      st.shell = baseStage.shell;
      st.step++;
    } else if (baseName.toLowerCase() === "scratch") {
      st.head = this.#graph.add(
        { type: "source", identifier: "scratch" },
        [],
        `${fromName()} scratch`,
        {
          location: this.#location(from),
        },
      );
      st.config = emptyImage(platform);
    } else {
      let resolved;
      try {
        resolved = await this.#client.resolveImageConfig(baseName, platform);
      } catch (e) {
        if (e instanceof ImgError) throw this.#error(e.message, from);
        throw e;
      }
      st.head = this.#graph.add(
        {
          type: "source",
          identifier: `docker-image://${resolved.ref}`,
          attrs: { platform: formatPlatform(platform) },
        },
        [],
        `${fromName()} ${resolved.ref}`,
        { platform, location: this.#location(from) },
      );
      st.config = structuredClone(resolved.config);
      st.config.config ??= {};
      st.config.history ??= [];
      if (!st.config.config.Env) st.config.config.Env = [DEFAULT_PATH];
      if (st.config.config.Shell) st.shell = st.config.config.Shell;
    }
    st.platform = platform;
    // Args of the meta scope are visible again only when the stage declares them.
    st.args = new Map();
    const onbuild = st.config.config?.OnBuild ?? [];
    if (onbuild.length) {
      st.config.config!.OnBuild = undefined;
      delete st.config.config!.OnBuild;
      for (const trigger of onbuild) {
        let parsed: Dockerfile;
        try {
          parsed = parseDockerfile(`FROM scratch\n${trigger}\n`, { fileName: this.#df.fileName });
        } catch (e) {
          throw this.#error(
            `invalid ONBUILD trigger "${trigger}" of the base image: ${(e as Error).message}`,
            from,
          );
        }
        for (const inst of parsed.stages[0].commands) {
          await this.#dispatch(
            st,
            { ...inst, startLine: from.startLine, endLine: from.endLine },
            meta,
            chain,
          );
        }
      }
    }
    for (const inst of st.stage.commands) await this.#dispatch(st, inst, meta, chain);
    st.converted = true;
  }

  /**
   * Starts `st` from a named context: an image's config (an image context), or an empty one
   * with the directory's files as its root filesystem (a directory context).
   */
  #startFrom(st: StageState, named: NamedContext, platform: Platform, name: string): void {
    st.head = named.head;
    if (named.local) {
      const scratch = this.#graph.add({ type: "source", identifier: "scratch" }, [], "scratch");
      st.head = this.#graph.add(
        {
          type: "file",
          actions: [{
            action: "copy",
            input: 1,
            src: ["."],
            dest: "/",
            options: { createDestPath: true },
          }],
        },
        [scratch, named.head],
        `${this.#prefix(st)}${++st.step}/${st.total}] FROM ${name}`,
      );
    } else st.step++;
    if (named.config) {
      st.config = structuredClone(named.config);
      st.config.config ??= {};
      st.config.history ??= [];
      if (!st.config.config.Env) st.config.config.Env = [DEFAULT_PATH];
      if (st.config.config.Shell) st.shell = st.config.config.Shell;
    } else st.config = emptyImage(platform);
  }

  /**
   * The named context `name` is (see `named_context.ts`) for `platform` (the target's by
   * default), loaded once per build; `undefined` when the build has none of that name.
   */
  #namedContext(
    name: string,
    platform: Platform | undefined,
    inst: Instruction,
  ): Promise<NamedContext | undefined> {
    const contexts = this.#opts.namedContexts ?? {};
    const p = platform ?? this.#opts.platform;
    const key = namedContextKey(name, p, contexts);
    if (key === undefined) return Promise.resolve(undefined);
    const cacheKey = `${key}|${formatPlatform(p)}`;
    let promise = this.#named.get(cacheKey);
    if (!promise) {
      promise = loadNamedContext(key, contexts[key], p, {
        graph: this.#graph,
        client: this.#client,
        location: this.#location(inst),
      }).catch((e) => {
        if (e instanceof ImgError && !(e instanceof DockerfileError)) {
          throw this.#error(e.message, inst);
        }
        throw e;
      });
      this.#named.set(cacheKey, promise);
    }
    return promise;
  }

  /** The variables an instruction's words expand against: the stage's ARGs, then its ENV. */
  #scope(st: StageState): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, v] of st.args) if (v !== undefined) m.set(k, v);
    for (const [k, v] of envMap(st.config.config?.Env)) m.set(k, v);
    return m;
  }

  #history(st: StageState, createdBy: string, emptyLayer: boolean): void {
    const h: History = {
      created: this.#opts.created.toISOString(),
      created_by: createdBy,
      comment: HISTORY_COMMENT,
    };
    if (emptyLayer) h.empty_layer = true;
    (st.config.history ??= []).push(h);
  }

  #name(st: StageState, inst: Instruction): string {
    return `${this.#prefix(st)}${++st.step}/${st.total}] ${inst.original.split("\n")[0]}`;
  }

  async #dispatch(
    st: StageState,
    raw: Instruction,
    meta: Map<string, string>,
    chain: StageState[],
  ): Promise<void> {
    const config = (st.config.config ??= {});
    const scope = this.#scope(st);
    let inst: Instruction;
    try {
      inst = expandInstruction(raw, this.#lex, scope, (name) => this.#undefinedVar(st, raw, name));
    } catch (e) {
      throw this.#error((e as Error).message, raw);
    }
    switch (inst.kind) {
      case "arg": {
        const shown: string[] = [];
        for (const a of inst.args) {
          // Docker's history shows the default as written, not a value from elsewhere.
          shown.push(a.value === undefined ? a.key : `${a.key}=${a.value}`);
          const override = this.#opts.buildArgs[a.key];
          let value = a.value;
          if (override !== undefined) {
            value = override;
            this.#usedArgs.add(a.key);
          } else if (value === undefined) {
            value = meta.get(a.key) ?? this.#platformArgs().get(a.key);
          }
          st.args.set(a.key, value);
        }
        this.#history(st, `ARG ${shown.join(" ")}`, true);
        return;
      }
      case "env": {
        for (const p of inst.env) setEnv(config, p.key, p.value);
        this.#history(st, `ENV ${inst.env.map((p) => `${p.key}=${p.value}`).join(" ")}`, true);
        return;
      }
      case "label":
        config.Labels = { ...config.Labels };
        for (const p of inst.labels) config.Labels[p.key] = p.value;
        this.#history(st, `LABEL ${inst.labels.map((p) => `${p.key}=${p.value}`).join(" ")}`, true);
        return;
      case "maintainer":
        st.config.author = inst.maintainer;
        this.#history(st, `MAINTAINER ${inst.maintainer}`, true);
        return;
      case "expose": {
        config.ExposedPorts = { ...config.ExposedPorts };
        const ports: string[] = [];
        let specs: string[];
        try {
          specs = parsePortSpecs(inst.ports);
        } catch (e) {
          throw this.#error((e as Error).message, raw);
        }
        for (const port of specs) {
          config.ExposedPorts[port] = {};
          ports.push(port);
        }
        this.#history(st, `EXPOSE map[${ports.map((p) => `${p}:{}`).join(" ")}]`, true);
        return;
      }
      case "volume":
        config.Volumes = { ...config.Volumes };
        for (const v of inst.volumes) {
          if (v.trim() === "") {
            throw this.#error("VOLUME specified can not be an empty string", raw);
          }
          config.Volumes[v] = {};
        }
        this.#history(st, `VOLUME [${inst.volumes.join(" ")}]`, true);
        return;
      case "user":
        config.User = inst.user;
        this.#history(st, `USER ${inst.user}`, true);
        return;
      case "stopsignal":
        config.StopSignal = inst.signal;
        this.#history(st, `STOPSIGNAL ${inst.signal}`, true);
        return;
      case "shell":
        st.shell = inst.shell;
        config.Shell = inst.shell;
        this.#history(st, `SHELL [${inst.shell.join(" ")}]`, true);
        return;
      case "onbuild":
        // Recorded in the config only: BuildKit adds no history entry for ONBUILD.
        config.OnBuild = [...(config.OnBuild ?? []), inst.expression];
        return;
      case "healthcheck": {
        const h = inst.health;
        if (h.test.length === 1 && h.test[0] === "NONE") config.Healthcheck = { Test: ["NONE"] };
        else {
          config.Healthcheck = { Test: h.test };
          if (h.interval) config.Healthcheck.Interval = h.interval;
          if (h.timeout) config.Healthcheck.Timeout = h.timeout;
          if (h.startPeriod) config.Healthcheck.StartPeriod = h.startPeriod;
          if (h.startInterval) config.Healthcheck.StartInterval = h.startInterval;
          if (h.retries) config.Healthcheck.Retries = h.retries;
        }
        // BuildKit writes Go's `%q` of its HealthConfig struct.
        this.#history(
          st,
          `HEALTHCHECK &{${goQuoteList(h.test)} ${
            [h.interval, h.timeout, h.startPeriod].map((d) => goQuoteString(goDuration(d)))
              .join(" ")
          } ${goQuoteRune(h.retries)}}`,
          true,
        );
        return;
      }
      case "cmd": {
        const cmd = inst.prependShell ? [...st.shell, inst.cmdLine.join(" ")] : inst.cmdLine;
        // `CMD []` leaves no command (null), as Docker stores it.
        config.Cmd = cmd.length ? cmd : null;
        st.cmdSet = true;
        this.#history(st, `CMD ${goQuoteList(cmd)}`, true);
        return;
      }
      case "entrypoint": {
        const ep = inst.prependShell ? [...st.shell, inst.cmdLine.join(" ")] : inst.cmdLine;
        config.Entrypoint = ep;
        // An ENTRYPOINT resets a CMD inherited from the base image, as Docker does.
        if (!st.cmdSet) config.Cmd = null;
        this.#history(st, `ENTRYPOINT ${goQuoteList(ep)}`, true);
        return;
      }
      case "workdir": {
        const wd = resolvePath(config.WorkingDir, inst.path).replace(/\/$/, "") || "/";
        config.WorkingDir = wd;
        const name = this.#name(st, raw);
        if (wd !== "/") {
          st.head = this.#graph.add(
            {
              type: "file",
              actions: [{
                action: "mkdir",
                path: wd,
                mode: 0o755,
                parents: true,
                ...(config.User ? { chown: config.User } : {}),
              }],
            },
            [st.head],
            name,
            { location: this.#location(raw), ignoreCache: this.#ignoreCache(st) },
          );
        }
        this.#history(st, `WORKDIR ${wd}`, wd === "/");
        return;
      }
      case "run":
        await this.#run(st, inst, raw as RunInstruction, meta, chain);
        return;
      case "copy":
      case "add":
        await this.#copy(st, inst, meta, chain);
        return;
      case "from":
        throw this.#error("FROM is not allowed here", raw);
    }
  }

  /** `RUN`: an exec vertex on the stage's head. */
  async #run(
    st: StageState,
    inst: RunInstruction,
    raw: RunInstruction,
    meta: Map<string, string>,
    chain: StageState[],
  ): Promise<void> {
    const config = st.config.config!;
    let args: string[];
    const mounts: ExecMount[] = [];
    const inputs: Digest[] = [st.head];
    if (inst.files.length && inst.prependShell) {
      const file = inst.files[0];
      const data = file.chomp ? file.data.replace(/^\t+/gm, "") : file.data;
      const cmd = inst.cmdLine.join(" ").trim();
      const single = cmd === `<<${file.name}` || cmd === `<<-${file.name}` ||
        /^<<-?["']?\w+["']?$/.test(cmd);
      if (single && data.startsWith("#!")) {
        // As BuildKit: a lone heredoc with a shebang is written to a file (0755) in a scratch
        // layer mounted read-only at /dev/pipes, and run as a script, not fed to the shell.
        inputs.push(this.#graph.add(
          {
            type: "file",
            actions: [{ action: "mkfile", path: `/${file.name}`, mode: 0o755, data }],
          },
          [],
          "[internal] preparing inline document",
        ));
        mounts.push({
          type: "bind",
          target: "/dev/pipes",
          input: inputs.length - 1,
          readonly: true,
        });
        args = [`/dev/pipes/${file.name}`];
      } else {
        args = single
          ? [...st.shell, data]
          : [...st.shell, `${cmd}\n${inst.files.map((f) => `${f.data}${f.name}`).join("\n")}`];
      }
    } else {
      args = inst.prependShell ? [...st.shell, inst.cmdLine.join(" ")] : inst.cmdLine;
    }
    const env = envMap(config.Env);
    const buildArgs: string[] = [];
    for (const [k, v] of st.args) {
      // An ARG without a value is still passed to RUN, empty, as BuildKit does.
      if (!env.has(k)) buildArgs.push(`${k}=${v ?? ""}`);
      this.#usedArgs.add(k);
    }
    if (![...env.keys()].includes("PATH")) env.set("PATH", DEFAULT_PATH.slice(5));
    const scope = this.#scope(st);
    for (const spec of raw.mountSpecs) {
      let m;
      try {
        m = parseMount(spec, (w) => this.#lex.processWord(w, scope));
      } catch (e) {
        throw this.#error((e as Error).message, raw);
      }
      // A secret or ssh mount without a target gets BuildKit's default one.
      const target = m.target || (m.type !== "secret" && m.type !== "ssh")
        ? resolvePath(config.WorkingDir, m.target)
        : "";
      const sshIndex = mounts.filter((x) => x.type === "ssh").length;
      try {
        mounts.push(
          await toExecMount(m, target, sshIndex, async (from) => {
            let input: Digest;
            if (from) {
              const stage = this.#findStage(from);
              if (stage) {
                await this.#convertStage(stage, meta, chain, raw);
                input = stage.head;
              } else {
                input = (await this.#namedContext(from, undefined, raw))?.head ??
                  await this.#imageSource(from, raw);
              }
            } else input = this.#context_();
            inputs.push(input);
            return inputs.length - 1;
          }),
        );
      } catch (e) {
        if (e instanceof ImgError) throw e;
        throw this.#error((e as Error).message, raw);
      }
    }
    // The first ssh mount is the step's agent, as BuildKit sets it.
    const ssh = mounts.find((x) => x.type === "ssh");
    if (ssh && !env.has("SSH_AUTH_SOCK")) env.set("SSH_AUTH_SOCK", ssh.target);
    const finalEnv = [...[...env].map(([k, v]) => `${k}=${v}`), ...buildArgs];
    st.head = this.#graph.add(
      {
        type: "exec",
        args,
        env: finalEnv,
        cwd: config.WorkingDir || "/",
        ...(config.User ? { user: config.User } : {}),
        ...this.#isolation(inst),
        mounts,
      },
      inputs,
      this.#name(st, raw),
      // The platform is part of the RUN's digest: amd64 and arm64 never share its result.
      {
        platform: st.platform,
        location: this.#location(raw),
        ignoreCache: this.#ignoreCache(st),
      },
    );
    const argsPrefix = buildArgs.length ? `|${buildArgs.length} ${buildArgs.join(" ")} ` : "";
    this.#history(st, `RUN ${argsPrefix}${args.join(" ")} # buildkit`, false);
  }

  /** The mode of a COPY/ADD heredoc file: 0644, or `--chmod` (octal or symbolic) applied to it. */
  #heredocMode(chmod: string | undefined, inst: Instruction): number {
    if (!chmod) return 0o644;
    try {
      return parseChmod(chmod)(0o644, false);
    } catch (e) {
      throw this.#error((e as Error).message, inst);
    }
  }

  /** Whether the steps of `st` skip the cache (`--no-cache`, `--no-cache-filter`). */
  #ignoreCache(st: StageState): boolean {
    const stages = this.#opts.noCacheStages ?? [];
    return (this.#opts.noCache ?? false) ||
      stages.includes(st.stage.name) || stages.includes(String(st.stage.index));
  }

  /**
   * The network, security mode, hosts, `/dev/shm` size and limits of a RUN step, as
   * BuildKit's exec op carries them (so all of them are part of its digest). `RUN
   * --network` wins over `--network` (`force-network-mode`) unless it is `default`; `host`
   * needs `--allow network.host` and `--security=insecure` needs `--allow security.insecure`,
   * with BuildKit's messages.
   */
  #isolation(inst: RunInstruction): Partial<ExecOp> {
    const allow = this.#opts.allow ?? [];
    if (inst.security === "insecure" && !allow.includes("security.insecure")) {
      throw this.#error("security.insecure is not allowed", inst);
    }
    const network = inst.network !== "default" ? inst.network : this.#opts.networkMode;
    if (network === "host" && !allow.includes("network.host")) {
      throw this.#error("network.host is not allowed", inst);
    }
    const o = this.#opts;
    return {
      ...(network === "host" || network === "none" ? { network } : {}),
      ...(inst.security === "insecure" ? { security: "insecure" as const } : {}),
      ...(o.extraHosts?.length ? { extraHosts: o.extraHosts } : {}),
      ...(o.shmSize ? { shmSize: o.shmSize } : {}),
      ...(o.ulimits?.length ? { ulimits: o.ulimits } : {}),
    };
  }

  /** The `UndefinedVar` build check: `name` is neither an ARG of the stage nor in its env. */
  #undefinedVar(st: StageState, inst: Instruction, name: string): void {
    const linter = this.#opts.linter;
    if (!linter || st.args.has(name) || this.#platformArgs().has(name)) return;
    const hint = suggest(name, [...this.#scope(st).keys()]);
    linter.run(
      "UndefinedVar",
      inst.startLine,
      `Usage of undefined variable '$${name}'${hint ? ` (did you mean $${hint}?)` : ""}`,
    );
  }

  /** An image used by `COPY --from` or `--mount from=`, pinned by digest. */
  async #imageSource(ref: string, inst: Instruction): Promise<Digest> {
    let resolved;
    try {
      resolved = await this.#client.resolveImageConfig(ref, this.#opts.platform);
    } catch (e) {
      if (e instanceof ImgError) throw this.#error(e.message, inst);
      throw e;
    }
    return this.#graph.add(
      {
        type: "source",
        identifier: `docker-image://${resolved.ref}`,
        attrs: { platform: formatPlatform(this.#opts.platform) },
      },
      [],
      `[internal] load ${resolved.ref}`,
      { platform: this.#opts.platform, location: this.#location(inst) },
    );
  }

  /**
   * The git repositories among an ADD's sources (BuildKit's rules, `@img/core/source`), each
   * a git source vertex, by source index. COPY of one is an error, as in BuildKit.
   */
  #gitSources(st: StageState, inst: CopyInstruction | AddInstruction): Map<number, Digest> {
    const out = new Map<number, Digest>();
    const checksum = inst.kind === "add" ? inst.checksum : "";
    for (const [i, src] of inst.sourcePaths.entries()) {
      let ref: GitRef | undefined;
      try {
        ref = parseGitRef(src);
      } catch (e) {
        if (e instanceof ImgError) throw this.#error(e.message, inst);
        throw e;
      }
      if (!ref || ref.indistinguishableFromLocal) {
        if (checksum && !/^https?:\/\//.test(src)) {
          throw this.#error(`checksum requires HTTP(S) or Git sources: ${src} is neither`, inst);
        }
        continue;
      }
      if (inst.kind !== "add") throw this.#error("source can't be a git ref for COPY", inst);
      if (ref.keepGitDir !== undefined && inst.keepGitDir && !ref.keepGitDir) {
        throw this.#error("inconsistent keep-git-dir configuration", inst);
      }
      if (checksum && ref.checksum && checksum !== ref.checksum) {
        throw this.#error(`checksum mismatch "${checksum}" != "${ref.checksum}"`, inst);
      }
      const spec: GitSourceSpec = {
        remote: ref.remote,
        ref: ref.ref,
        subdir: ref.subdir,
        keepGitDir: inst.keepGitDir || (ref.keepGitDir ?? false),
        ...(checksum || ref.checksum ? { checksum: checksum || ref.checksum } : {}),
      };
      let op;
      try {
        op = gitSourceOp(spec);
      } catch (e) {
        if (e instanceof ImgError) throw this.#error(e.message, inst);
        throw e;
      }
      out.set(
        i,
        this.#graph.add(op, [], `[internal] load git source ${gitSourceName(spec)}`, {
          location: this.#location(inst),
          ignoreCache: this.#ignoreCache(st),
        }),
      );
    }
    return out;
  }

  /** `COPY` and `ADD`: a file vertex copying from the context, a stage or an image. */
  async #copy(
    st: StageState,
    inst: CopyInstruction | AddInstruction,
    meta: Map<string, string>,
    chain: StageState[],
  ): Promise<void> {
    const config = st.config.config!;
    const name = this.#name(st, inst);
    let source: Digest;
    const from = inst.kind === "copy" ? inst.from : "";
    if (from) {
      const fromExpanded = this.#expand(from, this.#scope(st), inst);
      const stage = this.#findStage(fromExpanded);
      if (stage === st) {
        throw this.#error(`circular dependency detected on stage: ${fromExpanded}`, inst);
      }
      if (stage) {
        await this.#convertStage(stage, meta, chain, inst);
        source = stage.head;
      } else if (/^\d+$/.test(fromExpanded)) {
        throw this.#error(`invalid stage index ${fromExpanded}`, inst);
      } else {
        source = (await this.#namedContext(fromExpanded, undefined, inst))?.head ??
          await this.#imageSource(fromExpanded, inst);
      }
    } else source = this.#context_();
    const gits = this.#gitSources(st, inst);
    const nonGit = inst.sourcePaths.filter((_, i) => !gits.has(i));
    // ADD of http(s) URLs: each is a source of its own (BuildKit's llb.HTTP), copied by name.
    const urls = nonGit.filter(isHttpURL);
    const localPaths = nonGit.filter((p) => !isHttpURL(p));
    if (urls.length && inst.kind === "copy") {
      throw this.#error("source can't be a URL for COPY", inst);
    }
    // A checksum on a local path is refused by #gitSources; on a URL it must be the only source.
    const checksum = inst.kind === "add" && urls.length ? inst.checksum : "";
    if (checksum) {
      if (inst.sourcePaths.length !== 1) {
        throw this.#error("checksum can't be specified for multiple sources", inst);
      }
      try {
        validateChecksum(checksum);
      } catch (e) {
        throw this.#error((e as Error).message, inst);
      }
    }
    if (inst.sourcePaths.length === 0 && inst.sourceContents.length === 0) {
      throw this.#error(`${inst.kind.toUpperCase()} requires at least two arguments`, inst);
    }
    const dest = resolvePath(config.WorkingDir, inst.destPath);
    const several = inst.sourcePaths.length + inst.sourceContents.length > 1;
    const destDir = dest.endsWith("/") || several ? dest : undefined;
    const chown = inst.chown || undefined;
    const chmod = inst.chmod || undefined;
    const actions: FileAction[] = [];
    for (const c of inst.sourceContents) {
      const data = c.expand ? this.#expand(c.data, this.#scope(st), inst) : c.data;
      const path = destDir ? `${destDir.replace(/\/$/, "")}/${c.path}` : dest;
      const parent = path.slice(0, path.lastIndexOf("/"));
      const mkdirs = actions.some((a) => a.action === "mkdir" && a.path === parent);
      if (parent !== "" && !mkdirs) {
        actions.push({
          action: "mkdir",
          path: parent,
          mode: 0o755,
          parents: true,
          ...(chown ? { chown } : {}),
        });
      }
      actions.push({
        action: "mkfile",
        path,
        mode: this.#heredocMode(chmod, inst),
        data,
        ...(chown ? { chown } : {}),
      });
    }
    const copyDest = destDir && !dest.endsWith("/") ? `${dest}/` : dest;
    if (localPaths.length) {
      actions.push({
        action: "copy",
        input: 1,
        src: localPaths.map((p) => p.replace(/^\/+/, "") || "."),
        dest: copyDest,
        ...(chown ? { chown } : {}),
        ...(chmod ? { chmod } : {}),
        options: {
          allowWildcard: true,
          allowEmptyWildcard: true,
          followSymlinks: true,
          createDestPath: true,
          ...(inst.kind === "add" && inst.unpack !== false && !from ? { unpack: true } : {}),
          ...(inst.excludePatterns.length ? { exclude: inst.excludePatterns } : {}),
          ...(inst.kind === "copy" && inst.parents ? { parents: true } : {}),
        },
      });
    }
    // ADD of a git repository, as BuildKit: the checkout's root copied to the destination.
    const srcInputs = [...(localPaths.length ? [source] : []), ...gits.values()];
    for (let i = localPaths.length ? 1 : 0; i < srcInputs.length; i++) {
      actions.push({
        action: "copy",
        input: i + 1,
        src: ["."],
        dest: copyDest,
        ...(chown ? { chown } : {}),
        ...(chmod ? { chmod } : {}),
        options: { createDestPath: true },
      });
    }
    for (const url of urls) {
      const op = httpSourceOp(url, checksum);
      srcInputs.push(this.#graph.add(op, [], url, { location: this.#location(inst) }));
      actions.push({
        action: "copy",
        input: srcInputs.length,
        src: [httpFilename(op)],
        dest: copyDest,
        ...(chown ? { chown } : {}),
        ...(chmod ? { chmod } : {}),
        // A remote archive is unpacked only with an explicit --unpack=true (Dockerfile 1.17+).
        options: {
          createDestPath: true,
          ...(inst.kind === "add" && inst.unpack ? { unpack: true } : {}),
        },
      });
    }
    const opts = { location: this.#location(inst), ignoreCache: this.#ignoreCache(st) };
    if (inst.link && !(chown && /[^\d:]/.test(chown))) {
      // --link, as BuildKit: the copy is made on scratch, a layer that does not depend on the
      // stage (a change above it reuses it from the cache), then laid onto the stage. A named
      // --chown needs the stage's /etc/passwd, so it is a plain copy.
      const scratch = this.#graph.add({ type: "source", identifier: "scratch" }, [], "scratch");
      const layer = this.#graph.add(
        { type: "file", actions },
        [scratch, ...srcInputs],
        `${name} (link)`,
        opts,
      );
      st.head = this.#graph.add(
        {
          type: "file",
          actions: [{
            action: "copy",
            input: 1,
            src: ["."],
            dest: "/",
            options: { createDestPath: true },
          }],
        },
        [st.head, layer],
        name,
        opts,
      );
    } else {
      const inputs = [st.head, ...srcInputs];
      st.head = this.#graph.add({ type: "file", actions }, inputs, name, opts);
    }
    // BuildKit's history names --chown and --chmod, never --from.
    // History as the BuildKit this is checked against (v0.8, Debian's docker.io) writes it:
    // without --chown/--chmod (newer BuildKit adds them).
    const srcs = [...inst.sourcePaths, ...inst.sourceContents.map((c) => `<<${c.path}`)];
    this.#history(
      st,
      `${inst.kind.toUpperCase()} ${[...srcs, inst.destPath].join(" ")} # buildkit`,
      false,
    );
  }
}
