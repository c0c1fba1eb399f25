/**
 * The `--cache-from` and `--cache-to` attributes, as buildx takes them
 * (`type=registry,ref=REG/REPO:TAG,mode=max`), checked before anything is built.
 *
 * @module
 */
import { ImgError } from "../errors.ts";
import type { LayerCompression } from "../media_types.ts";
import { parseReference, type Reference } from "../reference.ts";

/** Where a cache is imported from. */
export type CacheImportSpec =
  | { type: "registry"; ref: Reference }
  | { type: "local"; src: string; tag: string };

/** Where a cache is exported to, and what it holds. */
export type CacheExportSpec =
  & (
    | { type: "registry"; ref: Reference }
    | { type: "local"; dest: string; tag: string }
    // The records of the final stage in the exported image's own config.
    | { type: "inline" }
  )
  & {
    /** `min`: the steps of the exported image's stage; `max`: every step built. */
    mode: "min" | "max";
    /** The compression of the layers made for the cache. */
    compression: LayerCompression;
    /** Whether a failed export is only a warning. */
    ignoreError: boolean;
  };

const COMPRESSIONS: readonly LayerCompression[] = ["gzip", "zstd", "uncompressed"];

function unknownType(type: string, flag: string): ImgError {
  if (type === "inline") {
    return new ImgError(
      "--cache-from type=inline does not exist: give the image, type=registry,ref=REG/APP:TAG",
    );
  }
  return new ImgError(`Unknown cache type "${type}" for ${flag}: use type=registry or type=local`);
}

function refuseUnknown(attrs: Record<string, string>, known: string[], what: string): void {
  for (const k of Object.keys(attrs)) {
    if (!known.includes(k)) {
      throw new ImgError(
        `Unknown attribute "${k}" for ${what}: use ${known.map((n) => `${n}=`).join(", ")}`,
      );
    }
  }
}

function required(attrs: Record<string, string>, name: string, what: string): string {
  const v = attrs[name];
  if (!v) throw new ImgError(`Missing ${name}= for ${what}: give ${name}=...`);
  return v;
}

function bool(value: string | undefined, name: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (value === "true" || value === "") return true;
  if (value === "false") return false;
  throw new ImgError(`Invalid ${name}="${value}": use true or false`);
}

/** Checks the attributes of one `--cache-from`. */
export function parseCacheImport(type: string, attrs: Record<string, string>): CacheImportSpec {
  if (type === "registry") {
    refuseUnknown(attrs, ["ref"], "--cache-from type=registry");
    return { type, ref: parseReference(required(attrs, "ref", "--cache-from type=registry")) };
  }
  if (type === "local") {
    refuseUnknown(attrs, ["src", "tag"], "--cache-from type=local");
    return {
      type,
      src: required(attrs, "src", "--cache-from type=local"),
      tag: attrs.tag ?? "latest",
    };
  }
  throw unknownType(type, "--cache-from");
}

/** Checks the attributes of one `--cache-to`. */
export function parseCacheExport(type: string, attrs: Record<string, string>): CacheExportSpec {
  const common = ["mode", "compression", "oci-mediatypes", "ignore-error"];
  const what = `--cache-to type=${type}`;
  let target:
    | { type: "registry"; ref: Reference }
    | { type: "local"; dest: string; tag: string }
    | { type: "inline" };
  if (type === "inline") {
    refuseUnknown(attrs, ["mode"], what);
    if (attrs.mode !== undefined && attrs.mode !== "min") {
      throw new ImgError(
        `Invalid mode="${attrs.mode}" for ${what}: an inline cache holds mode=min only; use type=registry for mode=max`,
      );
    }
    target = { type };
  } else if (type === "registry") {
    refuseUnknown(attrs, ["ref", ...common], what);
    target = { type, ref: parseReference(required(attrs, "ref", what)) };
  } else if (type === "local") {
    refuseUnknown(attrs, ["dest", "tag", ...common], what);
    target = { type, dest: required(attrs, "dest", what), tag: attrs.tag ?? "latest" };
  } else {
    throw unknownType(type, "--cache-to");
  }
  const mode = attrs.mode ?? "min";
  if (mode !== "min" && mode !== "max") {
    throw new ImgError(`Invalid mode="${mode}" for ${what}: use mode=min or mode=max`);
  }
  const compression = (attrs.compression ?? "gzip") as LayerCompression;
  if (!COMPRESSIONS.includes(compression)) {
    throw new ImgError(
      `Invalid compression="${attrs.compression}" for ${what}: use ${COMPRESSIONS.join(", ")}`,
    );
  }
  if (!bool(attrs["oci-mediatypes"], "oci-mediatypes", true)) {
    throw new ImgError(
      `oci-mediatypes=false is not supported for ${what}: the cache is an OCI artifact; drop the attribute`,
    );
  }
  return {
    ...target,
    mode,
    compression,
    ignoreError: bool(attrs["ignore-error"], "ignore-error", false),
  };
}
