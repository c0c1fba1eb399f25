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
 */
export interface CredentialStore {
  /** Returns the credential for `host`, or `undefined` if there is none. */
  get(host: string): Promise<Credential | undefined>;
  /** Stores the credential for `host`, replacing any previous one. */
  store(host: string, credential: Credential): Promise<void>;
  /** Removes the credential for `host`. Returns false if there was none. */
  erase(host: string): Promise<boolean>;
}
