/**
 * The `docker` credential store plugin: registry credentials in docker's `config.json`
 * (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`) and the `docker-credential-*`
 * helpers it names in `credsStore` and `credHelpers`, read and written as docker does, so
 * `img login` and `docker login` share their credentials.
 *
 * @example
 * ```ts
 * import docker from "@img/credentials-docker";
 *
 * const store = docker.create({});
 * const credential = await store.get("localhost:5000");
 * ```
 *
 * @module
 */
import meta from "./deno.json" with { type: "json" };
import type { Credential, CredentialsPlugin, CredentialStore, PluginContext } from "@img/core";
import { API_VERSION } from "@img/core";
import { configFilePath, DockerConfigFile, serverAddress } from "./config_file.ts";
import { CredentialHelper, TOKEN_USERNAME } from "./helper.ts";

export {
  canonicalHost,
  configFilePath,
  convertToHostname,
  decodeAuth,
  DOCKER_HUB_LEGACY_KEY,
  DockerConfigFile,
  encodeAuth,
  serverAddress,
} from "./config_file.ts";
export { CredentialHelper, type HelperCredential, lookPath, TOKEN_USERNAME } from "./helper.ts";

/** Options of the docker credential store. */
export interface DockerCredentialStoreOptions {
  /** The docker config directory (docker's `--config`); overrides `DOCKER_CONFIG`. */
  configDir?: string;
  /**
   * The environment to use instead of img's own: `DOCKER_CONFIG` and `HOME` locate the
   * config file, and it is the whole environment of credential helpers (`PATH` finds them).
   */
  env?: Record<string, string>;
}

/**
 * A {@linkcode CredentialStore} backed by docker's `config.json` and its credential helpers.
 * The file is read afresh on every call, so changes by `docker login` are seen at once.
 */
export class DockerCredentialStore implements CredentialStore {
  readonly #configDir: string | undefined;
  readonly #env: Record<string, string> | undefined;

  /** Creates a store for the config file the options (or the environment) point to. */
  constructor(options: DockerCredentialStoreOptions = {}) {
    this.#configDir = options.configDir;
    this.#env = options.env;
  }

  /** The path of the config file this store reads and writes. */
  get path(): string {
    return configFilePath({ configDir: this.#configDir, env: this.#env ?? Deno.env.toObject() });
  }

  async #load(): Promise<DockerConfigFile> {
    return await DockerConfigFile.load(this.path);
  }

  #helper(file: DockerConfigFile, host: string): CredentialHelper | undefined {
    const name = file.helperFor(host);
    return name ? new CredentialHelper(name, { env: this.#env, configPath: file.path }) : undefined;
  }

  /** Returns the credential for `host`, or `undefined` if there is none. */
  async get(host: string): Promise<Credential | undefined> {
    const file = await this.#load();
    const helper = this.#helper(file, host);
    if (!helper) return file.getAuth(host);
    const answer = await helper.get(serverAddress(host));
    if (!answer) return undefined;
    if (answer.Username === TOKEN_USERNAME) {
      return { username: "", password: "", identityToken: answer.Secret };
    }
    return { username: answer.Username, password: answer.Secret };
  }

  /**
   * Stores the credential for `host`: through its credential helper when one applies
   * (leaving an empty `auths` entry, as docker does), else in `auths`.
   */
  async store(host: string, credential: Credential): Promise<void> {
    const file = await this.#load();
    const helper = this.#helper(file, host);
    const address = serverAddress(host);
    if (helper) {
      await helper.store(
        credential.identityToken
          ? { ServerURL: address, Username: TOKEN_USERNAME, Secret: credential.identityToken }
          : { ServerURL: address, Username: credential.username, Secret: credential.password },
      );
      file.setHelperEntry(host);
    } else {
      file.setAuth(host, credential);
    }
    await file.save();
  }

  /**
   * Removes the credential for `host` from its helper (if one applies) and from `auths`.
   * Returns false if there was none.
   */
  async erase(host: string): Promise<boolean> {
    const file = await this.#load();
    const helper = this.#helper(file, host);
    let removed = false;
    if (helper) {
      const address = serverAddress(host);
      if (await helper.get(address)) removed = await helper.erase(address);
    }
    const { removedEntry, removedCredential } = file.deleteAuth(host);
    if (removedEntry) await file.save();
    return removed || removedCredential;
  }
}

/**
 * The shape of this plugin's manifest: a core {@linkcode CredentialsPlugin} whose `create`
 * also takes a `configDir` (docker's `--config`).
 */
export type DockerCredentialsPlugin = CredentialsPlugin & {
  /** Creates the credential store for the given config directory and environment. */
  create(options?: DockerCredentialStoreOptions & Partial<PluginContext>): DockerCredentialStore;
};

/** The plugin manifest: `kind: "credentials"`, `name: "docker"`. */
const plugin: DockerCredentialsPlugin = {
  kind: "credentials",
  name: "docker",
  version: meta.version,
  apiVersion: API_VERSION,
  description:
    "Credentials in docker's config.json (~/.docker/config.json or $DOCKER_CONFIG) and docker-credential-* helpers",
  create(
    options: DockerCredentialStoreOptions & Partial<PluginContext> = {},
  ): DockerCredentialStore {
    return new DockerCredentialStore({ configDir: options.configDir, env: options.env });
  },
};

export default plugin;
