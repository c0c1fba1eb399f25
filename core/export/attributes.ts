/**
 * Validating an exporter's `--output` attributes with zod: unknown keys are refused with the
 * list of the keys the exporter knows, and each value is checked with a message that names
 * the key. (The CLI puts the exporter's name before every error an exporter throws.)
 *
 * ```ts
 * import * as z from "zod";
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
import * as z from "../_zod.ts";
import { ImgError } from "../errors.ts";
import { formatReference, parseReference } from "../reference.ts";

/** Options of {@linkcode parseExporterAttributes}. */
export interface ExporterAttributeOptions {
  /** Key prefixes accepted besides the schema's keys (`annotation.`), passed through as they are. */
  prefixes?: readonly string[];
}

/**
 * The schema of a boolean attribute ({@linkcode booleanAttribute}), to put in a
 * `z.object({...})`: it reads a string or nothing and gives a boolean. Only the type
 * information zod infers from is spelled out here; the value is a zod schema.
 */
export interface BooleanAttribute {
  /** zod's type information: the input and output types of the schema. */
  readonly _zod: {
    /** What the attribute parses to. */
    readonly output: boolean;
    /** What it reads. */
    readonly input: string | undefined;
  };
}

/**
 * A schema an exporter's attributes are validated with: a zod object schema
 * (`z.object({...})`) is one.
 */
export interface AttributeSchema<T> {
  /** The attributes the schema knows, by key. */
  readonly shape: Readonly<Record<string, unknown>>;
  /** Validates `input` without throwing. */
  safeParse(input: unknown): AttributeParseResult<T>;
}

/** The outcome of {@linkcode AttributeSchema.safeParse}. */
export type AttributeParseResult<T> =
  | { success: true; data: T }
  | {
    success: false;
    error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
  };

/**
 * A boolean attribute as BuildKit reads one: `true`, `false`, or empty (`tar=` or a bare key),
 * which means true; absent means `fallback`.
 *
 * @example
 * ```ts
 * import * as z from "zod";
 * import { booleanAttribute, parseExporterAttributes } from "@img/core";
 *
 * const schema = z.object({ tar: booleanAttribute(true) });
 * console.assert(parseExporterAttributes({ tar: "false" }, schema).tar === false);
 * console.assert(parseExporterAttributes({}, schema).tar === true);
 * ```
 */
export function booleanAttribute(fallback: boolean): BooleanAttribute {
  return z.pipe(
    z.optional(z.string()),
    z.transform((value: string | undefined, ctx) => {
      if (value === undefined) return fallback;
      if (value === "" || value === "true") return true;
      if (value === "false") return false;
      ctx.issues.push({ code: "custom", message: "use true or false", input: value });
      return z.NEVER;
    }),
  );
}

/**
 * Validates `attrs` (the `--output` key=values, `type` excluded or ignored) against the
 * object schema `schema` and returns the parsed values.
 *
 * @throws {ImgError} `Unknown attribute "x": use a=, b=` for a key the schema does not have
 *   (and no prefix allows), or `Invalid value "v" for key=: <what the schema says>` for a
 *   value it refuses.
 */
export function parseExporterAttributes<T>(
  attrs: Record<string, string>,
  schema: AttributeSchema<T>,
  options: ExporterAttributeOptions = {},
): T {
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
