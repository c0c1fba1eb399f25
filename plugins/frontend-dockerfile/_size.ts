/**
 * Sizes as docker's `units.RAMInBytes` reads them.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";

/** Parses a size like docker's `units.RAMInBytes` (`64m`, `1g`, `1024`); binary units. */
export function parseRAMInBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new InstructionError(`invalid size: '${value}'`);
  const mult: Record<string, number> = {
    "": 1,
    k: 2 ** 10,
    m: 2 ** 20,
    g: 2 ** 30,
    t: 2 ** 40,
    p: 2 ** 50,
  };
  return Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
}
