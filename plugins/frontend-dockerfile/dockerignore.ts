/**
 * `.dockerignore` files, read as docker reads them (moby's `ignorefile.ReadAll`) and matched
 * with docker's own rules (`npm:@balena/dockerignore`): `*`, `?`, `[...]`, `**`, and `!`
 * exceptions where the last matching line wins.
 *
 * @module
 */
import dockerignore, { type Ignore } from "@balena/dockerignore";
import { posix } from "node:path";

// A CommonJS module whose types declare an ES default export: take the factory either way.
const ignore = ((dockerignore as unknown as { default?: unknown }).default ??
  dockerignore) as unknown as (options?: { ignorecase?: boolean }) => Ignore;

/**
 * Reads the patterns of a `.dockerignore`: a BOM and `#` comment lines are dropped, each line
 * is trimmed and cleaned (`./a/../b/` -> `b`), a leading `/` is removed, `!` is kept.
 */
export function parseDockerignore(text: string | Uint8Array): string[] {
  let source = typeof text === "string" ? text : new TextDecoder().decode(text);
  if (source.startsWith("\uFEFF")) source = source.slice(1);
  const patterns: string[] = [];
  for (const rawLine of source.split("\n")) {
    const line = rawLine.replace(/\r$/, "");
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern[0] === "!";
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = posix.normalize(pattern);
      if (pattern.length > 1 && pattern.endsWith("/")) pattern = pattern.slice(0, -1);
      if (pattern.length > 1 && pattern[0] === "/") pattern = pattern.slice(1);
    }
    patterns.push(invert ? "!" + pattern : pattern);
  }
  return patterns;
}

/** The patterns of a `.dockerignore`, ready to test paths of the build context against. */
export class DockerIgnore {
  /** The patterns, in order, as {@link parseDockerignore} returns them. */
  readonly patterns: readonly string[];
  /** True when some pattern is an exception (`!keep`): an ignored directory may not be pruned. */
  readonly hasExceptions: boolean;
  #matcher: Ignore;

  /** Creates a matcher for `patterns` (already parsed). */
  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    this.hasExceptions = patterns.some((p) => p.startsWith("!"));
    this.#matcher = ignore({ ignorecase: false }).add([...patterns]);
  }

  /** Reads a `.dockerignore` file's text. */
  static parse(text: string | Uint8Array): DockerIgnore {
    return new DockerIgnore(parseDockerignore(text));
  }

  /**
   * Whether `path` (relative to the context root, `/`-separated) is excluded from the
   * context. A path inside an excluded directory is excluded unless an exception re-includes
   * it.
   */
  ignores(path: string): boolean {
    const p = normalizePath(path);
    if (p === "" || p === ".") return false;
    return this.#matcher.ignores(p);
  }

  /**
   * Whether a walker may skip the directory `dir` entirely: it is ignored and no exception
   * pattern could re-include anything below it.
   */
  canSkipDir(dir: string): boolean {
    const d = normalizePath(dir);
    if (!this.ignores(d)) return false;
    const parts = d.split("/");
    return !this.patterns.some((p) =>
      p.startsWith("!") && couldMatchBelow(p.slice(1).split("/"), parts)
    );
  }
}

function normalizePath(path: string): string {
  let p = posix.normalize(path.replaceAll("\\", "/"));
  p = p.replace(/^(\.\/)+/, "").replace(/^\/+/, "");
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/** Whether a pattern (split on `/`) could match something below the directory `dir`. */
function couldMatchBelow(pattern: string[], dir: string[]): boolean {
  for (let i = 0; i < dir.length; i++) {
    if (i >= pattern.length) return false;
    if (pattern[i] === "**") return true;
    if (!componentRegExp(pattern[i]).test(dir[i])) return false;
  }
  return pattern.length > dir.length;
}

function componentRegExp(component: string): RegExp {
  let re = "^";
  for (let i = 0; i < component.length; i++) {
    const c = component[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = component.indexOf("]", i + 1);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let cls = component.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = "^" + cls.slice(1);
      re += "[" + cls.replaceAll("\\", "\\\\") + "]";
      i = end;
    } else if (c === "\\" && i + 1 < component.length) {
      re += "\\" + component[++i];
    } else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  return new RegExp(re + "$");
}
