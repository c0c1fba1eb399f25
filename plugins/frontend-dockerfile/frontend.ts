/**
 * The Dockerfile frontend: reads the Dockerfile and `.dockerignore` through the frontend
 * client and converts them into a build definition.
 *
 * Options (BuildKit's names): `filename` (default `Dockerfile`), `target`,
 * `build-arg:NAME`, `label:NAME`, `no-cache` (empty: every step; else the stages to build
 * without the cache), `force-network-mode` (`default`, `none`, `host`), `allow` (entitlements:
 * `network.host`, `security.insecure`), `add-hosts` (`host=ip,...`), `shm-size` (bytes),
 * `ulimit` (`nofile=512:1024,...`), `source-date-epoch`, `multi-platform`, `check` (a `# check=`
 * value that replaces the file's; so does the `BUILDKIT_DOCKERFILE_CHECK` build arg),
 * `context:NAME` (a named context: `local:LOCAL`, `docker-image://REF`,
 * `oci-layout://STORE:TAG@DIGEST`).
 *
 * Build check violations are reported as warnings (`Rule: message (line N)`); with
 * `error=true` they fail the build.
 *
 * @module
 */
import {
  type BuildDefinition,
  type BuildRequest,
  type ExtraHost,
  type Frontend,
  type FrontendClient,
  hostPlatform,
  ImgError,
} from "@img/core";
import { parseExtraHost, parseUlimit } from "@img/core/exec";
import { DockerfileConverter } from "./convert.ts";
import { parseDockerignore } from "./dockerignore.ts";
import { parseDockerfile } from "./stages.ts";
import { formatCheckWarning, lintDockerfile, Linter, parseCheckConfig } from "./checks.ts";

function prefixed(options: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(options).filter(([k]) => k.startsWith(prefix)).map((
      [k, v],
    ) => [k.slice(prefix.length), v]),
  );
}

function parseNetworkMode(value: string | undefined): "default" | "none" | "host" {
  if (value === undefined || value === "" || value === "default" || value === "sandbox") {
    return "default";
  }
  if (value === "none" || value === "host") return value;
  throw new ImgError(`Invalid network mode "${value}": use default, none or host`);
}

/** BuildKit's `add-hosts`: `host=ip` entries, comma-separated; host names in lower case. */
function parseExtraHosts(value: string | undefined): ExtraHost[] {
  if (!value) return [];
  return value.split(",").filter((f) => f !== "").map((f) => {
    const h = parseExtraHost(f);
    return { host: h.host.toLowerCase(), ip: h.ip };
  });
}

/** BuildKit's `shm-size`: bytes. */
function parseShmSize(value: string | undefined): number | undefined {
  if (value === undefined || value === "" || value === "0") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new ImgError(`Invalid shm-size "${value}": give the size in bytes`);
  }
  return Number(value);
}

/** The Dockerfile frontend. */
export class DockerfileFrontend implements Frontend {
  /** Solves a build request into a build definition. */
  async solve(request: BuildRequest, client: FrontendClient): Promise<BuildDefinition> {
    const o = request.options;
    const filename = o.filename ?? "Dockerfile";
    const text = await client.readFile("dockerfile", filename);
    if (text === undefined) {
      throw new ImgError(`failed to read dockerfile: open ${filename}: no such file or directory`);
    }
    const displayName = filename.split("/").pop() || filename;
    const df = parseDockerfile(text, { fileName: displayName });
    for (const w of df.warnings) client.warn(w.message);
    // docker prefers <Dockerfile>.dockerignore next to the Dockerfile, then the context's.
    const ignoreText = (await client.readFile("dockerfile", `${filename}.dockerignore`)) ??
      (await client.readFile("context", ".dockerignore"));
    const epoch = o["source-date-epoch"] ?? o["build-arg:SOURCE_DATE_EPOCH"];
    if (epoch !== undefined && !/^\d+$/.test(epoch)) {
      throw new ImgError(
        `Invalid SOURCE_DATE_EPOCH "${epoch}": it must be whole seconds since 1970`,
      );
    }
    const checkSpec = o.check ?? o["build-arg:BUILDKIT_DOCKERFILE_CHECK"] ??
      df.directives.find((d) => d.name === "check")?.value ?? "";
    const linter = new Linter(parseCheckConfig(checkSpec));
    lintDockerfile(df, linter);
    const converter = new DockerfileConverter(df, client, {
      target: o.target,
      buildArgs: Object.fromEntries(
        Object.entries(prefixed(o, "build-arg:")).filter(([k]) =>
          k !== "BUILDKIT_DOCKERFILE_CHECK"
        ),
      ),
      labels: prefixed(o, "label:"),
      platform: request.platforms[0] ?? hostPlatform(),
      buildPlatform: hostPlatform(),
      excludes: ignoreText ? parseDockerignore(ignoreText) : [],
      created: epoch !== undefined ? new Date(Number(epoch) * 1000) : new Date(),
      // BuildKit's no-cache: empty for every step, else the stages to build afresh.
      noCache: o["no-cache"] === "",
      noCacheStages: o["no-cache"]
        ? o["no-cache"].split(",").map((s) => s.trim().toLowerCase())
        : [],
      networkMode: parseNetworkMode(o["force-network-mode"]),
      extraHosts: parseExtraHosts(o["add-hosts"]),
      shmSize: parseShmSize(o["shm-size"]),
      ulimits: o.ulimit ? o.ulimit.split(",").filter((f) => f !== "").map(parseUlimit) : [],
      allow: o.allow ? o.allow.split(",") : [],
      linter,
      multiPlatform: o["multi-platform"] === "true",
      namedContexts: prefixed(o, "context:"),
    });
    const definition = await converter.convert();
    for (const w of linter.warnings) client.warn(formatCheckWarning(w));
    const lintError = linter.error();
    if (lintError) throw lintError;
    return epoch !== undefined ? { ...definition, sourceDateEpoch: Number(epoch) } : definition;
  }
}
