/**
 * The Dockerfile parser: text to a list of raw instruction nodes, as BuildKit's
 * `frontend/dockerfile/parser` does it (parser directives, line continuations with the escape
 * token, comments and empty lines inside continuations, JSON or shell form, heredocs).
 *
 * The typed instructions are built from these nodes by `parse_instruction.ts`.
 *
 * @module
 */
import { DockerfileError } from "./errors.ts";
import { type Heredoc, heredocsFromLine } from "./heredoc.ts";
import { goQuote } from "./shell_lex.ts";

export type { Heredoc } from "./heredoc.ts";

/** One instruction of a Dockerfile, before its arguments are typed. */
export interface Node {
  /** The instruction, lowercased: `from`, `run`, ... (unknown ones too: `form`). */
  value: string;
  /** The instruction as written: `FROM`, `from`, `Run`. */
  keyword: string;
  /**
   * The arguments, split by the instruction's rule: the elements of a JSON array; one string
   * for shell form (RUN, CMD, ENTRYPOINT, SHELL, USER, WORKDIR, ...); whitespace-separated
   * words (FROM, EXPOSE, COPY, ADD, VOLUME); `[key, value, separator]` triples for ENV and
   * LABEL (separator `=` or `""` for the legacy `ENV key value`); words with their quotes
   * kept for ARG; `[type, ...command]` for HEALTHCHECK.
   */
  args: string[];
  /** The nested instruction of an ONBUILD. */
  sub?: Node;
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** The `--flag[=value]` words before the arguments, as written (`--from=build`). */
  flags: string[];
  /** The instruction line, continuations joined (comments and empty lines dropped). */
  original: string;
  /** The first line (1-based) of the instruction. */
  startLine: number;
  /** The last line (1-based) of the instruction, heredoc bodies included. */
  endLine: number;
  /** The heredocs the instruction opens, with their bodies. */
  heredocs: Heredoc[];
  /** The comment lines right above the instruction (`#` removed). */
  comments: string[];
}

/** A parser directive at the top of the file (`# syntax=...`, `# escape=...`, `# check=...`). */
export interface Directive {
  /** `syntax`, `escape` or `check`, lowercased. */
  name: string;
  /** The value, trimmed. */
  value: string;
  /** The line (1-based) it is on. */
  line: number;
}

/** A warning found while parsing; the build goes on. */
export interface ParseWarning {
  /** One line for the user. */
  message: string;
  /** The line (1-based) it applies to, when it applies to one. */
  line?: number;
  /** Where to read more. */
  url?: string;
}

/** The result of {@link parse}. */
export interface ParseResult {
  /** The instructions, in order. */
  nodes: Node[];
  /** The parser directives found at the top. */
  directives: Directive[];
  /** The escape token in force: `\` or `` ` ``. */
  escapeToken: string;
  /** Warnings, such as empty continuation lines. */
  warnings: ParseWarning[];
}

/** Options of {@link parse}. */
export interface ParseOptions {
  /** The file name to put in error messages (default `Dockerfile`). */
  fileName?: string;
}

const VALID_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const RE_DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const RE_WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC_INSTRUCTIONS = new Set(["add", "copy", "run"]);

/** Parser state: the escape token and the directive scanner. */
class Directives {
  escapeToken = "\\";
  continuation = /([^\\])\\[ \t]*$|^\\[ \t]*$/;
  found: Directive[] = [];
  #seen = new Set<string>();
  #done = false;
  #line = 0;

  setEscapeToken(s: string): void {
    if (s !== "`" && s !== "\\") {
      throw new Error(`invalid escape token '${s}' does not match \` or \\`);
    }
    this.escapeToken = s;
    const e = s === "\\" ? "\\\\" : "`";
    this.continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  /** Looks for a directive on a line; true when the line was one. */
  possibleParserDirective(line: string): boolean {
    this.#line++;
    if (this.#done) return false;
    if (!line.startsWith("#")) {
      this.#done = true;
      return false;
    }
    const match = RE_DIRECTIVE.exec(line.slice(1).replace(/^\s+/, ""));
    if (!match) {
      this.#done = true;
      return false;
    }
    const name = match[1].toLowerCase();
    if (!VALID_DIRECTIVES.has(name)) {
      this.#done = true;
      return false;
    }
    if (this.#seen.has(name)) throw new Error(`only one ${name} parser directive can be used`);
    this.#seen.add(name);
    this.found.push({ name, value: match[2], line: this.#line });
    if (name === "escape") this.setEscapeToken(match[2]);
    return true;
  }
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, "");
}

function trimLeadingWhitespace(s: string): string {
  return s.replace(/^\s+/, "");
}

function isComment(line: string): boolean {
  return trimLeadingWhitespace(line).startsWith("#");
}

function isEmptyContinuationLine(line: string): boolean {
  return trimLeadingWhitespace(trimNewline(line)).length === 0;
}

/** Splits text into lines, each with its line ending. */
function scanLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const i = text.indexOf("\n", start);
    if (i < 0) {
      lines.push(text.slice(start));
      break;
    }
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
  return lines;
}

/**
 * Parses a Dockerfile into raw instruction nodes.
 *
 * @throws {DockerfileError} on a bad directive, invalid JSON array of non-strings, an
 * unterminated heredoc, or a file with no instructions.
 */
export function parse(text: string | Uint8Array, options: ParseOptions = {}): ParseResult {
  const fileName = options.fileName ?? "Dockerfile";
  const source = typeof text === "string" ? text : new TextDecoder().decode(text);
  const lines = scanLines(source);
  const d = new Directives();
  const nodes: Node[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let currentLine = 0;
  let li = 0;

  const fail = (e: unknown, start: number, end: number): never => {
    const message = e instanceof Error ? e.message : String(e);
    throw new DockerfileError(message, fileName, start, end, { cause: e });
  };

  const processLine = (token: string, stripLeft: boolean): [string, boolean] => {
    token = trimNewline(token);
    if (stripLeft) token = trimLeadingWhitespace(token);
    let directive = false;
    try {
      directive = d.possibleParserDirective(token);
    } catch (e) {
      fail(e, currentLine + 1, currentLine + 1);
    }
    return [isComment(token) ? "" : token, directive];
  };

  const trimContinuation = (line: string): [string, boolean] => {
    if (d.continuation.test(line)) return [line.replace(d.continuation, "$1"), false];
    return [line, true];
  };

  while (li < lines.length) {
    let bytesRead = lines[li++];
    if (currentLine === 0 && bytesRead.startsWith("\uFEFF")) bytesRead = bytesRead.slice(1);
    if (isComment(bytesRead)) {
      const comment = trimNewline(trimLeadingWhitespace(bytesRead)).slice(1).trim();
      if (comment === "") comments = [];
      else comments.push(comment);
    }
    const [processed, directiveOk] = processLine(bytesRead, true);
    if (directiveOk) comments.pop();
    currentLine++;

    const startLine = currentLine;
    let [line, isEndOfLine] = trimContinuation(processed);
    if (isEndOfLine && line === "") continue;

    let hasEmptyContinuationLine = false;
    while (!isEndOfLine && li < lines.length) {
      const raw = lines[li++];
      const [cont] = processLine(raw, false);
      currentLine++;
      if (isComment(raw)) continue; // comments inside a continuation are dropped
      if (isEmptyContinuationLine(cont)) {
        hasEmptyContinuationLine = true;
        continue;
      }
      const [trimmed, end] = trimContinuation(cont);
      isEndOfLine = end;
      line += trimmed;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        message: `Empty continuation line found in: ${line}`,
        line: currentLine,
        url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
      });
    }

    let child: Node;
    try {
      child = newNodeFromLine(line, d, comments);
    } catch (e) {
      return fail(e, startLine, currentLine);
    }

    if (canContainHeredoc(child) && line.includes("<<")) {
      let heredocs: Heredoc[];
      try {
        heredocs = heredocsFromLine(line);
      } catch (e) {
        return fail(e, startLine, currentLine);
      }
      for (const heredoc of heredocs) {
        let terminated = false;
        while (li < lines.length) {
          const raw = lines[li++];
          currentLine++;
          let possibleTerminator = trimNewline(raw);
          if (heredoc.chomp) possibleTerminator = possibleTerminator.replace(/^\t+/, "");
          if (possibleTerminator === heredoc.name) {
            terminated = true;
            break;
          }
          heredoc.content += raw;
        }
        if (!terminated) fail(new Error("unterminated heredoc"), startLine, currentLine);
        child.heredocs.push(heredoc);
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    if (child.sub) {
      child.sub.startLine = startLine;
      child.sub.endLine = currentLine;
      child.sub.heredocs = child.heredocs;
    }
    nodes.push(child);
    comments = [];
  }

  if (nodes.length === 0) fail(new Error("file with no instructions"), currentLine, currentLine);

  return { nodes, directives: d.found, escapeToken: d.escapeToken, warnings };
}

function canContainHeredoc(node: Node): boolean {
  if (node.value === "onbuild" && node.sub) node = node.sub;
  return HEREDOC_INSTRUCTIONS.has(node.value) && !node.json;
}

function newNodeFromLine(line: string, d: Directives, comments: string[]): Node {
  const [keyword, flags, rest] = splitCommand(line);
  const value = keyword.toLowerCase();
  const node: Node = {
    value,
    keyword,
    args: [],
    json: false,
    flags,
    original: line,
    startLine: 0,
    endLine: 0,
    heredocs: [],
    comments: [...comments],
  };
  switch (value) {
    case "add":
    case "copy":
    case "volume":
      parseMaybeJSONToList(rest, node);
      break;
    case "arg":
      node.args = parseWords(rest, d.escapeToken);
      break;
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      parseMaybeJSON(rest, node);
      break;
    case "env":
      node.args = parseNameVal(rest, "ENV", d.escapeToken);
      break;
    case "label":
      node.args = parseNameVal(rest, "LABEL", d.escapeToken);
      break;
    case "expose":
    case "from":
      node.args = parseStringsWhitespaceDelimited(rest);
      break;
    case "healthcheck":
      parseHealthConfig(rest, node);
      break;
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      node.args = rest === "" ? [] : [rest];
      break;
    case "onbuild":
      if (rest !== "") node.sub = newNodeFromLine(rest, d, []);
      break;
    default:
      // unknown instructions are kept; the instruction layer reports them with their line
      break;
  }
  return node;
}

/** Splits a line into the instruction, its `--flags` and the rest, as BuildKit does. */
export function splitCommand(line: string): [string, string[], string] {
  const trimmed = line.trim();
  const m = RE_WHITESPACE.exec(trimmed);
  const keyword = m ? trimmed.slice(0, m.index) : trimmed;
  if (!m) return [keyword, [], ""];
  const [args, flags] = extractBuilderFlags(trimmed.slice(m.index + m[0].length));
  return [keyword, flags, args.trim()];
}

function isSpaceChar(ch: string): boolean {
  return /^\s$/u.test(ch);
}

/** Flags that are booleans: a following word is an argument, never their value. */
const BOOL_FLAGS = ["--link", "--parents", "--keep-git-dir", "--unpack"];

/** Takes the leading `--flag[=value]` words off `line`; returns the rest and the flags. */
function extractBuilderFlags(line: string): [string, string[]] {
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  const words: string[] = [];
  let phase = IN_SPACES;
  let word = "";
  let quote = "";
  let blankOK = false;
  let parsingFlagArg = false;
  let needFlagArg = true;

  for (let pos = 0; pos <= line.length; pos++) {
    let ch = pos !== line.length ? line[pos] : "";
    if (phase === IN_SPACES) {
      if (pos === line.length) break;
      if (isSpaceChar(ch)) continue;
      if (!parsingFlagArg && (ch !== "-" || pos + 1 === line.length || line[pos + 1] !== "-")) {
        return [line.slice(pos), words];
      }
      phase = IN_WORD;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === line.length) {
      if (word !== "--" && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === IN_WORD) {
      if (isSpaceChar(ch)) {
        phase = IN_SPACES;
        if (parsingFlagArg) {
          words[words.length - 1] += "=" + word;
          parsingFlagArg = false;
          needFlagArg = true;
        } else {
          if (word === "--") return [line.slice(pos), words];
          if (blankOK || word.length > 0) {
            // Boolean flags (`COPY --link src dst`) take no separate value word.
            if (needFlagArg && !BOOL_FLAGS.includes(word)) parsingFlagArg = true;
            words.push(word);
          }
        }
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "=" && needFlagArg) needFlagArg = false;
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === line.length) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (phase === IN_QUOTE) {
      if (ch === quote) {
        phase = IN_WORD;
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === line.length) {
          phase = IN_WORD;
          continue;
        }
        ch = line[++pos];
      }
      word += ch;
    }
  }
  return ["", words];
}

/**
 * Splits on whitespace into words, keeping quotes and escapes (they are removed later by the
 * shell lexer), as BuildKit's `parseWords` for ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escapeToken = "\\"): string[] {
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase = IN_SPACES;
  let quote = "";
  let blankOK = false;
  let word = "";

  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = pos !== chars.length ? chars[pos] : "";
    if (phase === IN_SPACES) {
      if (pos === chars.length) break;
      if (isSpaceChar(ch)) continue;
      phase = IN_WORD;
    }
    if (phase === IN_WORD && pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === IN_WORD) {
      if (isSpaceChar(ch)) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // skip an escape token at the end of the line
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    // IN_QUOTE (an unterminated quote ends with the input, as in BuildKit)
    if (pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (ch === quote) phase = IN_WORD;
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = IN_WORD;
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

function parseNameVal(rest: string, key: string, escapeToken: string): string[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  if (!words[0].includes("=")) {
    // legacy form: KEY name value
    const m = RE_WHITESPACE.exec(rest);
    if (!m) throw new Error(`${key} must have two arguments`);
    return [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ""];
  }
  const out: string[] = [];
  for (const word of words) {
    const i = word.indexOf("=");
    if (i < 0) {
      throw new Error(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
      );
    }
    out.push(word.slice(0, i), word.slice(i + 1), "=");
  }
  return out;
}

function parseStringsWhitespaceDelimited(rest: string): string[] {
  if (rest === "") return [];
  return rest.split(RE_WHITESPACE);
}

class NotJSONArray extends Error {}

const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";

/** Parses a JSON array of strings; throws NotJSONArray when `rest` is not JSON at all. */
function parseJSON(rest: string): string[] {
  rest = trimLeadingWhitespace(rest);
  if (!rest.startsWith("[")) throw new NotJSONArray();
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    throw new NotJSONArray();
  }
  if (!Array.isArray(parsed)) throw new NotJSONArray();
  for (const v of parsed) {
    if (typeof v !== "string") throw new Error(NOT_STRING_ARRAY);
  }
  return parsed as string[];
}

function parseMaybeJSON(rest: string, node: Node): void {
  if (rest === "") return;
  try {
    node.args = parseJSON(rest);
    node.json = true;
  } catch (e) {
    if (!(e instanceof NotJSONArray)) throw e;
    node.args = [rest];
  }
}

function parseMaybeJSONToList(rest: string, node: Node): void {
  try {
    node.args = parseJSON(rest);
    node.json = true;
  } catch (e) {
    if (!(e instanceof NotJSONArray)) throw e;
    node.args = parseStringsWhitespaceDelimited(rest);
  }
}

function parseHealthConfig(rest: string, node: Node): void {
  let sep = 0;
  while (sep < rest.length && !isSpaceChar(rest[sep])) sep++;
  let next = sep;
  while (next < rest.length && isSpaceChar(rest[next])) next++;
  if (sep === 0) return;
  const typ = rest.slice(0, sep);
  const cmd: Node = { ...node, args: [] };
  parseMaybeJSON(rest.slice(next), cmd);
  node.args = [typ, ...cmd.args];
  node.json = cmd.json;
}

/**
 * Dumps nodes as BuildKit's `Node.Dump` does (`(run "echo hi")`, flags as `["--from=a"]`),
 * one line per instruction; for tests and debugging.
 */
export function dump(nodes: Node[]): string {
  return nodes.map((n) => `(${dumpNode(n)})\n`).join("");
}

function dumpNode(node: Node): string {
  let str = node.value;
  if (node.flags.length > 0) str += ` [${node.flags.map(goQuote).join(" ")}]`;
  if (node.sub) str += ` (${dumpNode(node.sub)})`;
  for (const a of node.args) str += " " + goQuote(a);
  return str.trim();
}

/** The `# syntax=` directive of a Dockerfile, if it has one (errors in the file are ignored). */
export function detectSyntax(text: string): Directive | undefined {
  const d = new Directives();
  for (const line of scanLines(text.replace(/^\uFEFF/, ""))) {
    try {
      if (!d.possibleParserDirective(trimLeadingWhitespace(trimNewline(line)))) break;
    } catch {
      break;
    }
  }
  return d.found.find((x) => x.name === "syntax");
}
