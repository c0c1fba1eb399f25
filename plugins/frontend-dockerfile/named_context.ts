/**
 * Named contexts (`img build --build-context`, BuildKit's `context:NAME` frontend options), as
 * BuildKit's dockerui client resolves them: the name a Dockerfile uses is normalized as an image
 * reference (`FROM docker.io/library/alpine:latest` finds `context:alpine`), a platform-specific
 * `context:NAME::os/arch` comes before `context:NAME`, and each value becomes a source vertex:
 *
 * - `local:LOCAL`: the engine's local directory `LOCAL`, without what its own `.dockerignore`
 *   hides; a stage started from it has the directory as its root filesystem and an empty config;
 * - `docker-image://REF`: the image from its registry (resolve mode `pull`: never the local
 *   image store, which BuildKit's container driver does not have); `docker-image://scratch` is
 *   scratch;
 * - `oci-layout://STORE:TAG@DIGEST`: the image `DIGEST` of the OCI layout the engine knows as
 *   `STORE` (buildx resolved `TAG` to `DIGEST` already).
 *
 * @module
 */
import {
  type Digest,
  familiarReference,
  type FrontendClient,
  type GraphBuilder,
  type ImageConfig,
  ImgError,
  parseReference,
  type Platform,
} from "@img/core";
import { parseDockerignore } from "./dockerignore.ts";

/** A named context resolved: its graph vertex, and its image config (none for a directory). */
export interface NamedContext {
  /** The vertex whose result is the context's files. */
  head: Digest;
  /** The image config of an image context. */
  config?: ImageConfig;
  /** A directory (`local:`): not a snapshot, so a stage starting from it copies it first. */
  local?: boolean;
}

/** What {@linkcode loadNamedContext} adds vertices to and resolves images with. */
export interface NamedContextDeps {
  /** The graph being built. */
  graph: GraphBuilder;
  /** The frontend client: `.dockerignore` of a directory, image configs. */
  client: FrontendClient;
  /** The Dockerfile location (`Dockerfile:3`) the context is used at. */
  location?: string;
}

function fmtPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/**
 * The key of `contexts` (the `context:` options without their prefix) that `name` finds for
 * `platform`, or `undefined` when the build has no context of that name.
 */
export function namedContextKey(
  name: string,
  platform: Platform,
  contexts: Record<string, string>,
): string | undefined {
  let key: string;
  try {
    key = familiarReference(parseReference(name)).replace(/:latest$/, "");
  } catch {
    return undefined; // not a name an image could have: a stage index, say
  }
  const withPlatform = `${key}::${fmtPlatform(platform)}`;
  if (contexts[withPlatform] !== undefined) return withPlatform;
  return contexts[key] !== undefined ? key : undefined;
}

/**
 * Adds the source vertex of the named context `key` (value `value`) for `platform`.
 *
 * @throws {ImgError} for a value of an unsupported kind, an `oci-layout://` value without a
 * digest, or an image that cannot be resolved.
 */
export async function loadNamedContext(
  key: string,
  value: string,
  platform: Platform,
  deps: NamedContextDeps,
): Promise<NamedContext> {
  const colon = value.indexOf(":");
  const kind = colon < 0 ? "" : value.slice(0, colon);
  const rest = value.slice(colon + 1).replace(/^\/\//, "");
  const where = { platform, ...(deps.location ? { location: deps.location } : {}) };
  switch (kind) {
    case "local": {
      const ignore = await deps.client.readFile(rest, ".dockerignore");
      const excludes = ignore ? parseDockerignore(ignore) : [];
      const head = deps.graph.add(
        {
          type: "source",
          identifier: `local://${rest}`,
          attrs: excludes.length ? { excludes: JSON.stringify(excludes) } : {},
        },
        [],
        `[context ${key}] load from client`,
      );
      return { head, local: true };
    }
    case "docker-image": {
      if (rest === "scratch") {
        return { head: deps.graph.add({ type: "source", identifier: "scratch" }, [], "scratch") };
      }
      const resolved = await deps.client.resolveImageConfig(rest, platform, {
        resolveMode: "pull",
      });
      const head = deps.graph.add(
        {
          type: "source",
          identifier: `docker-image://${resolved.ref}`,
          attrs: { platform: fmtPlatform(platform) },
        },
        [],
        `[context ${key}] ${rest}`,
        where,
      );
      return { head, config: resolved.config };
    }
    case "oci-layout": {
      const m = /^([^:@/]+)(?::[^@]*)?@(sha256:[a-f0-9]{64})$/.exec(rest);
      if (!m) {
        throw new ImgError(
          `oci-layout reference "${rest}" of context ${key} has no digest: use oci-layout://STORE:TAG@sha256:...`,
        );
      }
      const [, store, digest] = m;
      const resolved = await deps.client.resolveImageConfig(
        `${key.split("::")[0]}@${digest}`,
        platform,
        { ociStore: store },
      );
      const head = deps.graph.add(
        {
          type: "source",
          identifier: `oci-layout://${resolved.ref}`,
          attrs: { platform: fmtPlatform(platform), "oci.store": store },
        },
        [],
        `[context ${key}] OCI load from client`,
        where,
      );
      return { head, config: resolved.config };
    }
    default:
      throw new ImgError(
        `unsupported context source ${
          kind || value
        } for ${key}: use a directory, docker-image:// or oci-layout://`,
      );
  }
}
