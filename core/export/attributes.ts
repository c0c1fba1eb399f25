/**
 * Validating an exporter's `--output` attributes with zod: unknown keys are refused with the
 * list of the keys the exporter knows, and each value is checked with a message that names
 * the key. (The CLI puts the exporter's name before every error an exporter throws.)
 *
 * ```ts
 * import { z } from "zod";
 * import { booleanAttribute, parseExporterAttributes } from "@img/core";
 *
 * const attrs = parseExporterAttributes({ dest: "out.tar", tar: "false" }, z.object({
 *   dest: z.string().optional(),
 *   tar: booleanAttribute(true),
 * }));
 * // attrs.tar === false
 * ```
 *
 * @module
 */
import { z } from "zod";
import { ImgError } from "../errors.ts";
import { formatReference, parseReference } from "../reference.ts";

/** Options of {@linkcode parseExporterAttributes}. */
export interface ExporterAttributeOptions {
  /** Key prefixes accepted besides the schema's keys (`annotation.`), passed through as they are. */
  prefixes?: readonly string[];
}

/**
 * A boolean attribute as BuildKit reads one: `true`, `false`, or empty (`tar=` or a bare key),
 * which means true; absent means `fallback`.
 */
export function booleanAttribute(fallback: boolean): z.ZodType<boolean, string | undefined> {
  return z.string().optional().transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (value === "" || value === "true") return true;
    if (value === "false") return false;
    ctx.addIssue({ code: "custom", message: "use true or false" });
    return z.NEVER;
  });
}

/**
 * Validates `attrs` (the `--output` key=values, `type` excluded or ignored) against the
 * object schema `schema` and returns the parsed values.
 *
 * @throws {ImgError} `Unknown attribute "x": use a=, b=` for a key the schema does not have
 *   (and no prefix allows), or `Invalid value "v" for key=: <what the schema says>` for a
 *   value it refuses.
 */
export function parseExporterAttributes<T extends z.ZodObject>(
  attrs: Record<string, string>,
  schema: T,
  options: ExporterAttributeOptions = {},
): z.output<T> {
  const known = Object.keys(schema.shape);
  const prefixes = options.prefixes ?? [];
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "type") continue;
    if (known.includes(key)) {
      input[key] = value;
      continue;
    }
    if (prefixes.some((p) => key.startsWith(p))) continue;
    const valid = [...known.map((k) => `${k}=`), ...prefixes.map((p) => `${p}<key>=`)];
    throw new ImgError(
      `Unknown attribute "${key}": ${
        valid.length ? `use ${valid.join(", ")}` : "this exporter takes no attributes"
      }`,
    );
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0] ?? "");
    const value = input[key];
    throw new ImgError(
      value === undefined
        ? `Missing ${key}=: ${issue.message}`
        : `Invalid value "${value}" for ${key}=: ${issue.message}`,
    );
  }
  return parsed.data;
}

/**
 * The image names of a `name=a,b` attribute, normalized (`app` becomes
 * `docker.io/library/app:latest`); `fallback` (the `-t` names) when the attribute is absent.
 *
 * @throws {ImgError} for a name that is not a valid reference.
 */
export function imageNamesAttribute(
  value: string | undefined,
  fallback: readonly string[],
): string[] {
  const names = value === undefined
    ? [...fallback]
    : value.split(",").map((n) => n.trim()).filter(Boolean);
  return [...new Set(names.map((n) => formatReference(parseReference(n))))];
}
