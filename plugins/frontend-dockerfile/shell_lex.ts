/**
 * Shell-style word processing as BuildKit's `frontend/dockerfile/shell/lex.go` does it:
 * variable expansion (`$x`, `${x}`, `${x:-d}`, `${x-d}`, `${x:+a}`, `${x+a}`, `${x:?msg}`,
 * `${x?msg}`, `${x#p}`, `${x##p}`, `${x%p}`, `${x%%p}`, `${x/p/r}`, `${x//p/r}`), quote
 * removal, escapes with the Dockerfile's escape token, and word splitting.
 *
 * @module
 */
import { ImgError } from "@img/core";

/** A read-only view of the variables a word is expanded against. */
export interface EnvGetter {
  /** The value of `key`, or `undefined` when it is not set. */
  get(key: string): string | undefined;
  /** The names of all set variables. */
  keys(): string[];
}

/**
 * Variables to expand against: a map, a plain object, `KEY=value` strings (the last one of a
 * name wins, as in BuildKit's `EnvsFromSlice`), or an {@link EnvGetter}.
 */
export type Env = EnvGetter | Map<string, string> | Record<string, string> | readonly string[];

/** The result of {@link ShellLex.processWordWithMatches}. */
export interface ProcessWordResult {
  /** The word after expansion and quote removal. */
  result: string;
  /** The word split into words (after expansion), as {@link ShellLex.processWords} returns. */
  words: string[];
  /** Names of variables the word referenced that were set. */
  matched: Set<string>;
  /** Names of variables the word referenced that were not set. */
  unmatched: Set<string>;
}

/** Options of a {@link ShellLex}, BuildKit's `Lex` fields. */
export interface ShellLexOptions {
  /** Keep quote characters in the output (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as they are written instead of expanding to "". */
  skipUnsetEnv?: boolean;
}

/** Turns any {@link Env} into an {@link EnvGetter}. */
export function envGetter(env: Env): EnvGetter {
  if (Array.isArray(env)) {
    const map = new Map<string, string>();
    for (const e of env as readonly string[]) {
      const i = e.indexOf("=");
      if (i < 0) map.set(e, "");
      else map.set(e.slice(0, i), e.slice(i + 1));
    }
    return mapGetter(map);
  }
  if (env instanceof Map) return mapGetter(env);
  if (
    typeof (env as EnvGetter).get === "function" && typeof (env as EnvGetter).keys === "function"
  ) {
    return env as EnvGetter;
  }
  const obj = env as Record<string, string>;
  return {
    get: (key) => Object.hasOwn(obj, key) ? obj[key] : undefined,
    keys: () => Object.keys(obj),
  };
}

function mapGetter(map: Map<string, string>): EnvGetter {
  return { get: (key) => map.get(key), keys: () => [...map.keys()] };
}

const EOF = "";

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

function isLetter(ch: string): boolean {
  return /^\p{L}$/u.test(ch);
}

function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

/** A scanner over the code points of a word. */
class Scanner {
  #chars: string[];
  #pos = 0;
  constructor(text: string) {
    this.#chars = Array.from(text);
  }
  peek(): string {
    return this.#pos < this.#chars.length ? this.#chars[this.#pos] : EOF;
  }
  next(): string {
    return this.#pos < this.#chars.length ? this.#chars[this.#pos++] : EOF;
  }
}

class Words {
  buf = "";
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = "";
        this.inWord = false;
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(str: string): void {
    for (const ch of str) this.addChar(ch);
  }
  addRawString(str: string): void {
    this.buf += str;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = "";
      this.inWord = false;
    }
    return this.words;
  }
}

/** An error in a word: a bad substitution, an unterminated quote, a `${x:?}` on an unset `x`. */
export class ShellLexError extends ImgError {
  /** Creates a lexing error with BuildKit's wording. */
  constructor(message: string) {
    super(message);
    this.name = "ShellLexError";
  }
}

/**
 * Shell word splitting and variable expansion, as BuildKit's `shell.Lex`.
 *
 * ```ts
 * const lex = new ShellLex("\\");
 * lex.processWord("${GREETING:-hi} $NAME", { NAME: "img" }); // "hi img"
 * lex.processWords("a 'b c' $X", { X: "d e" }); // ["a", "b c", "d", "e"]
 * ```
 */
export class ShellLex {
  /** The escape token: `\` (default) or `` ` ``. */
  readonly escapeToken: string;
  /** See {@link ShellLexOptions.rawQuotes}. */
  rawQuotes: boolean;
  /** See {@link ShellLexOptions.rawEscapes}. */
  rawEscapes: boolean;
  /** See {@link ShellLexOptions.skipProcessQuotes}. */
  skipProcessQuotes: boolean;
  /** See {@link ShellLexOptions.skipUnsetEnv}. */
  skipUnsetEnv: boolean;

  /** Creates a lexer that escapes with `escapeToken`. */
  constructor(escapeToken = "\\", options: ShellLexOptions = {}) {
    this.escapeToken = escapeToken;
    this.rawQuotes = options.rawQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
  }

  /** Expands the variables of `word` and removes its quotes and escapes; spaces are kept. */
  processWord(word: string, env: Env): string {
    return this.#process(word, env).result;
  }

  /**
   * Expands `word` like {@link processWord}, then splits it into words on unquoted whitespace
   * (whitespace that came out of a variable splits too), as docker does for EXPOSE and the
   * heredoc detection.
   */
  processWords(word: string, env: Env): string[] {
    return this.#process(word, env).words;
  }

  /** Like {@link processWord}, and reports which variables were used and which were unset. */
  processWordWithMatches(word: string, env: Env): ProcessWordResult {
    return this.#process(word, env);
  }

  #process(word: string, env: Env): ProcessWordResult {
    const sw = new ShellWord(this, envGetter(env), word);
    try {
      const [result, words] = sw.processStopOn(EOF, this.rawEscapes);
      return { result, words, matched: sw.matches, unmatched: sw.nonmatches };
    } catch (e) {
      if (e instanceof ShellLexError) {
        throw new ShellLexError(`failed to process ${goQuote(word)}: ${e.message}`);
      }
      throw e;
    }
  }
}

class ShellWord {
  scanner: Scanner;
  rawEscapes: boolean;
  matches = new Set<string>();
  nonmatches = new Set<string>();

  constructor(readonly lex: ShellLex, readonly envs: EnvGetter, word: string) {
    this.scanner = new Scanner(word);
    this.rawEscapes = lex.rawEscapes;
  }

  processStopOn(stopChar: string, rawEscapes: boolean): [string, string[]] {
    let result = "";
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.scanner.peek() !== EOF) {
        let ch = this.scanner.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.scanner.next();
          return [result, words.getWords()];
        }
        const special = ch === "$" ||
          (!this.lex.skipProcessQuotes && (ch === "'" || ch === '"'));
        if (special) {
          const tmp = ch === "$"
            ? this.processDollar()
            : ch === "'"
            ? this.processSingleQuote()
            : this.processDoubleQuote();
          result += tmp;
          if (ch === "$") words.addString(tmp);
          else words.addRawString(tmp);
        } else {
          ch = this.scanner.next();
          if (ch === this.lex.escapeToken) {
            if (this.rawEscapes) {
              words.addRawChar(ch);
              result += ch;
            }
            ch = this.scanner.next();
            if (ch === EOF) break;
            words.addRawChar(ch);
          } else {
            words.addChar(ch);
          }
          result += ch;
        }
      }
      if (stopChar !== EOF) {
        throw new ShellLexError(
          `unexpected end of statement while looking for matching ${stopChar}`,
        );
      }
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  processSingleQuote(): string {
    let result = "";
    let ch = this.scanner.next();
    if (this.lex.rawQuotes) result += ch;
    for (;;) {
      ch = this.scanner.next();
      if (ch === EOF) {
        throw new ShellLexError(
          "unexpected end of statement while looking for matching single-quote",
        );
      }
      if (ch === "'") {
        if (this.lex.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  processDoubleQuote(): string {
    let result = "";
    const open = this.scanner.next();
    if (this.lex.rawQuotes) result += open;
    for (;;) {
      const peek = this.scanner.peek();
      if (peek === EOF) {
        throw new ShellLexError(
          "unexpected end of statement while looking for matching double-quote",
        );
      }
      if (peek === '"') {
        const ch = this.scanner.next();
        if (this.lex.rawQuotes) result += ch;
        return result;
      }
      if (peek === "$") {
        result += this.processDollar();
        continue;
      }
      let ch = this.scanner.next();
      if (ch === this.lex.escapeToken) {
        if (this.rawEscapes) result += ch;
        const after = this.scanner.peek();
        if (after === EOF) continue; // ignore the escape token at the end of the word
        if (after === '"' || after === "$" || after === this.lex.escapeToken) {
          ch = this.scanner.next();
        }
      }
      result += ch;
    }
  }

  processDollar(): string {
    this.scanner.next();
    if (this.scanner.peek() !== "{") {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return "$" + name;
      return value ?? "";
    }
    this.scanner.next();
    const first = this.scanner.peek();
    if (first === EOF) throw new ShellLexError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") {
      throw new ShellLexError("syntax error: bad substitution");
    }
    const name = this.processName();
    let ch = this.scanner.next();
    let chs = ch;
    let nullIsUnset = false;
    switch (ch) {
      case "}": {
        const value = this.getEnv(name);
        if (value === undefined && this.lex.skipUnsetEnv) return `\${${name}}`;
        return value ?? "";
      }
      case ":":
        nullIsUnset = true;
        ch = this.scanner.next();
        chs += ch;
      // falls through
      case "+":
      case "-":
      case "?":
      case "#":
      case "%": {
        if (!["+", "-", "?", "#", "%"].includes(ch)) {
          throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
        }
        const raw = ch === "#" || ch === "%";
        if (nullIsUnset && raw) {
          throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
        }
        let word: string;
        try {
          [word] = this.processStopOn("}", raw);
        } catch (e) {
          if (this.scanner.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw e;
        }
        const value = this.getEnv(name);
        const set = value !== undefined;
        if (this.lex.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;
        switch (ch) {
          case "-":
            if (!set || (nullIsUnset && value === "")) return word;
            return value!;
          case "+":
            if (!set || (nullIsUnset && value === "")) return "";
            return word;
          case "?":
            if (!set) {
              throw new ShellLexError(
                `${name}: ${word !== "" ? word : "is not allowed to be unset"}`,
              );
            }
            if (nullIsUnset && value === "") {
              throw new ShellLexError(
                `${name}: ${word !== "" ? word : "is not allowed to be empty"}`,
              );
            }
            return value!;
          default: {
            let greedy = false;
            if (word.length > 0 && word[0] === ch) {
              greedy = true;
              word = word.slice(1);
            }
            return ch === "%"
              ? trimSuffix(word, value ?? "", greedy)
              : trimPrefix(word, value ?? "", greedy);
          }
        }
      }
      case "/": {
        const replaceAll = this.scanner.peek() === "/";
        if (replaceAll) this.scanner.next();
        let pattern: string;
        try {
          [pattern] = this.processStopOn("/", true);
        } catch (e) {
          if (this.scanner.peek() === EOF) {
            throw new ShellLexError("syntax error: missing '/' in ${}");
          }
          throw e;
        }
        let replacement: string;
        try {
          [replacement] = this.processStopOn("}", true);
        } catch (e) {
          if (this.scanner.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw e;
        }
        const value = this.getEnv(name);
        if (this.lex.skipUnsetEnv && value === undefined) {
          return `\${${name}/${pattern}/${replacement}}`;
        }
        const re = patternRegExp(pattern, true, false, replaceAll);
        const v = value ?? "";
        if (replaceAll) return v.replace(re, () => replacement);
        const m = re.exec(v);
        if (!m) return v;
        return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
      }
      case EOF:
        throw new ShellLexError("syntax error: missing '}'");
      default:
        throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  processName(): string {
    let name = "";
    while (this.scanner.peek() !== EOF) {
      let ch = this.scanner.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.scanner.peek() !== EOF && isDigit(this.scanner.peek())) {
          name += this.scanner.next();
        }
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return this.scanner.next();
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== "_") break;
      ch = this.scanner.next();
      name += ch;
    }
    return name;
  }

  getEnv(name: string): string | undefined {
    const v = this.envs.get(name);
    if (v !== undefined) {
      this.matches.add(name);
      return v;
    }
    this.nonmatches.add(name);
    return undefined;
  }
}

function isSpecialParam(ch: string): boolean {
  return ["@", "*", "#", "?", "-", "$", "!", "0"].includes(ch);
}

/**
 * Converts a shell pattern (`?` one character, `*` any string) to a regular expression, as
 * BuildKit's `convertShellPatternToRegex` (no bracket expressions).
 */
function patternRegExp(
  pattern: string,
  greedy: boolean,
  anchored: boolean,
  global = false,
): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  const star = greedy ? ".*" : ".*?";
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i];
    if (tok === "*") {
      out += star;
      continue;
    }
    if (tok === "?") {
      out += ".";
      continue;
    }
    if (tok === "\\") {
      const peek = chars[i + 1];
      // } and / inside ${} are escaped, but the escape is not part of the pattern
      if (peek === "}" || peek === "/") continue;
      out += "\\";
      tok = chars[++i];
      if (tok !== "*" && tok !== "?" && tok !== "\\") {
        throw new ShellLexError(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${tok ?? ""}'`,
        );
      }
    } else if ("[]{}.+()|^$".includes(tok)) {
      out += "\\";
    }
    out += tok;
  }
  return new RegExp(out, global ? "gu" : "u");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern without reversing its escapes: `a\*c` -> `c\*a`. */
function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last;) {
    const tok = runes[i];
    const outIdx = last - i;
    if (tok === "\\" && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = runes[i + 1];
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // a regular expression cannot find the shortest rightmost match, so reverse both
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** Quotes a string as Go's `%q` does for printable text. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * The instructions whose arguments docker expands variables in (the Dockerfile reference,
 * "Environment replacement", plus ARG, whose names and defaults BuildKit expands too):
 * ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR. RUN, CMD,
 * ENTRYPOINT, SHELL and HEALTHCHECK leave `$` to the shell (RUN's `--mount` values are
 * expanded, though), MAINTAINER is kept verbatim, and an ONBUILD trigger is stored verbatim
 * and expanded when it runs in the child build, by the rules of its own instruction.
 */
export function expandsVariables(instruction: string): boolean {
  return EXPANDING.has(instruction.toLowerCase());
}

const EXPANDING = new Set([
  "add",
  "arg",
  "copy",
  "env",
  "expose",
  "from",
  "label",
  "stopsignal",
  "user",
  "volume",
  "workdir",
]);
