/**
 * Docker's `config.json`: where it is, how registry hosts map to its keys, and how the
 * `auths` section is read and written, as docker's `cli/config` does.
 *
 * The file is kept as a plain JSON object so that every key img does not know
 * (`HttpHeaders`, `proxies`, `currentContext`, other `auths`, ...) survives a write unchanged.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type Credential, ImgError } from "@img/core";

/** The key docker stores Docker Hub credentials under (docker's `registry.IndexServer`). */
export const DOCKER_HUB_LEGACY_KEY = "https://index.docker.io/v1/";

/** The host names that all mean Docker Hub. */
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** Options that locate the docker config directory. */
export interface ConfigLocation {
  /** The config directory (docker's `--config`); overrides `DOCKER_CONFIG`. */
  configDir?: string;
  /** The environment to read `DOCKER_CONFIG` and `HOME` from. */
  env: Record<string, string | undefined>;
}

/**
 * Returns the path of docker's config file: `<configDir>/config.json`,
 * `$DOCKER_CONFIG/config.json`, or `$HOME/.docker/config.json`.
 */
export function configFilePath(location: ConfigLocation): string {
  const dir = location.configDir || location.env.DOCKER_CONFIG;
  if (dir) return joinPath(dir, "config.json");
  const home = location.env.HOME;
  if (!home) {
    throw new ImgError(
      "Cannot find the docker config file: set DOCKER_CONFIG or HOME to the directory that holds it",
    );
  }
  return joinPath(home, ".docker", "config.json");
}

/**
 * Reduces a registry address to its host name, as docker's `credentials.ConvertToHostname`
 * does: `https://host:5000/v2/` and `host:5000/v1/` both become `host:5000`.
 */
export function convertToHostname(address: string): string {
  if (address.includes("://")) {
    try {
      const url = new URL(address);
      if (url.hostname) return url.port ? `${url.hostname}:${url.port}` : url.hostname;
    } catch {
      // Not a URL after all: fall through to the plain cut, as docker does.
    }
  }
  const slash = address.indexOf("/");
  return slash < 0 ? address : address.slice(0, slash);
}

/**
 * The canonical host img compares config keys by: the bare host, with every Docker Hub
 * alias (`index.docker.io`, `registry-1.docker.io`, the legacy URL) folded into `docker.io`.
 */
export function canonicalHost(address: string): string {
  const host = convertToHostname(address.trim());
  return DOCKER_HUB_HOSTS.has(host.toLowerCase()) ? "docker.io" : host;
}

/**
 * The server address docker uses for a host, both as the `auths` key and as the
 * `ServerURL` given to credential helpers: the legacy URL for Docker Hub, else the bare host.
 */
export function serverAddress(host: string): string {
  const canonical = canonicalHost(host);
  return canonical === "docker.io" ? DOCKER_HUB_LEGACY_KEY : canonical;
}

/** Encodes a credential as docker's `auth` field: base64 of `user:password`. */
export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, "utf8").toString("base64");
}

/**
 * Decodes docker's `auth` field into a user name and password, or returns undefined if it
 * is not base64 of `user:password` (docker's `decodeAuth`).
 */
export function decodeAuth(auth: string): { username: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth.trim())) return undefined;
  const decoded = Buffer.from(auth.trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, ""),
  };
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * One docker `config.json`, loaded as a plain JSON object. Reads and edits touch only
 * `auths`, `credsStore` and `credHelpers`; everything else is written back as it was read.
 */
export class DockerConfigFile {
  /** The path of the file. */
  readonly path: string;
  /** The whole parsed file, including keys img does not know. */
  readonly data: JsonObject;

  private constructor(path: string, data: JsonObject) {
    this.path = path;
    this.data = data;
  }

  /**
   * Loads the config file at `path`. A missing (or empty) file is an empty config;
   * a file that is not a JSON object is an {@linkcode ImgError} naming the file.
   */
  static async load(path: string): Promise<DockerConfigFile> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return new DockerConfigFile(path, {});
      throw new ImgError(`Cannot read docker config file ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (text.trim() === "") return new DockerConfigFile(path, {});
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ImgError(
        `Docker config file ${path} is not valid JSON (${
          (error as Error).message
        }): fix or remove it`,
        { cause: error },
      );
    }
    if (!isObject(data)) {
      throw new ImgError(`Docker config file ${path} is not a JSON object: fix or remove it`);
    }
    const file = new DockerConfigFile(path, data);
    file.validate();
    return file;
  }

  private validate(): void {
    const { auths, credsStore, credHelpers } = this.data;
    if (auths !== undefined && auths !== null && !isObject(auths)) {
      throw new ImgError(
        `Docker config file ${this.path} has an invalid "auths": fix or remove it`,
      );
    }
    if (credsStore !== undefined && credsStore !== null && typeof credsStore !== "string") {
      throw new ImgError(
        `Docker config file ${this.path} has an invalid "credsStore": fix or remove it`,
      );
    }
    if (
      credHelpers !== undefined && credHelpers !== null &&
      (!isObject(credHelpers) || Object.values(credHelpers).some((v) => typeof v !== "string"))
    ) {
      throw new ImgError(
        `Docker config file ${this.path} has an invalid "credHelpers": fix or remove it`,
      );
    }
  }

  /**
   * The credential helper that holds credentials for `host`: its `credHelpers` entry, else
   * `credsStore`, else undefined (credentials live in `auths`), as docker's
   * `getConfiguredCredentialStore` decides.
   */
  helperFor(host: string): string | undefined {
    const credHelpers = isObject(this.data.credHelpers)
      ? this.data.credHelpers as Record<string, string>
      : {};
    const canonical = canonicalHost(host);
    const address = serverAddress(host);
    const direct = credHelpers[address] ?? credHelpers[canonical];
    if (direct) return direct;
    for (const [key, helper] of Object.entries(credHelpers)) {
      if (helper && canonicalHost(key) === canonical) return helper;
    }
    const credsStore = this.data.credsStore;
    return typeof credsStore === "string" && credsStore !== "" ? credsStore : undefined;
  }

  private auths(): JsonObject {
    if (!isObject(this.data.auths)) this.data.auths = {};
    return this.data.auths as JsonObject;
  }

  /** The `auths` keys that hold credentials for `host`: its exact key first, then aliases. */
  authKeys(host: string): string[] {
    const auths = isObject(this.data.auths) ? this.data.auths : {};
    const address = serverAddress(host);
    const canonical = canonicalHost(host);
    const keys = Object.hasOwn(auths, address) ? [address] : [];
    for (const key of Object.keys(auths)) {
      if (key !== address && canonicalHost(key) === canonical) keys.push(key);
    }
    return keys;
  }

  /**
   * Reads the credential for `host` from `auths` (its `auth`, or plain `username` and
   * `password`, and `identitytoken`). Returns undefined if there is none.
   */
  getAuth(host: string): Credential | undefined {
    const auths = isObject(this.data.auths) ? this.data.auths : {};
    for (const key of this.authKeys(host)) {
      const entry = auths[key];
      if (!isObject(entry)) continue;
      let username = typeof entry.username === "string" ? entry.username : "";
      let password = typeof entry.password === "string" ? entry.password : "";
      if (typeof entry.auth === "string" && entry.auth !== "") {
        const decoded = decodeAuth(entry.auth);
        if (!decoded) {
          throw new ImgError(
            `Docker config file ${this.path} has an invalid "auth" for ${key}: log in again or fix the file`,
          );
        }
        ({ username, password } = decoded);
      }
      const identityToken = typeof entry.identitytoken === "string" ? entry.identitytoken : "";
      if (!username && !password && !identityToken) continue;
      return identityToken ? { username, password, identityToken } : { username, password };
    }
    return undefined;
  }

  /**
   * Stores `credential` for `host` in `auths` under docker's key, as docker writes it:
   * `auth` (base64 `user:password`) and `identitytoken` if set.
   */
  setAuth(host: string, credential: Credential): void {
    const entry: JsonObject = {};
    if (credential.username !== "" || credential.password !== "") {
      entry.auth = encodeAuth(credential.username, credential.password);
    }
    if (credential.identityToken) entry.identitytoken = credential.identityToken;
    this.auths()[serverAddress(host)] = entry;
  }

  /**
   * Records that `host` is logged in through a credential helper, as docker does: an empty
   * `auths` entry (replacing any plain-text secret kept there before).
   */
  setHelperEntry(host: string): void {
    this.auths()[serverAddress(host)] = {};
  }

  /** Removes every `auths` entry for `host`. Returns whether one held a credential. */
  deleteAuth(host: string): { removedEntry: boolean; removedCredential: boolean } {
    const hadCredential = this.getAuth(host) !== undefined;
    const keys = this.authKeys(host);
    const auths = this.auths();
    for (const key of keys) delete auths[key];
    return { removedEntry: keys.length > 0, removedCredential: hadCredential };
  }

  /**
   * Writes the file atomically, as docker does: a temporary file (mode 0600) in the same
   * directory, fsync, rename. The directory is created (mode 0700) if missing, a symlinked
   * config file is written through to its target, and the JSON is indented with tabs.
   */
  async save(): Promise<void> {
    let target = this.path;
    try {
      const link = await Deno.readLink(target);
      target = link.startsWith("/") ? link : joinPath(dirname(target), link);
    } catch {
      // Not a symlink (or missing): write the path itself.
    }
    const dir = dirname(target);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const text = marshalIndent(this.data);
    const temp = joinPath(dir, `.${basename(target)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
    try {
      const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
      try {
        const bytes = new TextEncoder().encode(text);
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
        await Deno.chmod(temp, 0o600);
        await file.sync();
      } finally {
        file.close();
      }
      await Deno.rename(temp, target);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw new ImgError(
        `Cannot write docker config file ${target}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      const dirHandle = await Deno.open(dir, { read: true });
      try {
        await dirHandle.sync();
      } finally {
        dirHandle.close();
      }
    } catch {
      // Syncing a directory is best effort.
    }
  }
}

/**
 * Serializes like Go's `json.MarshalIndent(v, "", "\t")`: tab indentation, no trailing
 * newline, and `<`, `>`, `&`, U+2028, U+2029 escaped as Go does.
 */
export function marshalIndent(value: unknown): string {
  return JSON.stringify(value, null, "\t").replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function joinPath(...parts: string[]): string {
  return parts.map((p, i) => (i === 0 ? p.replace(/\/+$/, "") || "/" : p.replace(/^\/+|\/+$/g, "")))
    .join("/").replace(/\/{2,}/g, "/");
}

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
