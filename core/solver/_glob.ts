/**
 * Wildcards of COPY and ADD sources, as BuildKit matches them: Go's `filepath.Match` applied
 * to the path below the first component that holds a wildcard. `*` and `?` never match a
 * `/`, `[...]` is a character class (`[^...]` negated, `a-z` ranges), `\` escapes, and `**`
 * is nothing more than two stars.
 *
 * @module
 */

/** Thrown by {@linkcode matchGlob} for a malformed pattern (Go's `ErrBadPattern`). */
export class BadPatternError extends Error {
  /** Creates the error for `pattern`. */
  constructor(readonly pattern: string) {
    super(`syntax error in pattern "${pattern}"`);
    this.name = "BadPatternError";
  }
}

/** Reports whether one path component holds an unescaped `*`, `?` or `[`. */
export function hasWildcards(component: string): boolean {
  for (let i = 0; i < component.length; i++) {
    const c = component[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/**
 * Splits cleaned path components at the first one holding a wildcard: the literal base and
 * the pattern below it (joined with `/`), or `undefined` when there is no wildcard.
 */
export function splitWildcards(
  components: readonly string[],
): { base: string[]; pattern: string } | undefined {
  const i = components.findIndex(hasWildcards);
  if (i < 0) return undefined;
  return { base: components.slice(0, i), pattern: components.slice(i).join("/") };
}

/** Splits a pattern into its leading stars, a chunk up to the next star, and the rest. */
function scanChunk(p: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  while (p.length > 0 && p[0] === "*") {
    p = p.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case "\\":
        if (i + 1 < p.length) i++;
        break;
      case "[":
        inRange = true;
        break;
      case "]":
        inRange = false;
        break;
      case "*":
        if (!inRange) break scan;
    }
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

/** One (possibly escaped) character of a character class. */
function getEsc(chunk: string[], pattern: string): { r: string; rest: string[] } {
  if (chunk.length === 0 || chunk[0] === "-" || chunk[0] === "]") {
    throw new BadPatternError(pattern);
  }
  if (chunk[0] === "\\") {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new BadPatternError(pattern);
  }
  const r = chunk[0];
  const rest = chunk.slice(1);
  if (rest.length === 0) throw new BadPatternError(pattern);
  return { r, rest };
}

/** Matches `chunk` (no stars) at the start of `s`; returns the rest of `s`, or undefined. */
function matchChunk(chunk: string[], s: string[], pattern: string): string[] | undefined {
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case "[": {
        let r = "";
        if (!failed) {
          r = s[0];
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === "^") {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let ranges = 0;
        while (true) {
          if (chunk.length > 0 && chunk[0] === "]" && ranges > 0) {
            chunk = chunk.slice(1);
            break;
          }
          const lo = getEsc(chunk, pattern);
          chunk = lo.rest;
          let hi = lo.r;
          if (chunk[0] === "-") {
            const h = getEsc(chunk.slice(1), pattern);
            hi = h.r;
            chunk = h.rest;
          }
          const cp = r.codePointAt(0) ?? -1;
          if (lo.r.codePointAt(0)! <= cp && cp <= hi.codePointAt(0)!) match = true;
          ranges++;
        }
        if (match === negated) failed = true;
        break;
      }
      case "?":
        if (!failed) {
          if (s[0] === "/") failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      case "\\":
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new BadPatternError(pattern);
      // falls through
      default:
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? undefined : s;
}

/**
 * Reports whether `name` matches the shell pattern `pattern`, exactly as Go's
 * `filepath.Match` does on Linux. Throws {@linkcode BadPatternError} for a malformed pattern
 * (BuildKit then treats the path as not matching).
 */
export function matchGlob(pattern: string, name: string): boolean {
  let p = Array.from(pattern);
  let n = Array.from(name);
  outer: while (p.length > 0) {
    const { star, chunk, rest } = scanChunk(p);
    p = rest;
    if (star && chunk.length === 0) return !n.includes("/");
    const t = matchChunk(chunk, n, pattern);
    if (t !== undefined && (t.length === 0 || p.length > 0)) {
      n = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < n.length && n[i] !== "/"; i++) {
        const t = matchChunk(chunk, n.slice(i + 1), pattern);
        if (t !== undefined) {
          if (p.length === 0 && t.length > 0) continue;
          n = t;
          continue outer;
        }
      }
    }
    // No match: still report a malformed remainder, as Go does.
    while (p.length > 0) {
      const next = scanChunk(p);
      p = next.rest;
      matchChunk(next.chunk, [], pattern);
    }
    return false;
  }
  return n.length === 0;
}
