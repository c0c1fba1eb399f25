/**
 * Parsing `-o/--output` as buildx does: CSV `key=value` pairs with quotes allowed, `-` for a
 * tar on stdout and a bare path for `type=local,dest=PATH`.
 *
 * @module
 */
import { ImgError } from "@img/core";

/** One output: the exporter type and its attributes. */
export interface OutputSpec {
  /** The exporter name (`image`, `oci`, `local`, ...). */
  type: string;
  /** The attributes, `type` excluded. */
  attrs: Record<string, string>;
}

/** Splits a CSV line as Go's encoding/csv does: commas separate, double quotes group. */
export function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      fields.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quoted) throw new ImgError(`Invalid output "${line}": unterminated quote`);
  fields.push(cur);
  return fields;
}

/** Parses one `--output` value. */
export function parseOutput(spec: string): OutputSpec {
  if (spec === "-") return { type: "tar", attrs: {} };
  if (!spec.includes("=")) return { type: "local", attrs: { dest: spec } };
  const attrs: Record<string, string> = {};
  for (const field of splitCsv(spec)) {
    const eq = field.indexOf("=");
    if (eq <= 0) throw new ImgError(`Invalid output "${spec}": "${field}" is not key=value`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    attrs[key] = key in attrs ? `${attrs[key]},${value}` : value;
  }
  const type = attrs.type;
  if (!type) throw new ImgError(`Invalid output "${spec}": type= is required (e.g. type=image)`);
  delete attrs.type;
  return { type, attrs };
}

/**
 * The outputs of a build: every `--output`, with the `-t` names added to the image output
 * (which is made when there are names and no other output, as docker does).
 */
export function parseOutputs(outputs: string[], tags: string[]): OutputSpec[] {
  const specs = outputs.map(parseOutput);
  const image = specs.find((s) => s.type === "image");
  if (image) {
    const names = [...(image.attrs.name ? image.attrs.name.split(",") : []), ...tags];
    if (names.length) image.attrs.name = names.join(",");
  } else if (specs.length === 0) {
    specs.push({ type: "image", attrs: tags.length ? { name: tags.join(",") } : {} });
  } else if (tags.length) {
    specs.push({ type: "image", attrs: { name: tags.join(",") } });
  }
  return specs;
}
