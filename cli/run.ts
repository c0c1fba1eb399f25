/**
 * The full `img` command line (commander, every command), which `main.ts` loads when the
 * fast path of a rebuild does not answer.
 *
 * @module
 */
import { CommanderError } from "commander";
import { ImgError } from "@img/core/errors";
import { span } from "@img/core/trace";
import { createProgram } from "./program.ts";

/** Runs img with `args` and returns its exit code. */
export async function runCli(args: string[]): Promise<number> {
  span("full CLI loaded").end();
  const program = createProgram();
  const debug = args.includes("-d") || args.includes("--debug");
  const all = (c: typeof program): (typeof program)[] => [
    c,
    ...(c.commands as (typeof program)[]).flatMap(all),
  ];
  for (const cmd of all(program)) {
    cmd.exitOverride();
    cmd.configureOutput({
      outputError: (str, write) => write(str.replace(/^error: /, "img: ")),
    });
  }
  try {
    using _trace = span("command");
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof ImgError) {
      console.error(`img: ${e.message}`);
      if (debug && e.cause) console.error(e.cause);
    } else if (e instanceof Error) {
      console.error(`img: ${e.message.split("\n")[0]}`);
      if (debug) console.error(e.stack);
    } else {
      console.error(`img: ${String(e)}`);
    }
    return 1;
  }
}
