/**
 * Human-readable sizes and durations, as docker's go-units formats them.
 *
 * @module
 */

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** Formats like Go's `%.4g`: four significant digits, no trailing zeros. */
function fourSignificant(n: number): string {
  return String(Number(n.toPrecision(4)));
}

function customSize(size: number, base: number, units: string[]): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${fourSignificant(size)}${units[i]}`;
}

/** Formats a byte count with binary units and four significant digits: `1.534KiB` (go-units `BytesSize`). */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 1024, BINARY_UNITS);
}

/** Formats a byte count with decimal units: `1.57kB` (go-units `HumanSize`). */
export function humanSize(bytes: number): string {
  return customSize(bytes, 1000, DECIMAL_UNITS);
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgtpezy]?)(i?)(b?)$/i;

/** Parses a size such as `10GB`, `512MiB`, `1.5g` or `1024` into bytes (go-units `RAMInBytes` rules: binary). */
export function parseSize(spec: string): number {
  const m = SIZE_RE.exec(spec.trim());
  if (!m) throw new Error(`Invalid size "${spec}": use a number with an optional unit, e.g. 10GB`);
  const power = "bkmgtpezy".indexOf((m[2] || "b").toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

/** Formats a duration as go-units `HumanDuration` does: `Less than a second`, `9 seconds`, `About a minute`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.round(seconds / 3600);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** Formats a past time relative to `now`: `9 seconds ago`. */
export function timeAgo(then: Date, now: Date = new Date()): string {
  return `${humanDuration(Math.max(0, now.getTime() - then.getTime()))} ago`;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration (`24h`, `1h30m`, `10s`) into milliseconds. */
export function parseDuration(spec: string): number {
  const s = spec.trim();
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (s === "" || end !== s.length) {
    throw new Error(`Invalid duration "${spec}": use a number with a unit, e.g. 24h or 90m`);
  }
  return total;
}
