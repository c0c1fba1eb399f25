/**
 * The credential store seam: where registry credentials come from and go to.
 *
 * @module
 */

/** A credential for one registry: a username and password, or an identity token. */
export interface Credential {
  /** The user name (empty when only an identity token is set). */
  username: string;
  /** The password or access token. */
  password: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), used instead of the password. */
  identityToken?: string;
}

/**
 * Reads and writes registry credentials, keyed by registry host (`docker.io` is stored under
 * docker's legacy key `https://index.docker.io/v1/`, as docker does).
 *
 * @example An in-memory credential store
 * A credential store that keeps credentials in memory, as a credentials plugin: img asks
 * it for the credential of a registry host before pulling or pushing, and `img login` /
 * `img logout` store and erase them.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   API_VERSION,
 *   type Credential,
 *   type CredentialsPlugin,
 *   type CredentialStore,
 * } from "@img/core";
 *
 * class MemoryCredentials implements CredentialStore {
 *   readonly #byHost = new Map<string, Credential>();
 *
 *   get(host: string): Promise<Credential | undefined> {
 *     return Promise.resolve(this.#byHost.get(host));
 *   }
 *
 *   store(host: string, credential: Credential): Promise<void> {
 *     this.#byHost.set(host, credential);
 *     return Promise.resolve();
 *   }
 *
 *   erase(host: string): Promise<boolean> {
 *     return Promise.resolve(this.#byHost.delete(host));
 *   }
 * }
 *
 * const plugin = {
 *   kind: "credentials",
 *   name: "memory",
 *   version: "1.0.0",
 *   apiVersion: API_VERSION,
 *   create: () => new MemoryCredentials(),
 * } satisfies CredentialsPlugin;
 *
 * const store = plugin.create();
 * await store.store("registry.example.com", { username: "me", password: "secret" });
 * assert.equal((await store.get("registry.example.com"))?.username, "me");
 * assert.equal(await store.erase("registry.example.com"), true);
 * assert.equal(await store.get("registry.example.com"), undefined);
 * ```
 */
export interface CredentialStore {
  /** Returns the credential for `host`, or `undefined` if there is none. */
  get(host: string): Promise<Credential | undefined>;
  /** Stores the credential for `host`, replacing any previous one. */
  store(host: string, credential: Credential): Promise<void>;
  /** Removes the credential for `host`. Returns false if there was none. */
  erase(host: string): Promise<boolean>;
}
