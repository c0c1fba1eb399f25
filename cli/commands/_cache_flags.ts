/**
 * Parsing `--cache-from` and `--cache-to` as buildx does: CSV `key=value` pairs
 * (`type=registry,ref=REG/REPO:TAG,mode=max`), a bare reference meaning `type=registry,ref=`,
 * and `type=registry` when no type is given.
 *
 * @module
 */
import { ImgError } from "@img/core";
import {
  type CacheExportSpec,
  type CacheImportSpec,
  parseCacheExport,
  parseCacheImport,
} from "@img/core/cache";
import { splitCsv } from "./_outputs.ts";

function attributes(spec: string, flag: string): { type: string; attrs: Record<string, string> } {
  if (!spec.includes("=")) return { type: "registry", attrs: { ref: spec } };
  const attrs: Record<string, string> = {};
  for (const field of splitCsv(spec)) {
    const eq = field.indexOf("=");
    if (eq <= 0) throw new ImgError(`Invalid ${flag} "${spec}": "${field}" is not key=value`);
    attrs[field.slice(0, eq).trim().toLowerCase()] = field.slice(eq + 1);
  }
  const type = attrs.type ?? "registry";
  delete attrs.type;
  return { type, attrs };
}

/** Parses every `--cache-from` value; an unknown type or attribute is refused. */
export function parseCacheFrom(values: string[]): CacheImportSpec[] {
  return values.map((v) => {
    const { type, attrs } = attributes(v, "--cache-from");
    return parseCacheImport(type, attrs);
  });
}

/** Parses every `--cache-to` value; an unknown type or attribute is refused. */
export function parseCacheTo(values: string[]): CacheExportSpec[] {
  return values.map((v) => {
    const { type, attrs } = attributes(v, "--cache-to");
    return parseCacheExport(type, attrs);
  });
}

/** The build argument buildx turns into `--cache-to type=inline`. */
export const INLINE_CACHE_BUILD_ARG = "BUILDKIT_INLINE_CACHE";

/**
 * `--build-arg BUILDKIT_INLINE_CACHE=1` as buildx reads it: when the value is true (Go's
 * `strconv.ParseBool`: `1`, `t`, `true`, ...), the build also exports an inline cache
 * (`--cache-to type=inline`), unless one is already asked for.
 */
export function withInlineCacheArg(
  cacheTo: CacheExportSpec[],
  buildArgs: Record<string, string>,
): CacheExportSpec[] {
  const value = buildArgs[INLINE_CACHE_BUILD_ARG];
  if (value === undefined || !/^(1|t|true)$/i.test(value.trim())) return cacheTo;
  if (cacheTo.some((s) => s.type === "inline")) return cacheTo;
  return [...cacheTo, parseCacheExport("inline", {})];
}
