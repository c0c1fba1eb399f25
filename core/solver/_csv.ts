/**
 * One CSV record, as Go's `encoding/csv` reads the `--secret`, `--ssh` and `--mount`
 * values buildx and BuildKit take.
 *
 * @module
 */
import { ImgError } from "../errors.ts";

/**
 * Splits one CSV record into its fields; `"` quotes a field, `""` is a quote inside one.
 * `badQuote` makes the error for a quoted field that is not closed by a quote and a comma.
 */
export function splitCSVRecord(
  s: string,
  badQuote: (s: string) => Error = badQuoteError,
): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw badQuote(s);
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
      if (i < s.length && s[i] !== ",") throw badQuote(s);
    } else {
      while (i < s.length && s[i] !== ",") field += s[i++];
    }
    fields.push(field);
    if (i >= s.length) return fields;
    i++;
  }
}

function badQuoteError(s: string): ImgError {
  return new ImgError(`Invalid value "${s}": a quoted field is not closed by a quote and a comma`);
}
