/**
 * Go durations (`30s`, `1m30s`), as HEALTHCHECK's options take them.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";
import { goQuote } from "./shell_lex.ts";

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a Go duration (`30s`, `1m30s`, `1.5h`, `500ms`) into nanoseconds.
 *
 * @throws {InstructionError} when `s` is not a duration.
 */
export function parseDuration(s: string): number {
  const orig = s;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new InstructionError(`time: invalid duration ${goQuote(orig)}`);
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) {
      throw new InstructionError(
        /^(\d+(?:\.\d*)?|\.\d+)$/.test(s)
          ? `time: missing unit in duration ${goQuote(orig)}`
          : `time: invalid duration ${goQuote(orig)}`,
      );
    }
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}
