/**
 * Parsing of `WWW-Authenticate` challenges (RFC 7235), as registries send them:
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`.
 *
 * @module
 */

/** One authentication challenge: a scheme and its parameters (names lower-cased). */
export interface Challenge {
  /** The scheme, lower-cased: `bearer`, `basic`, ... */
  scheme: string;
  /** The auth parameters, with lower-cased names and unquoted values. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/**
 * Parses a `WWW-Authenticate` header value into its challenges. Several challenges may be
 * given in one header, separated by commas; quoted values may contain commas and escaped
 * quotes. Malformed input ends the parse rather than throwing, as docker does.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let s = header;
  let current: Challenge | undefined;
  const skipSpace = () => {
    s = s.replace(/^[\s,]+/, "");
  };
  skipSpace();
  while (s.length > 0) {
    const m = TOKEN.exec(s);
    if (!m) break;
    const word = m[0];
    const rest = s.slice(word.length).replace(/^\s*/, "");
    if (rest.startsWith("=") && current) {
      // An auth-param `name=value` of the current challenge.
      s = rest.slice(1).replace(/^\s*/, "");
      let value = "";
      if (s.startsWith('"')) {
        let i = 1;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        s = s.slice(i + 1);
      } else {
        value = /^[^,\s]*/.exec(s)![0];
        s = s.slice(value.length);
      }
      current.params[word.toLowerCase()] = value;
      skipSpace();
      continue;
    }
    // A new challenge scheme.
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
    s = rest;
    skipSpace();
  }
  return challenges;
}
