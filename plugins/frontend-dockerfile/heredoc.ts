/**
 * Heredocs in RUN, COPY and ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), as BuildKit's
 * Dockerfile 1.4+ parser reads them.
 *
 * @module
 */
import { ShellLex } from "./shell_lex.ts";

/** A heredoc attached to an instruction. */
export interface Heredoc {
  /** The delimiter word, quotes removed (`EOF`). */
  name: string;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when none. */
  fileDescriptor: number;
  /** False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): the body is not expanded. */
  expand: boolean;
  /** True for `<<-EOF`: leading tabs are stripped from the body and the delimiter line. */
  chomp: boolean;
  /** The body, each line with its newline, as written (tabs not yet stripped). */
  content: string;
}

const RE_HEREDOC = /^(\d*)<<(-?)([^<]*)$/;

/**
 * Parses one heredoc word (`<<EOF`, `<<-'EOF'`, `2<<EOF`); returns `undefined` when `src` is
 * not a heredoc and throws when its delimiter's quotes are unbalanced (`<<'EOF`).
 */
export function parseHeredoc(src: string): Heredoc | undefined {
  const match = RE_HEREDOC.exec(src);
  if (!match) return undefined;
  const fd = match[1] === "" ? 0 : Number.parseInt(match[1], 10);
  const chomp = match[2] === "-";
  const rest = match[3];
  if (rest.length === 0) return undefined;

  // Lex the word with and without quotes: if the counts differ, part of it was quoted.
  const words = new ShellLex("\\", { skipUnsetEnv: true }).processWords(rest, []);
  if (words.length !== 1) return undefined;
  const raw = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true }).processWords(rest, []);
  if (raw.length !== words.length) {
    throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const quotes = (s: string) => s.split("").filter((c) => c === "'" || c === '"').length;
  return {
    name: words[0],
    fileDescriptor: fd,
    expand: quotes(words[0]) === quotes(raw[0]),
    chomp,
    content: "",
  };
}

/** Like {@link parseHeredoc}, but `undefined` instead of an error. */
export function mustParseHeredoc(src: string): Heredoc | undefined {
  try {
    return parseHeredoc(src);
  } catch {
    return undefined;
  }
}

/** The heredocs a (continuation-joined) instruction line opens, in order. */
export function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLex("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lex.processWords(line, []);
  } catch {
    words = [];
  }
  const docs: Heredoc[] = [];
  for (const word of words) {
    const heredoc = parseHeredoc(word);
    if (heredoc) docs.push(heredoc);
  }
  return docs;
}

/** Strips the leading tabs of every line, as `<<-` asks. */
export function chompHeredocContent(src: string): string {
  return src.replace(/^\t+/gm, "");
}
