/**
 * The `docker buildx build` flags of `img build`, with buildx's names and meanings: what
 * img does with each, and a one-line refusal naming the option for those it cannot honour
 * yet (never parsed and ignored).
 *
 * @module
 */
import { type ExportResponse, ImgError } from "@img/core";
import { formatUlimit, parseExtraHost, parseUlimit } from "@img/core/exec";
import type { OutputSpec } from "./_outputs.ts";
import { parseSize } from "../ui/units.ts";

/** The buildx flags as commander parses them. */
export interface BuildxFlags {
  /** `--check`: evaluate the build checks, do not build. */
  check?: boolean;
  /** `--iidfile FILE`: write the image ID there. */
  iidfile?: string;
  /** `-q/--quiet`: no progress; print the image ID. */
  quiet?: boolean;
  /** `--metadata-file FILE`: the exporters' responses as JSON. */
  metadataFile?: string;
  /** `--push`: `-o type=image,push=true`. */
  push?: boolean;
  /** `--load`: `-o type=image`. */
  load?: boolean;
  /** `--no-cache-filter STAGE` (repeatable). */
  noCacheFilter: string[];
  /** `--annotation [TYPE:]KEY=VALUE` (repeatable). */
  annotation: string[];
  /** `--network MODE` for RUN steps. */
  network?: string;
  /** `--allow ENTITLEMENT` (repeatable). */
  allow: string[];
  /** `--add-host HOST:IP` (repeatable; IP may be `host-gateway`). */
  addHost: string[];
  /** `--shm-size SIZE`: the size of RUN steps' `/dev/shm` (`64m`, bytes without a unit). */
  shmSize?: string;
  /** `--ulimit NAME=SOFT[:HARD]` (repeatable). */
  ulimit: string[];
  /** `--provenance`: parsed by `_attest_flags.ts`. */
  provenance?: string;
  /** `--sbom`: parsed by `_attest_flags.ts`. */
  sbom?: string;
  /** `--build-context NAME=VALUE` (repeatable; see `_build_contexts.ts`). */
  buildContext: string[];
}

const ENTITLEMENTS = ["network.host", "security.insecure"];
const ANNOTATION_TYPES = ["manifest", "index", "manifest-descriptor", "index-descriptor"];

/**
 * Refuses the flags img cannot honour yet, each with one line naming it.
 *
 * @throws {ImgError} for the first such flag given.
 */
export function refuseUnsupported(f: BuildxFlags): void {
  for (const h of f.addHost) parseExtraHost(h);
  for (const u of f.ulimit) parseUlimit(u);
  if (f.shmSize !== undefined) shmBytes(f.shmSize);
  for (const e of f.allow) {
    if (!ENTITLEMENTS.includes(e)) {
      throw new ImgError(`Invalid --allow "${e}": use ${ENTITLEMENTS.join(" or ")}`);
    }
  }
  if (f.network !== undefined && !["default", "none", "host"].includes(f.network)) {
    throw new ImgError(`Invalid --network "${f.network}": use default, none or host`);
  }
  if (f.check && (f.push || f.iidfile || f.metadataFile)) {
    throw new ImgError("--check builds nothing: drop --push, --iidfile and --metadata-file");
  }
}

/** Applies `--push`, `--load` and `--annotation` to the outputs. */
export function applyOutputFlags(specs: OutputSpec[], f: BuildxFlags): OutputSpec[] {
  let image = specs.find((s) => s.type === "image");
  if ((f.push || f.load) && !image) {
    image = { type: "image", attrs: {} };
    specs.push(image);
  }
  if (f.push && image) image.attrs.push = "true";
  for (const a of f.annotation) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new ImgError(`Invalid --annotation "${a}": use [TYPE:]KEY=VALUE`);
    let key = a.slice(0, eq);
    let type = "";
    const colon = key.indexOf(":");
    if (colon >= 0 && ANNOTATION_TYPES.includes(key.slice(0, colon))) {
      type = key.slice(0, colon);
      key = key.slice(colon + 1);
    }
    for (const s of specs) {
      if (!["image", "oci", "docker"].includes(s.type)) continue;
      s.attrs[`annotation${type ? `-${type}` : ""}.${key}`] = a.slice(eq + 1);
    }
  }
  return specs;
}

/** `--shm-size` in bytes (docker's `MemBytes`: binary units). */
function shmBytes(value: string): number {
  let bytes: number;
  try {
    bytes = parseSize(value);
  } catch {
    throw new ImgError(`Invalid --shm-size "${value}": use a size such as 64m or 1g`);
  }
  if (bytes <= 0) throw new ImgError(`Invalid --shm-size "${value}": it must be above 0`);
  return bytes;
}

/**
 * The frontend options (BuildKit's names, as buildx sends them) of `--no-cache-filter`,
 * `--network`, `--allow`, `--add-host` (`add-hosts`: `host=ip,...`), `--shm-size` (bytes)
 * and `--ulimit`.
 */
export function frontendFlagOptions(f: BuildxFlags): Record<string, string> {
  const o: Record<string, string> = {};
  if (f.noCacheFilter.length) o["no-cache"] = f.noCacheFilter.join(",");
  if (f.network === "none" || f.network === "host") o["force-network-mode"] = f.network;
  // As buildx: `--network host` asks for the network.host entitlement itself (docker's own
  // builder grants it; img, its own daemon, too).
  const allow = f.network === "host" && !f.allow.includes("network.host")
    ? [...f.allow, "network.host"]
    : f.allow;
  if (allow.length) o.allow = allow.join(",");
  if (f.addHost.length) {
    o["add-hosts"] = f.addHost.map((h) => {
      const { host, ip } = parseExtraHost(h);
      return `${host}=${ip}`;
    }).join(",");
  }
  if (f.shmSize !== undefined) o["shm-size"] = String(shmBytes(f.shmSize));
  if (f.ulimit.length) o.ulimit = f.ulimit.map((u) => formatUlimit(parseUlimit(u))).join(",");
  return o;
}

/** The image ID as buildx prints it: the config digest, else the manifest digest. */
export function imageId(responses: ExportResponse[]): string | undefined {
  const r = responses.find((r) => r["containerimage.config.digest"]) ??
    responses.find((r) => r["containerimage.digest"]);
  return r?.["containerimage.config.digest"] ?? r?.["containerimage.digest"];
}

/** Writes `--iidfile` and `--metadata-file` (buildx's keys) after a build. */
export async function writeBuildFiles(f: BuildxFlags, responses: ExportResponse[]): Promise<void> {
  const id = imageId(responses);
  if (f.iidfile) {
    if (!id) throw new ImgError("--iidfile needs an image output (-o type=image)");
    await Deno.writeTextFile(f.iidfile, id);
  }
  if (f.metadataFile) {
    const meta: Record<string, string> = {};
    for (const r of responses) {
      for (const key of ["containerimage.digest", "containerimage.config.digest", "image.name"]) {
        if (r[key] !== undefined) meta[key] = r[key];
      }
    }
    await Deno.writeTextFile(f.metadataFile, JSON.stringify(meta, null, 2) + "\n");
  }
}
