/**
 * `img build --provenance` and `--sbom`, parsed as buildx parses them: a boolean
 * (`true`/`false`, `1`/`0`), or `key=value` pairs (`mode=max,builder-id=URL`,
 * `generator=IMAGE`). What img cannot honour is refused with one line naming it, and so is an
 * output that cannot hold attestations.
 *
 * img attaches attestations only when asked: buildx adds a `mode=min` provenance by default to
 * pushed images, which would turn every pushed manifest into an index and change its digest.
 *
 * @module
 */
import { ImgError } from "@img/core";
import { type AttestationRequest, attestationsNotHeld } from "@img/core/attest";
import { splitCsv } from "./_outputs.ts";
import type { OutputSpec } from "./_outputs.ts";

const TRUE = ["1", "t", "true"];
const FALSE = ["0", "f", "false"];

/** The `key=value` pairs of a flag that is not a boolean, or the boolean. */
function parseValue(flag: string, value: string): boolean | Record<string, string> {
  const v = value.trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  const attrs: Record<string, string> = {};
  for (const field of splitCsv(value)) {
    const eq = field.indexOf("=");
    if (eq <= 0) {
      throw new ImgError(`Invalid ${flag} "${value}": use true, false or KEY=VALUE,...`);
    }
    attrs[field.slice(0, eq).trim().toLowerCase()] = field.slice(eq + 1).trim();
  }
  if ("disabled" in attrs) {
    const d = attrs.disabled.toLowerCase();
    if (!TRUE.includes(d) && !FALSE.includes(d)) {
      throw new ImgError(`Invalid ${flag} disabled="${attrs.disabled}": use true or false`);
    }
    if (TRUE.includes(d)) return false;
    delete attrs.disabled;
  }
  return attrs;
}

function unknownKeys(flag: string, attrs: Record<string, string>, known: string[]): void {
  for (const key of Object.keys(attrs)) {
    if (!known.includes(key)) {
      throw new ImgError(`Unknown ${flag} option "${key}": use ${known.join(", ")}`);
    }
  }
}

/**
 * Parses `--provenance` and `--sbom` into what the build attaches, or `undefined` when
 * neither asks for anything.
 *
 * @throws {ImgError} for an invalid value or an option img cannot honour, naming it.
 */
export function parseAttestFlags(
  provenance: string | undefined,
  sbom: string | undefined,
): AttestationRequest | undefined {
  const request: AttestationRequest = {};
  if (provenance !== undefined) {
    const p = parseValue("--provenance", provenance);
    if (p === true) request.provenance = { mode: "min" };
    else if (p !== false) {
      unknownKeys("--provenance", p, ["mode", "builder-id", "version"]);
      const mode = p.mode ?? "min";
      if (mode !== "min" && mode !== "max") {
        throw new ImgError(`Invalid --provenance mode "${mode}": use mode=min or mode=max`);
      }
      if (p.version !== undefined && p.version !== "v0.2") {
        throw new ImgError(
          `--provenance version=${p.version} is not supported yet: img writes SLSA provenance v0.2 (version=v0.2)`,
        );
      }
      request.provenance = { mode, ...(p["builder-id"] ? { builderId: p["builder-id"] } : {}) };
    }
  }
  if (sbom !== undefined) {
    const s = parseValue("--sbom", sbom);
    if (s !== false && s !== true && s.generator !== undefined) {
      throw new ImgError(
        `--sbom generator=${s.generator} cannot run: img has no BuildKit to run a scanner image in; use --sbom=true for img's own SPDX SBOM (dpkg and apk packages)`,
      );
    }
    if (s !== false && s !== true) unknownKeys("--sbom", s, ["generator"]);
    if (s !== false) request.sbom = true;
  }
  return request.provenance || request.sbom ? request : undefined;
}

/**
 * Refuses outputs that cannot hold the attestations asked for: a `docker` archive has no
 * image index (buildx refuses it too), and `local` and `tar` write files only.
 *
 * @throws {ImgError} naming the output type.
 */
export function refuseUnattestedOutputs(
  request: AttestationRequest | undefined,
  outputs: readonly OutputSpec[],
): void {
  if (!request) return;
  for (const o of outputs) {
    if (o.type === "docker") {
      throw attestationsNotHeld(o.type, "a docker archive has no image index");
    }
    if (o.type === "local" || o.type === "tar") {
      throw attestationsNotHeld(
        o.type,
        "it writes files only, img writes no attestation files yet",
      );
    }
  }
}

/**
 * The provenance's config source of a git context: the URL as given, without credentials (a
 * token in an `https://user:token@host/...` URL never reaches the attestation), and the commit.
 */
export function gitConfigSource(
  url: string,
  commit: string,
): { uri: string; digest: Record<string, string> } {
  let uri = url;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*@)?(.*)$/i.exec(url);
  if (m && m[2]) uri = `${m[1]}${m[3]}`;
  return { uri, digest: { sha1: commit } };
}
