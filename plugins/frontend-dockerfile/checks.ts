/**
 * Build checks: BuildKit's Dockerfile linter rules (names, messages and URLs as BuildKit's
 * `frontend/dockerfile/linter`), the `# check=skip=...;error=true` directive, and the
 * static rules that need only the parsed file. `UndefinedVar` needs the variables in scope
 * and is reported by the converter through the same {@link Linter}.
 *
 * @module
 */
import { ImgError } from "@img/core";
import type { Instruction } from "./instructions.ts";
import { ShellLex } from "./shell_lex.ts";
import type { Dockerfile } from "./stages.ts";
import { suggest } from "./_suggest.ts";

/** One rule: its name, description and documentation page. */
export interface CheckRule {
  /** BuildKit's rule name (`JSONArgsRecommended`). */
  name: string;
  /** One line on what the rule asks. */
  description: string;
  /** The rule's page on docs.docker.com. */
  url: string;
}

function rule(name: string, description: string, slug: string): CheckRule {
  return { name, description, url: `https://docs.docker.com/go/dockerfile/rule/${slug}/` };
}

/** A rule name img checks. */
export type CheckRuleName =
  | "StageNameCasing"
  | "FromAsCasing"
  | "ConsistentInstructionCasing"
  | "DuplicateStageName"
  | "ReservedStageName"
  | "JSONArgsRecommended"
  | "MaintainerDeprecated"
  | "UndefinedArgInFrom"
  | "UndefinedVar"
  | "MultipleInstructionsDisallowed"
  | "LegacyKeyValueFormat"
  | "SecretsUsedInArgOrEnv";

/** The rules img checks, by name. */
export const CHECK_RULES: Readonly<Record<CheckRuleName, CheckRule>> = {
  StageNameCasing: rule("StageNameCasing", "Stage names should be lowercase", "stage-name-casing"),
  FromAsCasing: rule(
    "FromAsCasing",
    "The 'as' keyword should match the case of the 'from' keyword",
    "from-as-casing",
  ),
  ConsistentInstructionCasing: rule(
    "ConsistentInstructionCasing",
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
    "consistent-instruction-casing",
  ),
  DuplicateStageName: rule(
    "DuplicateStageName",
    "Stage names should be unique",
    "duplicate-stage-name",
  ),
  ReservedStageName: rule(
    "ReservedStageName",
    "Reserved words should not be used as stage names",
    "reserved-stage-name",
  ),
  JSONArgsRecommended: rule(
    "JSONArgsRecommended",
    "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
    "json-args-recommended",
  ),
  MaintainerDeprecated: rule(
    "MaintainerDeprecated",
    "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
    "maintainer-deprecated",
  ),
  UndefinedArgInFrom: rule(
    "UndefinedArgInFrom",
    "FROM command must use declared ARGs",
    "undefined-arg-in-from",
  ),
  UndefinedVar: rule(
    "UndefinedVar",
    "Variables should be defined before their use",
    "undefined-var",
  ),
  MultipleInstructionsDisallowed: rule(
    "MultipleInstructionsDisallowed",
    "Multiple instructions of the same type should not be used in the same stage",
    "multiple-instructions-disallowed",
  ),
  LegacyKeyValueFormat: rule(
    "LegacyKeyValueFormat",
    "Legacy key/value format with whitespace separator should not be used",
    "legacy-key-value-format",
  ),
  SecretsUsedInArgOrEnv: rule(
    "SecretsUsedInArgOrEnv",
    "Sensitive data should not be used in the ARG or ENV commands",
    "secrets-used-in-arg-or-env",
  ),
};

/** One violation. */
export interface CheckWarning {
  /** The rule. */
  rule: CheckRuleName;
  /** BuildKit's message for it. */
  message: string;
  /** The Dockerfile line (1-based), or 0. */
  line: number;
}

/** What `# check=` (or the `check` frontend option) asks: rules skipped, errors or warnings. */
export interface CheckConfig {
  /** Skip every rule (`skip=all`). */
  skipAll: boolean;
  /** Rules skipped (`skip=A,B`). */
  skip: Set<string>;
  /** `error=true`: a violation fails the build. */
  error: boolean;
}

/**
 * Parses a `# check=skip=A,B;error=true` value, as BuildKit's `parseLintOptions`.
 *
 * @throws {ImgError} on an unknown key or a non-boolean `error`.
 */
export function parseCheckConfig(value: string): CheckConfig {
  const config: CheckConfig = { skipAll: false, skip: new Set(), error: false };
  for (const part of value.split(";")) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq < 0) {
      throw new ImgError(`Invalid check option "${item}": use skip=RULE,... or error=true`);
    }
    const key = item.slice(0, eq).trim().toLowerCase();
    const val = item.slice(eq + 1).trim();
    if (key === "skip") {
      for (const name of val.split(",").map((s) => s.trim()).filter(Boolean)) {
        if (name === "all") config.skipAll = true;
        else config.skip.add(name);
      }
    } else if (key === "error") {
      if (!/^(true|false|1|0)$/i.test(val)) {
        throw new ImgError(`Invalid check option "error=${val}": use error=true or error=false`);
      }
      config.error = /^(true|1)$/i.test(val);
    } else if (key === "experimental") {
      // Experimental rules: img has none, so there is nothing to enable.
    } else {
      throw new ImgError(`Invalid check option "${key}": use skip=RULE,... or error=true`);
    }
  }
  return config;
}

/** Collects violations, skipping the rules the config skips. */
export class Linter {
  /** The violations, in the order found. */
  readonly warnings: CheckWarning[] = [];
  #seen = new Set<string>();

  /** A linter honouring `config`. */
  constructor(readonly config: CheckConfig) {}

  /** Records a violation of `rule` at `line` unless the rule is skipped. */
  run(rule: CheckRuleName, line: number, message: string): void {
    if (this.config.skipAll || this.config.skip.has(rule)) return;
    const key = `${rule}\0${line}\0${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.warnings.push({ rule, message, line });
  }

  /**
   * With `error=true` and violations: the error BuildKit fails the build with.
   */
  error(): ImgError | undefined {
    if (!this.config.error || this.warnings.length === 0) return undefined;
    const rules = [...new Set(this.warnings.map((w) => w.rule))];
    return new ImgError(`lint violation found for rules: ${rules.join(", ")}`);
  }
}

/** The one-line form buildx prints: `Rule: message (line N)`. */
export function formatCheckWarning(w: CheckWarning): string {
  return `${w.rule}: ${w.message}${w.line > 0 ? ` (line ${w.line})` : ""}`;
}

const RESERVED_STAGE_NAMES = ["context", "scratch"];
const SECRET =
  /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOWED = /(?:_|^)(?:public)(?:_|$)/i;
const PLATFORM_ARGS = ["PLATFORM", "OS", "ARCH", "VARIANT"].flatMap((s) => [
  `TARGET${s}`,
  `BUILD${s}`,
]);

function selfConsistent(word: string): boolean {
  return word === word.toLowerCase() || word === word.toUpperCase();
}

/** BuildKit's secret-name test of `SecretsUsedInArgOrEnv`. */
export function isSecretKey(key: string): boolean {
  return SECRET.test(key) && !SECRET_ALLOWED.test(key);
}

/**
 * Runs the rules that need only the parsed Dockerfile: casing, stage names, JSON arguments,
 * MAINTAINER, legacy `ENV key value`, secrets in ARG/ENV names, repeated CMD/ENTRYPOINT/
 * HEALTHCHECK, and undeclared ARGs in FROM.
 */
export function lintDockerfile(df: Dockerfile, linter: Linter): void {
  // ConsistentInstructionCasing: the majority of self-consistent keywords decides.
  const all: { keyword: string; line: number }[] = [];
  for (const st of df.stages) {
    all.push({ keyword: st.from.keyword, line: st.from.startLine });
    for (const c of st.commands) all.push({ keyword: c.keyword, line: c.startLine });
  }
  let lower = 0, upper = 0;
  for (const { keyword } of all) {
    if (!selfConsistent(keyword)) continue;
    if (keyword === keyword.toLowerCase()) lower++;
    else upper++;
  }
  const majorityLower = lower > upper;
  for (const { keyword, line } of all) {
    const want = majorityLower && keyword !== keyword.toLowerCase()
      ? "lowercase"
      : !majorityLower && keyword !== keyword.toUpperCase()
      ? "uppercase"
      : "";
    if (want) {
      linter.run(
        "ConsistentInstructionCasing",
        line,
        `Command '${keyword}' should match the case of the command majority (${want})`,
      );
    }
  }

  const metaArgs = new Map<string, string | undefined>();
  for (const inst of df.metaArgs) {
    for (const a of inst.args) metaArgs.set(a.key, a.value);
    lintArgOrEnv(inst, linter);
  }
  const lex = new ShellLex(df.escapeToken);
  const names = new Set<string>();
  for (const st of df.stages) {
    const from = st.from;
    const words = from.original.trim().split(/\s+/).filter((w) => !w.startsWith("--"));
    if (words.length === 4) {
      const [fromWord, , asWord, stageName] = words;
      if (
        (fromWord === fromWord.toUpperCase() && asWord !== asWord.toUpperCase()) ||
        (fromWord === fromWord.toLowerCase() && asWord !== asWord.toLowerCase())
      ) {
        linter.run(
          "FromAsCasing",
          from.startLine,
          `'${asWord}' and '${fromWord}' keywords' casing do not match`,
        );
      }
      if (stageName !== stageName.toLowerCase()) {
        linter.run(
          "StageNameCasing",
          from.startLine,
          `Stage name '${stageName}' should be lowercase`,
        );
      }
    }
    if (st.name) {
      if (names.has(st.name)) {
        linter.run(
          "DuplicateStageName",
          from.startLine,
          `Duplicate stage name "${st.name}", stage names should be unique`,
        );
      }
      names.add(st.name);
      if (RESERVED_STAGE_NAMES.includes(st.name)) {
        linter.run(
          "ReservedStageName",
          from.startLine,
          `Stage name should not use the same name as reserved stage "${st.name}"`,
        );
      }
    }
    // UndefinedArgInFrom: a variable of the base or --platform that no global ARG declares.
    for (const word of [st.baseName, st.platform]) {
      if (!word) continue;
      let unmatched: Set<string>;
      try {
        unmatched = lex.processWordWithMatches(word, metaArgs as Map<string, string>).unmatched;
      } catch {
        continue; // the build reports the bad substitution itself
      }
      for (const name of unmatched) {
        if (metaArgs.has(name) || PLATFORM_ARGS.includes(name)) continue;
        const hint = suggest(name, [...metaArgs.keys()]);
        linter.run(
          "UndefinedArgInFrom",
          from.startLine,
          `FROM argument '${name}' is not declared${hint ? ` (did you mean ${hint}?)` : ""}`,
        );
      }
    }
    lintStage(st.commands, linter);
  }
}

function lintArgOrEnv(inst: Instruction, linter: Linter): void {
  const keys = inst.kind === "arg"
    ? inst.args.map((a) => a.key)
    : inst.kind === "env"
    ? inst.env.map((p) => p.key)
    : [];
  for (const key of keys) {
    if (isSecretKey(key)) {
      linter.run(
        "SecretsUsedInArgOrEnv",
        inst.startLine,
        `Do not use ARG or ENV instructions for sensitive data (${inst.kind.toUpperCase()} "${key}")`,
      );
    }
  }
}

function lintStage(commands: Instruction[], linter: Linter): void {
  const last = new Map<string, Instruction>();
  const shellSet = commands.some((c) => c.kind === "shell");
  for (const inst of commands) {
    lintArgOrEnv(inst, linter);
    switch (inst.kind) {
      case "cmd":
      case "entrypoint":
        if (inst.prependShell && !shellSet) {
          linter.run(
            "JSONArgsRecommended",
            inst.startLine,
            `JSON arguments recommended for ${inst.kind.toUpperCase()} to prevent unintended behavior related to OS signals`,
          );
        }
        break;
      case "maintainer":
        linter.run(
          "MaintainerDeprecated",
          inst.startLine,
          "Maintainer instruction is deprecated in favor of using label",
        );
        break;
      case "env":
      case "label":
        if ((inst.kind === "env" ? inst.env : inst.labels).some((p) => p.noDelim)) {
          const name = inst.kind.toUpperCase();
          linter.run(
            "LegacyKeyValueFormat",
            inst.startLine,
            `"${name} key=value" should be used instead of legacy "${name} key value" format`,
          );
        }
        break;
    }
    if (inst.kind === "cmd" || inst.kind === "entrypoint" || inst.kind === "healthcheck") {
      const previous = last.get(inst.kind);
      if (previous) {
        linter.run(
          "MultipleInstructionsDisallowed",
          previous.startLine,
          `Multiple ${inst.kind.toUpperCase()} instructions should not be used in the same stage because only the last one will be used`,
        );
      }
      last.set(inst.kind, inst);
    }
  }
}
