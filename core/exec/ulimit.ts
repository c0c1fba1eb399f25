/**
 * Resource limits of a RUN step (`--ulimit name=soft[:hard]`), with docker's names and
 * rules (go-units `ParseUlimit`): the limit names, soft not above hard, -1 for unlimited.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { Ulimit } from "../build_graph.ts";

/** docker's `--ulimit` names and the `RLIMIT_*` resource each sets. */
export const ULIMIT_RESOURCES: Readonly<Record<string, string>> = {
  core: "RLIMIT_CORE",
  cpu: "RLIMIT_CPU",
  data: "RLIMIT_DATA",
  fsize: "RLIMIT_FSIZE",
  locks: "RLIMIT_LOCKS",
  memlock: "RLIMIT_MEMLOCK",
  msgqueue: "RLIMIT_MSGQUEUE",
  nice: "RLIMIT_NICE",
  nofile: "RLIMIT_NOFILE",
  nproc: "RLIMIT_NPROC",
  rss: "RLIMIT_RSS",
  rtprio: "RLIMIT_RTPRIO",
  rttime: "RLIMIT_RTTIME",
  sigpending: "RLIMIT_SIGPENDING",
  stack: "RLIMIT_STACK",
};

function limitValue(text: string, spec: string): number {
  if (!/^-?\d+$/.test(text)) {
    throw new ImgError(`Invalid --ulimit "${spec}": limits are whole numbers (-1: unlimited)`);
  }
  const n = Number(text);
  return n < 0 ? -1 : n;
}

/**
 * Parses `name=soft[:hard]` (the hard limit defaults to the soft one).
 *
 * @throws {ImgError} naming the option for an unknown name or a malformed limit.
 */
export function parseUlimit(spec: string): Ulimit {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new ImgError(`Invalid --ulimit "${spec}": use NAME=SOFT[:HARD]`);
  const name = spec.slice(0, eq);
  if (!(name in ULIMIT_RESOURCES)) {
    throw new ImgError(
      `Invalid --ulimit "${spec}": unknown limit "${name}", use one of ${
        Object.keys(ULIMIT_RESOURCES).join(", ")
      }`,
    );
  }
  const [softText, hardText, ...rest] = spec.slice(eq + 1).split(":");
  if (rest.length) throw new ImgError(`Invalid --ulimit "${spec}": use NAME=SOFT[:HARD]`);
  const soft = limitValue(softText, spec);
  const hard = hardText === undefined ? soft : limitValue(hardText, spec);
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw new ImgError(
      `Invalid --ulimit "${spec}": the soft limit must not be above the hard limit`,
    );
  }
  return { name, soft, hard };
}

/** The limits in the form `--ulimit` takes them, for a frontend option or a message. */
export function formatUlimit(u: Ulimit): string {
  return `${u.name}=${u.soft}:${u.hard}`;
}
