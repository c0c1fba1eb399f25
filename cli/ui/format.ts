/**
 * docker's `--format` for listings: `table` (the default columns), `json` (one object a
 * line), `table TEMPLATE` (a header, then one row per item) and a Go template whose
 * `{{.Field}}` actions name the item's fields (`{{.Repository}}:{{.Tag}}`).
 *
 * @module
 */
import { ImgError } from "@img/core";
import { formatTable } from "./table.ts";

/** One listed item: the template field names and their display values. */
export type FormatFields = Record<string, string>;

const ACTION = /\{\{\s*(?:json\s+)?\.([A-Za-z]*)\s*\}\}/g;

/** Renders one Go-template line for `item` (`\t` and `\n` escapes as docker reads them). */
export function renderTemplate(template: string, item: FormatFields): string {
  const unknown = [...template.matchAll(ACTION)].map((m) => m[1]).find((f) =>
    f !== "" && !(f in item)
  );
  if (unknown !== undefined) {
    throw new ImgError(
      `Invalid --format: the field .${unknown} does not exist; use ${
        Object.keys(item).map((k) => `.${k}`).join(", ")
      }`,
    );
  }
  return template.replace(/\\t/g, "\t").replace(/\\n/g, "\n").replace(
    ACTION,
    (whole, field: string) =>
      field === "" || whole.includes("json")
        ? JSON.stringify(field ? item[field] : item)
        : item[field],
  );
}

/**
 * Formats a listing. `defaultColumns` are the `table` columns (header and field name each);
 * `headers` names the header of each field for `table TEMPLATE`.
 *
 * @throws {ImgError} on a template naming an unknown field.
 */
export function formatListing(
  format: string | undefined,
  items: FormatFields[],
  defaultColumns: [header: string, field: string][],
  headers: Record<string, string>,
): string {
  const spec = (format ?? "table").trim();
  if (spec === "json") return items.map((i) => JSON.stringify(i) + "\n").join("");
  if (spec === "table") {
    return formatTable([
      defaultColumns.map(([h]) => h),
      ...items.map((i) => defaultColumns.map(([, f]) => i[f])),
    ]);
  }
  if (spec.startsWith("table ")) {
    const template = spec.slice(6);
    const header = template.replace(/\\t/g, "\t").replace(
      ACTION,
      (_w, field: string) => headers[field] ?? field.toUpperCase(),
    );
    const lines = items.map((i) => renderTemplate(template, i));
    if (items.length) renderTemplate(template, items[0]); // unknown fields fail even when empty
    const rows = [header, ...lines].map((l) => l.split("\t"));
    return formatTable(rows);
  }
  return items.map((i) => renderTemplate(spec, i) + "\n").join("");
}
