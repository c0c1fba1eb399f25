/**
 * The `docker buildx build` flags of `img build`, with buildx's names and meanings: what
 * img does with each, and a one-line refusal naming the option for those it cannot honour
 * yet (never parsed and ignored).
 *
 * @module
 */
import { type ExportResponse, ImgError } from "@img/core";
import type { OutputSpec } from "./_outputs.ts";

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
  /** Refused for now. */
  addHost: string[];
  /** Refused for now. */
  shmSize?: string;
  /** Refused for now. */
  ulimit: string[];
  /** `--provenance`: only `false` (img makes no attestation). */
  provenance?: string;
  /** `--sbom`: only `false` (img makes no attestation). */
  sbom?: string;
  /** Refused for now. */
  buildContext: string[];
}

const ENTITLEMENTS = ["network.host", "security.insecure"];
const ANNOTATION_TYPES = ["manifest", "index", "manifest-descriptor", "index-descriptor"];

function notYet(option: string, what: string): ImgError {
  return new ImgError(`${option} is not supported yet: ${what}`);
}

/**
 * Refuses the flags img cannot honour yet, each with one line naming it.
 *
 * @throws {ImgError} for the first such flag given.
 */
export function refuseUnsupported(f: BuildxFlags): void {
  if (f.buildContext.length) {
    throw notYet("--build-context", "copy the files into the build context instead");
  }
  if (f.addHost.length) {
    throw notYet("--add-host", "RUN steps use the host's network and its /etc/hosts");
  }
  if (f.shmSize !== undefined) throw notYet("--shm-size", "RUN steps get the runtime's /dev/shm");
  if (f.ulimit.length) throw notYet("--ulimit", "RUN steps inherit img's limits");
  for (const [option, value] of [["--provenance", f.provenance], ["--sbom", f.sbom]] as const) {
    if (value !== undefined && !/^(false|0)$/i.test(value)) {
      throw notYet(option, `img attaches no attestations (${option}=false is accepted)`);
    }
  }
  for (const e of f.allow) {
    if (!ENTITLEMENTS.includes(e)) {
      throw new ImgError(`Invalid --allow "${e}": use ${ENTITLEMENTS.join(" or ")}`);
    }
  }
  if (f.network !== undefined && !["default", "none", "host"].includes(f.network)) {
    throw new ImgError(`Invalid --network "${f.network}": use default, none or host`);
  }
  if (f.network === "host" && !f.allow.includes("network.host")) {
    throw new ImgError("--network=host needs --allow network.host");
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

/** The frontend options of `--no-cache-filter`, `--network` and `--allow`. */
export function frontendFlagOptions(f: BuildxFlags): Record<string, string> {
  const o: Record<string, string> = {};
  if (f.noCacheFilter.length) o["no-cache"] = f.noCacheFilter.join(",");
  if (f.network === "none") o["force-network-mode"] = "none";
  if (f.allow.length) o.allow = f.allow.join(",");
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

/**
 * Refuses the build contexts buildx takes that img does not yet: a git URL. (`-` and an
 * http(s) URL are opened by `_build_context.ts`.)
 *
 * @throws {ImgError} naming the kind of context.
 */
export function refuseRemoteContext(path: string): void {
  if (/^(git@|git:\/\/|ssh:\/\/)/.test(path) || /^https?:\/\/.*\.git(#.*)?$/.test(path)) {
    throw notYet("A git repository as the build context", "clone it and pass the directory");
  }
}
