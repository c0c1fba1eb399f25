/**
 * Argument helpers shared by the instruction parsers: BuildKit's argument-count errors and
 * its `handleJSONArgs`.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";

/** Exec form keeps the JSON array; shell form joins the words into one command. */
export function handleJSONArgs(args: string[], json: boolean): string[] {
  if (args.length === 0) return [];
  if (json) return args;
  return [args.join(" ")];
}

/** `X requires at least one argument`. */
export const errAtLeastOneArgument = (c: string) =>
  new InstructionError(`${c} requires at least one argument`);
/** `X requires exactly one argument`. */
export const errExactlyOneArgument = (c: string) =>
  new InstructionError(`${c} requires exactly one argument`);
/** COPY/ADD with a single argument. */
export const errNoDestination = (c: string) =>
  new InstructionError(
    `${c} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );
/** An empty ENV/ARG/LABEL name. */
export const errBlankNames = (c: string) => new InstructionError(`${c} names can not be blank`);
