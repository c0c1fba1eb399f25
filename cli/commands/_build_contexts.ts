/**
 * `img build --build-context NAME=VALUE`, as buildx passes named contexts to BuildKit: each
 * becomes the frontend option `context:NAME`, with the directories and OCI layouts it reads
 * handed to the engine beside it.
 *
 * | VALUE                                 | frontend option `context:NAME`      | engine input                |
 * | ------------------------------------- | ----------------------------------- | --------------------------- |
 * | a directory                           | `local:NAME` (`_context`, ...)      | `locals[NAME]` = the dir    |
 * | `docker-image://REF[@DIGEST]`         | the value, as given                 | (the registry)              |
 * | `oci-layout://DIR[:TAG][@sha256:...]` | `oci-layout://STORE:TAG@DIGEST`     | `ociStores[STORE]` = DIR    |
 *
 * As buildx, the digest of an `oci-layout://` value without one is looked up in the layout's
 * `index.json` here (the entry named `TAG`, default `latest`, else its only entry). Git and
 * http(s) values are refused for now, naming the option.
 *
 * @module
 */
import { resolve } from "node:path";
import { ImgError, sha256 } from "@img/core";
import { findOciLayoutEntry, readOciLayoutIndex } from "@img/core/archive";

/** Named contexts as the engine takes them. */
export interface BuildContexts {
  /** The `context:NAME` frontend options. */
  options: Record<string, string>;
  /** Directories by local name (`BuildOptions.locals`). */
  locals: Record<string, string>;
  /** OCI layout directories by store ID (`BuildOptions.ociStores`). */
  ociStores: Record<string, string>;
}

function refuse(value: string, what: string): ImgError {
  return new ImgError(
    `--build-context ${value}: ${what} as a named context is not supported yet; give a directory, docker-image:// or oci-layout://`,
  );
}

/**
 * Parses the `--build-context` values (relative directories against `cwd`).
 *
 * @throws {ImgError} for a malformed value, a missing directory or layout, or a git or URL
 * value (not supported yet).
 */
export async function parseBuildContexts(
  values: readonly string[],
  cwd: string = Deno.cwd(),
): Promise<BuildContexts> {
  const out: BuildContexts = { options: {}, locals: {}, ociStores: {} };
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq <= 0 || eq === value.length - 1) {
      throw new ImgError(`Invalid --build-context "${value}": use NAME=VALUE`);
    }
    const name = value.slice(0, eq);
    const v = value.slice(eq + 1);
    if (/^(git@|git:\/\/|ssh:\/\/)/.test(v) || /^https?:\/\/.*\.git(#.*)?$/.test(v)) {
      throw refuse(value, "a git repository");
    }
    if (/^https?:\/\//.test(v)) throw refuse(value, "a URL");
    if (v.startsWith("target:")) throw refuse(value, "a bake target");
    if (v.startsWith("docker-image://")) {
      if (v === "docker-image://") {
        throw new ImgError(
          `Invalid --build-context "${value}": name an image after docker-image://`,
        );
      }
      out.options[`context:${name}`] = v;
      continue;
    }
    if (v.startsWith("oci-layout://")) {
      let rest = v.slice("oci-layout://".length);
      let digest: string | undefined;
      const at = rest.indexOf("@");
      if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
          throw new ImgError(
            `Invalid --build-context "${value}": the digest must be sha256:<64 hex>`,
          );
        }
      }
      const colon = rest.indexOf(":");
      const tag = colon >= 0 ? rest.slice(colon + 1) : "latest";
      const dir = resolve(cwd, colon >= 0 ? rest.slice(0, colon) : rest);
      if (!digest) {
        const entry = findOciLayoutEntry(await readOciLayoutIndex(dir), tag);
        if (!entry) {
          throw new ImgError(
            `--build-context ${value}: ${dir} has no image tagged ${tag} and more than one image; add :TAG or @DIGEST`,
          );
        }
        digest = entry.digest;
      } else await readOciLayoutIndex(dir);
      const store = `oci-${sha256(dir).slice(7, 19)}`;
      out.ociStores[store] = dir;
      out.options[`context:${name}`] = `oci-layout://${store}:${tag}@${digest}`;
      continue;
    }
    const dir = resolve(cwd, v);
    const st = await Deno.stat(dir).catch(() => undefined);
    if (!st) throw new ImgError(`--build-context ${value}: ${dir} does not exist`);
    if (!st.isDirectory) throw new ImgError(`--build-context ${value}: ${dir} is not a directory`);
    // buildx's local names, kept apart from the build's own inputs.
    const local = name === "context" || name === "dockerfile" ? `_${name}` : name;
    out.locals[local] = dir;
    out.options[`context:${name}`] = `local:${local}`;
  }
  return out;
}
