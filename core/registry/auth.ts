/**
 * Registry authentication: answers a registry's `WWW-Authenticate` challenge with Basic
 * credentials or a Bearer token from its token server, as docker does.
 *
 * Bearer tokens are fetched anonymously, with Basic credentials (`GET realm?service=&scope=`),
 * or, for an identity token, with an OAuth2 refresh-token grant (`POST realm`), and cached per
 * registry and scope set until shortly before they expire.
 *
 * @module
 */
import type { Credential, CredentialStore } from "../credentials.ts";
import { type Challenge, parseChallenges } from "./challenge.ts";
import { type ErrorContext, RegistryError, responseError } from "./errors.ts";

/** Sends one HTTP request (with whatever retries the caller wants); `ctx` words errors. */
export type Send = (url: string, init: RequestInit, ctx: ErrorContext) => Promise<Response>;

/** The scope string for pulling from a repository: `repository:NAME:pull`. */
export function pullScope(path: string): string {
  return `repository:${path}:pull`;
}

/** The scope string for pushing to a repository: `repository:NAME:pull,push`. */
export function pushScope(path: string): string {
  return `repository:${path}:pull,push`;
}

/** Options for {@linkcode Authenticator}. */
export interface AuthenticatorOptions {
  /** Where credentials come from, keyed by registry domain. */
  credentials?: CredentialStore;
  /** Sends requests to token servers. */
  send: Send;
  /** The OAuth2 client id sent with refresh-token grants (default `img`). */
  clientId?: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Leave this margin before a token's expiry, so it does not expire in flight. */
const EXPIRY_MARGIN_MS = 10_000;
/** The lifetime the distribution spec says to assume when a token server names none. */
const DEFAULT_TOKEN_LIFETIME_S = 60;

/** Returns the Basic `Authorization` value for a credential. */
export function basicAuthorization(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/**
 * Keeps the auth challenge each registry sent and the tokens obtained for it, and returns the
 * `Authorization` header value for a request.
 */
export class Authenticator {
  #credentials?: CredentialStore;
  #send: Send;
  #clientId: string;
  #challenges = new Map<string, Challenge | null>();
  #tokens = new Map<string, CachedToken>();
  #pending = new Map<string, Promise<CachedToken>>();
  #credentialCache = new Map<string, Promise<Credential | undefined>>();

  /** Creates an authenticator. */
  constructor(options: AuthenticatorOptions) {
    this.#credentials = options.credentials;
    this.#send = options.send;
    this.#clientId = options.clientId ?? "img";
  }

  /** Whether a challenge (or its absence) is known for `domain`. */
  knows(domain: string): boolean {
    return this.#challenges.has(domain);
  }

  /** The challenge remembered for `domain` (`null`: the registry needs no auth). */
  challenge(domain: string): Challenge | null | undefined {
    return this.#challenges.get(domain);
  }

  /**
   * Remembers the challenge of a `WWW-Authenticate` header (`null` header: no auth needed).
   * Bearer is preferred over Basic when a registry offers both. Returns the chosen challenge.
   */
  setChallenge(domain: string, header: string | null): Challenge | null {
    let chosen: Challenge | null = null;
    if (header) {
      const all = parseChallenges(header);
      chosen = all.find((c) => c.scheme === "bearer" && c.params.realm) ??
        all.find((c) => c.scheme === "basic") ?? null;
    }
    this.#challenges.set(domain, chosen);
    return chosen;
  }

  /** Returns (and caches) the stored credential for `domain`. */
  credential(domain: string): Promise<Credential | undefined> {
    let p = this.#credentialCache.get(domain);
    if (!p) {
      p = this.#credentials ? this.#credentials.get(domain) : Promise.resolve(undefined);
      this.#credentialCache.set(domain, p);
    }
    return p;
  }

  /**
   * Returns the `Authorization` header value for a request to `domain` needing `scopes`, or
   * `undefined` if the registry needs none (or has no credential for Basic).
   */
  async authorization(
    domain: string,
    scopes: string[],
    ctx: ErrorContext,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(domain);
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") {
      const cred = await this.credential(domain);
      if (!cred || (!cred.username && !cred.password)) return undefined;
      return basicAuthorization(cred.username, cred.password);
    }
    const token = await this.#token(domain, challenge, normalizeScopes(scopes), ctx);
    return `Bearer ${token.token}`;
  }

  /**
   * Handles a 401 answer: remembers its challenge, drops the cached token, and returns a new
   * `Authorization` value with the scopes the registry asked for added, or `undefined` if
   * another attempt cannot help (no credentials for Basic).
   */
  async reauthorize(
    domain: string,
    scopes: string[],
    header: string | null,
    ctx: ErrorContext,
  ): Promise<string | undefined> {
    const previous = this.#challenges.get(domain);
    const challenge = this.setChallenge(domain, header) ?? previous;
    if (!challenge) return undefined;
    this.#challenges.set(domain, challenge);
    if (challenge.scheme === "basic") {
      return await this.authorization(domain, scopes, ctx);
    }
    const wanted = normalizeScopes([
      ...scopes,
      ...(challenge.params.scope ? challenge.params.scope.split(" ") : []),
    ]);
    this.#tokens.delete(tokenKey(domain, wanted));
    this.#tokens.delete(tokenKey(domain, normalizeScopes(scopes)));
    const token = await this.#token(domain, challenge, wanted, ctx);
    return `Bearer ${token.token}`;
  }

  /** Whether a credential is stored for `domain` (for wording errors). */
  async hasCredential(domain: string): Promise<boolean> {
    return (await this.credential(domain)) !== undefined;
  }

  #token(
    domain: string,
    challenge: Challenge,
    scopes: string[],
    ctx: ErrorContext,
  ): Promise<CachedToken> {
    const key = tokenKey(domain, scopes);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return Promise.resolve(cached);
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(domain, challenge, scopes, ctx).then((t) => {
        this.#tokens.set(key, t);
        return t;
      }).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(
    domain: string,
    challenge: Challenge,
    scopes: string[],
    ctx: ErrorContext,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new RegistryError(
        `${ctx.action} failed: the registry sent an invalid auth realm "${realm}"`,
      );
    }
    const service = challenge.params.service;
    const cred = await this.credential(domain);
    let res: Response | undefined;
    if (cred?.identityToken) {
      const form = new URLSearchParams();
      form.set("grant_type", "refresh_token");
      form.set("refresh_token", cred.identityToken);
      form.set("client_id", this.#clientId);
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await this.#send(realmUrl.href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      }, ctx);
      // Token servers without OAuth2 support answer 404/405: fall back to GET, as docker does.
      if ((res.status === 404 || res.status === 405) && (cred.username || cred.password)) {
        await res.body?.cancel();
        res = undefined;
      }
    }
    if (!res) {
      const url = new URL(realmUrl);
      if (service) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const headers: Record<string, string> = {};
      if (cred && (cred.username || cred.password) && !cred.identityToken) {
        url.searchParams.set("account", cred.username);
        headers.authorization = basicAuthorization(cred.username, cred.password);
      } else if (cred?.identityToken && (cred.username || cred.password)) {
        headers.authorization = basicAuthorization(cred.username, cred.password);
      }
      res = await this.#send(url.href, { headers }, ctx);
    }
    if (!res.ok) {
      throw await responseError(res, { ...ctx, authenticated: cred !== undefined });
    }
    let body: {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    try {
      body = await res.json();
    } catch {
      throw new RegistryError(
        `${ctx.action} failed: the token server at ${realmUrl.host} sent no valid JSON`,
      );
    }
    const token = body.access_token || body.token;
    if (!token) {
      throw new RegistryError(
        `${ctx.action} failed: the token server at ${realmUrl.host} sent no token`,
      );
    }
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
    // Measured from our clock, not `issued_at`: a skewed registry clock must not expire it early.
    return { token, expiresAt: Date.now() + lifetime * 1000 };
  }
}

function normalizeScopes(scopes: string[]): string[] {
  return [...new Set(scopes.filter(Boolean))].sort();
}

function tokenKey(domain: string, scopes: string[]): string {
  return `${domain}|${scopes.join(" ")}`;
}
