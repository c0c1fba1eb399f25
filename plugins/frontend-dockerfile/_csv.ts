/**
 * One CSV record, as Go's `encoding/csv` reads a `--mount` value.
 *
 * @module
 */
import { InstructionError } from "./errors.ts";

/** Splits one CSV record, as Go's `encoding/csv` reads a `--mount` value. */
export function splitCSV(s: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new InstructionError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          );
        }
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ",") {
        throw new InstructionError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        );
      }
    } else {
      while (i < s.length && s[i] !== ",") field += s[i++];
    }
    fields.push(field);
    if (i >= s.length) break;
    i++; // the comma
  }
  return fields;
}
