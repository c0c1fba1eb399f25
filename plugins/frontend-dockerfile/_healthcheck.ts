/**
 * `HEALTHCHECK` options and command, as BuildKit parses them.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";
import type { HealthConfig } from "./instructions.ts";
import type { Node } from "./parser.ts";
import { goQuote } from "./shell_lex.ts";
import type { BFlags } from "./_bflags.ts";
import { parseDuration } from "./duration.ts";
import { errAtLeastOneArgument, handleJSONArgs } from "./_args.ts";

/** Parses HEALTHCHECK's flags and arguments into the config the image stores. */
export function parseHealthcheck(node: Node, flags: BFlags, args: string[]): HealthConfig {
  if (args.length === 0) throw errAtLeastOneArgument("HEALTHCHECK");
  let typ = args[0].toUpperCase();
  const rest = args.slice(1);
  const health: HealthConfig = {
    test: [],
    interval: 0,
    timeout: 0,
    startPeriod: 0,
    startInterval: 0,
    retries: 0,
  };
  if (typ === "NONE") {
    if (rest.length !== 0) throw new InstructionError("HEALTHCHECK NONE takes no arguments");
    flags.parse();
    health.test = ["NONE"];
    return health;
  }
  const interval = flags.addString("interval");
  const timeout = flags.addString("timeout");
  const startPeriod = flags.addString("start-period");
  const startInterval = flags.addString("start-interval");
  const retries = flags.addString("retries");
  flags.parse();
  if (typ !== "CMD") {
    throw new InstructionError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
  }
  const cmd = handleJSONArgs(rest, node.json);
  if (cmd.length === 0) throw new InstructionError("Missing command after HEALTHCHECK CMD");
  if (!node.json) typ = "CMD-SHELL";
  health.test = [typ, ...cmd];
  health.interval = parseOptInterval("interval", interval.value);
  health.timeout = parseOptInterval("timeout", timeout.value);
  health.startPeriod = parseOptInterval("start-period", startPeriod.value);
  health.startInterval = parseOptInterval("start-interval", startInterval.value);
  if (retries.value !== "") {
    if (!/^[+-]?\d+$/.test(retries.value)) {
      throw new InstructionError(
        `strconv.ParseInt: parsing ${goQuote(retries.value)}: invalid syntax`,
      );
    }
    const n = Number.parseInt(retries.value, 10);
    if (n < 0) throw new InstructionError(`--retries cannot be negative (${n})`);
    health.retries = n;
  }
  return health;
}

function parseOptInterval(name: string, value: string): number {
  if (value === "") return 0;
  const d = parseDuration(value);
  if (d === 0) return 0;
  if (d < 1_000_000) {
    throw new InstructionError(`Interval ${goQuote(name)} cannot be less than 1ms`);
  }
  return d;
}
