/**
 * `COPY --chmod` values: octal (`0755`, up to `07777`) or, as BuildKit 0.14+ accepts,
 * symbolic like chmod(1) (`u+x`, `go-w`, `a=rX`, `u=rwx,g=u`).
 *
 * @module
 */
import { ImgError } from "../errors.ts";

/** Computes the new permission bits (`0o7777`) of an entry from its current ones. */
export type ModeChange = (mode: number, isDir: boolean) => number;

const OCTAL = /^[0-7]+$/;
const CLAUSE = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/;

/** Bits each class of user owns. */
const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007 };

/** Parses a `--chmod` value; a malformed one is an ImgError with BuildKit's wording. */
export function parseChmod(spec: string): ModeChange {
  if (OCTAL.test(spec)) {
    const mode = parseInt(spec, 8);
    if (mode > 0o7777) throw invalid(spec);
    return () => mode;
  }
  if (/^\d+$/.test(spec)) throw invalid(spec);
  const clauses = spec.split(",").map((clause) => {
    const m = CLAUSE.exec(clause);
    if (!m) {
      throw new ImgError(
        `Invalid --chmod value "${spec}": use octal (0755) or chmod's symbolic form (u+x,go-w)`,
      );
    }
    const who = m[1] === "" || m[1].includes("a") ? "ugo" : m[1];
    const ops = [...m[2].matchAll(/([-+=])([rwxXst]*|[ugo])/g)].map((o) => ({
      op: o[1],
      perms: o[2],
    }));
    return { who, ops };
  });
  return (mode, isDir) => {
    for (const { who, ops } of clauses) {
      let mask = 0;
      for (const w of who) mask |= WHO_BITS[w];
      for (const { op, perms } of ops) {
        let bits = 0;
        for (const p of perms) {
          switch (p) {
            case "r":
              bits |= 0o444;
              break;
            case "w":
              bits |= 0o222;
              break;
            case "x":
              bits |= 0o111;
              break;
            case "X":
              if (isDir || (mode & 0o111) !== 0) bits |= 0o111;
              break;
            case "s":
              bits |= 0o6000;
              break;
            case "t":
              bits |= 0o1000;
              break;
            case "u":
              bits |= ((mode >> 6) & 7) * 0o111;
              break;
            case "g":
              bits |= ((mode >> 3) & 7) * 0o111;
              break;
            case "o":
              bits |= (mode & 7) * 0o111;
              break;
          }
        }
        bits &= mask;
        if (op === "+") mode |= bits;
        else if (op === "-") mode &= ~bits;
        else mode = (mode & ~mask) | bits;
      }
    }
    return mode & 0o7777;
  };
}

function invalid(spec: string): ImgError {
  return new ImgError(
    `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`,
  );
}
