/**
 * docker's `--format` for listings: `table` (the default columns), `json` (one object a
 * line), `table TEMPLATE` (a header, then one row per item) and a Go template whose
 * `{{.Field}}` actions name the item's fields (`{{.Repository}}:{{.Tag}}`), or nested ones
 * by a dotted path (`{{.Client.Version}}`); `{{json .Field}}` prints a field as JSON.
 *
 * @module
 */
import { ImgError } from "@img/core";
import { formatTable } from "./table.ts";

/** One listed item: the template field names and their display values. */
export type FormatFields = Record<string, string>;

/**
 * What a template renders: fields whose values are strings, or nested data reached by a
 * dotted path (`{{.Client.Version}}`, as `docker version --format`).
 */
export interface TemplateData {
  [field: string]: unknown;
}

const ACTION = /\{\{\s*(?:json\s+)?\.((?:[A-Za-z]\w*)(?:\.[A-Za-z]\w*)*|)\s*\}\}/g;

/** The value a dotted `path` names in `item`; when there is none, the fields there are. */
function lookup(
  item: TemplateData,
  path: string,
): { found: true; value: unknown } | { found: false; fields: string[] } {
  let value: unknown = item;
  const walked: string[] = [];
  for (const key of path.split(".")) {
    const here = value !== null && typeof value === "object" && !Array.isArray(value)
      ? value as TemplateData
      : undefined;
    if (!here || !(key in here)) {
      const level = here ?? item;
      const prefix = here ? walked : [];
      return {
        found: false,
        fields: Object.keys(level).map((k) => `.${[...prefix, k].join(".")}`),
      };
    }
    walked.push(key);
    value = here[key];
  }
  return { found: true, value };
}

/** A value as Go's template prints it: strings as they are, nothing as `<no value>`. */
function show(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "<no value>";
  return JSON.stringify(value);
}

/** Renders one Go-template line for `item` (`\t` and `\n` escapes as docker reads them). */
export function renderTemplate(template: string, item: TemplateData): string {
  for (const m of template.matchAll(ACTION)) {
    if (m[1] === "") continue;
    const found = lookup(item, m[1]);
    if (!found.found) {
      throw new ImgError(
        `Invalid --format: the field .${m[1]} does not exist; use ${found.fields.join(", ")}`,
      );
    }
  }
  return template.replace(/\\t/g, "\t").replace(/\\n/g, "\n").replace(
    ACTION,
    (whole, field: string) => {
      const found = field === "" ? { found: true, value: item } : lookup(item, field);
      const value = found.found ? found.value : undefined;
      return whole.includes("json") ? JSON.stringify(value) ?? "null" : show(value);
    },
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
