/**
 * Small helpers for commander options.
 *
 * @module
 */

/** Collects a repeatable option's values into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
