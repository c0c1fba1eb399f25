/**
 * Small helpers for commander options.
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";

/** Collects a repeatable option's values into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The `--insecure-registry <host>` option (repeatable) of the commands that talk to registries. */
export type InsecureRegistryOption = Option<
  "--insecure-registry <host>",
  undefined,
  string[],
  string[],
  false,
  undefined
>;

/**
 * `--insecure-registry <host>`, repeatable: registries spoken to over plain HTTP. Its value
 * is `opts.insecureRegistry`, a list (empty by default).
 */
export function insecureRegistryOption(): InsecureRegistryOption {
  return new Option("--insecure-registry <host>", "allow plain HTTP to this registry (repeatable)")
    .argParser(collect)
    .default([] as string[]);
}
