/**
 * A client for OCI distribution registries over `fetch`: ping, auth, manifests, blobs (with
 * retries and resumption), and pushes (existence check, cross-repository mount, monolithic and
 * chunked uploads).
 *
 * @module
 */
import type { z } from "zod";
import { concatBytes } from "../_bytes.ts";
import type { Credential, CredentialStore } from "../credentials.ts";
import { type Digest, sha256 } from "../digest.ts";
import { DigestMismatchError, ImgError } from "../errors.ts";
import {
  isIndexMediaType,
  isSchema1MediaType,
  MANIFEST_ACCEPT,
  MediaType,
} from "../media_types.ts";
import {
  familiarReference,
  isLoopbackHost,
  type Reference,
  registryHost,
  withDigest,
} from "../reference.ts";
import {
  type Descriptor,
  type Index,
  indexSchema,
  type Manifest,
  manifestSchema,
} from "../schemas.ts";
import type { ContentStore } from "../content/store.ts";
import { Authenticator, pullScope, pushScope } from "./auth.ts";
import {
  pull as pullImage,
  type PullOptions,
  type PullResult,
  push as pushImage,
  type PushOptions,
} from "./transfer.ts";
import { type ErrorContext, networkError, RegistryError, responseError } from "./errors.ts";
import {
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  retryDelay,
  type RetryPolicy,
  sleep,
} from "./_retry.ts";

/** Options for {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Where registry credentials come from. Without it, only anonymous access works. */
  credentials?: CredentialStore;
  /** Registries (domain or `host:port`) to talk to over plain HTTP. Loopback hosts always are. */
  insecureRegistries?: string[];
  /** The `User-Agent` header (default `img`). */
  userAgent?: string;
  /** How many blobs `pull` and `push` transfer at once (default 3). */
  concurrency?: number;
  /** Blobs larger than this are uploaded in `PATCH` chunks of this size (default 8 MiB). */
  chunkSize?: number;
  /** How often and how patiently to retry transient failures. */
  retry?: RetryPolicy;
  /** The fetch implementation (for tests). */
  fetch?: typeof fetch;
}

/** A manifest or index as the registry sent it. */
export interface FetchedManifest {
  /** Its descriptor: media type, digest (of `bytes`) and size. */
  descriptor: Descriptor;
  /** The exact bytes, which the digest covers. */
  bytes: Uint8Array;
  /** The media type (also in `descriptor.mediaType`). */
  mediaType: string;
}

/** Picks the manifest for the wanted platform from an index's entries, or `undefined`. */
export type ManifestChooser = (manifests: Descriptor[]) => Descriptor | undefined;

/** The result of {@linkcode RegistryClient.resolve}. */
export interface ResolvedImage {
  /** The index or manifest list the reference pointed at, if it pointed at one. */
  index?: FetchedManifest & { index: Index };
  /** The single-platform image manifest. */
  manifest: FetchedManifest & { manifest: Manifest };
}

/** Options for {@linkcode RegistryClient.pushBlob}. */
export interface PushBlobOptions {
  /** A repository on the same registry that has the blob, to mount it from instead of uploading. */
  mountFrom?: Reference;
  /** Called with the number of bytes uploaded so far. */
  onProgress?: (sent: number) => void;
}

/** What {@linkcode RegistryClient.pushBlob} did. */
export type PushBlobResult = "exists" | "mounted" | "uploaded";

/** What {@linkcode RegistryClient.fetchBlob} did. */
export type FetchBlobResult = "exists" | "fetched";

/** Manifests larger than this are refused (containerd's limit). */
const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Redirects followed for one request. */
const MAX_REDIRECTS = 5;

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Creates the body afresh for each attempt. */
  body?: () => BodyInit | null;
  scopes: string[];
  ctx: ErrorContext;
  /** Retry broken connections and 5xx/429 answers (only for idempotent requests). */
  retry: boolean;
  /** Follow redirects (default true). */
  redirect?: boolean;
}

/**
 * Talks to OCI distribution registries. One client caches auth challenges and tokens, so use
 * one per command.
 */
export class RegistryClient {
  /** How many blobs `pull` and `push` transfer at once. */
  readonly concurrency: number;
  /** Blobs larger than this are uploaded in chunks of this size. */
  readonly chunkSize: number;
  /** The retry policy for transient failures. */
  readonly retry: RetryPolicy;
  #fetch: typeof fetch;
  #userAgent: string;
  #insecure: Set<string>;
  #auth: Authenticator;
  #pings = new Map<string, Promise<void>>();

  /** Creates a client. */
  constructor(options: RegistryClientOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? 3);
    this.chunkSize = Math.max(1, options.chunkSize ?? 8 * 1024 * 1024);
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#fetch = options.fetch ?? fetch;
    this.#userAgent = options.userAgent ?? "img";
    this.#insecure = new Set(options.insecureRegistries ?? []);
    this.#auth = this.#authenticator(options.credentials);
  }

  /** The base URL for a registry domain: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  baseUrl(domain: string): string {
    const host = registryHost(domain);
    const plain = isLoopbackHost(host) || this.#insecure.has(domain) || this.#insecure.has(host);
    return `${plain ? "http" : "https"}://${host}`;
  }

  /**
   * Verifies a credential against a registry, as `img login` does: pings `/v2/`, then
   * authenticates (token flow without a scope, or Basic) and pings again.
   *
   * @throws {RegistryError} `Login to HOST failed: unauthorized: ...` if the registry refuses it.
   */
  async checkLogin(domain: string, credential: Credential): Promise<void> {
    const ctx: ErrorContext = {
      action: `Login to ${domain}`,
      domain,
      loginHint: false,
      authenticated: true,
    };
    const auth = this.#authenticator({
      get: (host) => Promise.resolve(host === domain ? credential : undefined),
      store: () => Promise.resolve(),
      erase: () => Promise.resolve(false),
    });
    const url = `${this.baseUrl(domain)}/v2/`;
    const first = await this.#send(url, { headers: this.#headers({}) }, ctx, domain, true);
    await first.body?.cancel();
    if (first.ok) return; // The registry needs no credentials; docker also reports success.
    if (first.status !== 401) throw await this.#pingError(first, ctx, domain);
    auth.setChallenge(domain, first.headers.get("www-authenticate"));
    const authorization = await auth.authorization(domain, [], ctx);
    if (!authorization) {
      throw new RegistryError(
        `${ctx.action} failed: the registry asks for an unsupported kind of auth`,
      );
    }
    const second = await this.#send(
      url,
      { headers: this.#headers({ authorization }) },
      ctx,
      domain,
      true,
    );
    if (second.ok) {
      await second.body?.cancel();
      return;
    }
    throw await responseError(second, ctx);
  }

  /** Pings `/v2/` once per domain to learn which auth the registry wants. */
  async ping(domain: string, ctx?: ErrorContext): Promise<void> {
    let p = this.#pings.get(domain);
    if (!p) {
      p = this.#doPing(domain, ctx ?? { action: `Ping of ${domain}`, domain });
      this.#pings.set(domain, p);
      p.catch(() => this.#pings.delete(domain));
    }
    await p;
  }

  async #doPing(domain: string, ctx: ErrorContext): Promise<void> {
    const res = await this.#send(
      `${this.baseUrl(domain)}/v2/`,
      { headers: this.#headers({}) },
      ctx,
      domain,
      true,
    );
    await res.body?.cancel();
    if (res.status === 401) {
      this.#auth.setChallenge(domain, res.headers.get("www-authenticate"));
    } else if (res.ok) {
      this.#auth.setChallenge(domain, null);
    } else {
      throw await this.#pingError(res, ctx, domain);
    }
  }

  async #pingError(res: Response, ctx: ErrorContext, domain: string): Promise<RegistryError> {
    if (res.status === 404) {
      await res.body?.cancel();
      return new RegistryError(
        `${ctx.action} failed: ${
          registryHost(domain)
        } does not look like a registry (GET /v2/ answered 404)`,
        { status: 404 },
      );
    }
    return await responseError(res, ctx);
  }

  /**
   * Fetches a manifest or index by tag or digest, accepting every media type img supports.
   * The digest is verified when the reference pins one.
   *
   * @throws {RegistryError} `Pull of X failed: manifest unknown: ...` and the like.
   * @throws {ImgError} for Docker schema 1 manifests, which img does not support.
   */
  async getManifest(ref: Reference): Promise<FetchedManifest> {
    const ctx = pullContext(ref);
    const res = await this.#request(
      ref.domain,
      `/v2/${ref.path}/manifests/${ref.digest ?? ref.tag}`,
      {
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [pullScope(ref.path)],
        ctx,
        retry: true,
      },
    );
    if (res.status !== 200) throw await this.#failure(res, ctx);
    const bytes = await readLimited(res, MAX_MANIFEST_SIZE, ctx);
    const mediaType = detectMediaType(res.headers.get("content-type"), bytes);
    if (isSchema1MediaType(mediaType)) {
      throw new ImgError(
        `Image ${
          familiarReference(ref)
        } uses the Docker schema 1 manifest format, which img does not support; push it again with a current docker or skopeo`,
      );
    }
    const digest = sha256(bytes);
    if (ref.digest && digest !== ref.digest) {
      throw new RegistryError(
        `${ctx.action} failed: the registry sent a manifest with digest ${digest} instead of ${ref.digest}`,
        { cause: new DigestMismatchError(ref.digest, digest) },
      );
    }
    return { descriptor: { mediaType, digest, size: bytes.byteLength }, bytes, mediaType };
  }

  /**
   * Returns the descriptor of a manifest without fetching it (`HEAD`), or `undefined` if the
   * registry does not have it.
   */
  async headManifest(ref: Reference): Promise<Descriptor | undefined> {
    const ctx = pullContext(ref);
    const res = await this.#request(
      ref.domain,
      `/v2/${ref.path}/manifests/${ref.digest ?? ref.tag}`,
      {
        method: "HEAD",
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [pullScope(ref.path)],
        ctx,
        retry: true,
      },
    );
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.#failure(res, ctx);
    const digest = res.headers.get("docker-content-digest");
    const size = Number(res.headers.get("content-length"));
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    if (!digest || !/^sha256:[a-f0-9]{64}$/.test(digest) || !Number.isFinite(size) || !mediaType) {
      // Not every registry describes the manifest on HEAD: fetch it instead.
      return (await this.getManifest(ref)).descriptor;
    }
    return { mediaType, digest, size };
  }

  /**
   * Resolves a reference to a single-platform manifest: fetches it, and if it is an index or
   * manifest list, lets `choose` pick an entry and fetches that.
   *
   * @throws {ImgError} if the index has no entry for the platform.
   */
  async resolve(ref: Reference, choose: ManifestChooser): Promise<ResolvedImage> {
    const ctx = pullContext(ref);
    const top = await this.getManifest(ref);
    if (!isIndexMediaType(top.mediaType)) {
      return { manifest: { ...top, manifest: parseManifest(top.bytes, ctx) } };
    }
    const index = parseIndex(top.bytes, ctx);
    const chosen = choose(index.manifests);
    if (!chosen) {
      const platforms = index.manifests.map((d) => d.platform)
        .filter((p) => p && p.os !== "unknown")
        .map((p) => [p!.os, p!.architecture, p!.variant].filter(Boolean).join("/"));
      throw new ImgError(
        `${ctx.action} failed: the image has no manifest for the requested platform (it has ${
          platforms.length > 0 ? platforms.join(", ") : "no platform-specific manifests"
        }); pass a --platform it has`,
      );
    }
    const m = await this.getManifest(withDigest(ref, chosen.digest));
    if (isIndexMediaType(m.mediaType)) {
      throw new ImgError(`${ctx.action} failed: nested image indexes are not supported`);
    }
    return {
      index: { ...top, index },
      manifest: {
        ...m,
        descriptor: { ...m.descriptor, platform: chosen.platform },
        manifest: parseManifest(m.bytes, ctx),
      },
    };
  }

  /** Reports whether the repository has the blob (`HEAD /v2/<name>/blobs/<digest>`). */
  async blobExists(
    ref: Reference,
    digest: Digest,
    scopes: string[] = [pullScope(ref.path)],
  ): Promise<boolean> {
    const ctx = pullContext(ref);
    const res = await this.#request(ref.domain, `/v2/${ref.path}/blobs/${digest}`, {
      method: "HEAD",
      scopes,
      ctx,
      retry: true,
    });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.#failure(res, { ...ctx, action: `Push of ${familiarReference(ref)}` });
  }

  /**
   * Streams a blob into the content store, verifying its digest and size, unless the store has
   * it already. A connection that breaks mid-body is resumed (with `Range` if the registry
   * supports it, otherwise by skipping what was already received) with backoff.
   */
  async fetchBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    onProgress?: (received: number) => void,
  ): Promise<FetchBlobResult> {
    const digest = descriptor.digest as Digest;
    if (await store.has(digest)) {
      onProgress?.(descriptor.size);
      return "exists";
    }
    const ctx = pullContext(ref);
    try {
      await store.ingest(this.#blobChunks(ref, descriptor, ctx), {
        expected: digest,
        size: descriptor.size,
        onProgress,
      });
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (e instanceof ImgError) {
        throw new ImgError(`${ctx.action} failed: blob ${digest}: ${e.message}`, { cause: e });
      }
      throw e;
    }
    return "fetched";
  }

  async *#blobChunks(
    ref: Reference,
    descriptor: Descriptor,
    ctx: ErrorContext,
  ): AsyncGenerator<Uint8Array> {
    const path = `/v2/${ref.path}/blobs/${descriptor.digest}`;
    let offset = 0;
    let failures = 0;
    let totalFailures = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const res = await this.#request(ref.domain, path, {
        headers,
        scopes: [pullScope(ref.path)],
        ctx,
        retry: true,
      });
      let skip = 0;
      if (res.status === 206 && offset > 0) {
        const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
        if (!start || Number(start[1]) !== offset) {
          await res.body?.cancel();
          throw new RegistryError(
            `${ctx.action} failed: the registry answered a range request for ${descriptor.digest} with the wrong range`,
          );
        }
      } else if (res.status === 200) {
        skip = offset; // No range support: read from the start and drop what we have.
      } else {
        throw await this.#failure(res, ctx);
      }
      if (!res.body) {
        throw new RegistryError(
          `${ctx.action} failed: the registry sent no body for ${descriptor.digest}`,
        );
      }
      let progressed = false;
      try {
        for await (const chunk of res.body) {
          let c = chunk;
          if (skip > 0) {
            const n = Math.min(skip, c.byteLength);
            skip -= n;
            c = c.subarray(n);
            if (c.byteLength === 0) continue;
          }
          offset += c.byteLength;
          progressed = true;
          yield c;
        }
        if (offset >= descriptor.size) return;
        // The body ended early without an error: treat it as a broken connection.
        throw new TypeError(`the connection closed after ${offset} of ${descriptor.size} bytes`);
      } catch (e) {
        if (!isRetryableError(e)) throw e;
        if (progressed) failures = 0;
        failures++;
        totalFailures++;
        if (failures >= this.retry.attempts || totalFailures >= this.retry.attempts * 3) {
          throw networkError(e, ctx, registryHost(ref.domain));
        }
        await sleep(retryDelay(this.retry, failures));
      }
    }
  }

  /**
   * Pushes a blob from the content store unless the repository has it: mounts it from
   * `mountFrom` when given (falling back to an upload if the registry declines), else uploads it
   * in one `PUT` (up to `chunkSize`) or in `PATCH` chunks. Transient failures restart the upload.
   */
  async pushBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    const ctx = pushContext(ref);
    const digest = descriptor.digest as Digest;
    const from = options.mountFrom && options.mountFrom.domain === ref.domain &&
        options.mountFrom.path !== ref.path
      ? options.mountFrom
      : undefined;
    const scopes = [pushScope(ref.path), ...(from ? [pullScope(from.path)] : [])];
    if (await this.blobExists(ref, digest, scopes)) {
      options.onProgress?.(descriptor.size);
      return "exists";
    }
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#uploadBlob(
          ref,
          descriptor,
          store,
          from,
          scopes,
          ctx,
          options.onProgress,
        );
      } catch (e) {
        const transient = e instanceof RegistryError ? e.transient : isRetryableError(e);
        if (!transient || attempt >= this.retry.attempts) {
          throw e instanceof ImgError ? e : networkError(e, ctx, registryHost(ref.domain));
        }
        await sleep(retryDelay(this.retry, attempt));
      }
    }
  }

  async #uploadBlob(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    from: Reference | undefined,
    scopes: string[],
    ctx: ErrorContext,
    onProgress?: (sent: number) => void,
  ): Promise<PushBlobResult> {
    const digest = descriptor.digest as Digest;
    const uploads = `/v2/${ref.path}/blobs/uploads/`;
    const start = from
      ? `${uploads}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.path)}`
      : uploads;
    const res = await this.#request(ref.domain, start, {
      method: "POST",
      scopes,
      ctx,
      retry: false,
    });
    if (res.status === 201 && from) {
      await res.body?.cancel();
      onProgress?.(descriptor.size);
      return "mounted";
    }
    if (res.status !== 202) throw await this.#failure(res, ctx);
    await res.body?.cancel();
    let location = this.#location(ref.domain, res, ctx);

    const info = await store.stat(digest);
    if (!info) {
      throw new ImgError(`${ctx.action} failed: blob ${digest} is not in the content store`);
    }
    if (info.size !== descriptor.size) {
      throw new ImgError(
        `${ctx.action} failed: blob ${digest} has ${info.size} bytes in the content store, but its descriptor says ${descriptor.size}`,
      );
    }

    if (info.size <= this.chunkSize) {
      const data = await store.read(digest);
      const put = await this.#request(ref.domain, withQuery(location, "digest", digest), {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: () => data as Uint8Array<ArrayBuffer>,
        scopes,
        ctx,
        retry: false,
      });
      if (put.status !== 201) throw await this.#failure(put, ctx);
      await put.body?.cancel();
      onProgress?.(info.size);
      return "uploaded";
    }

    const file = await Deno.open(store.path(digest), { read: true });
    try {
      let offset = 0;
      const buf = new Uint8Array(this.chunkSize);
      while (offset < info.size) {
        let n = 0;
        const want = Math.min(this.chunkSize, info.size - offset);
        while (n < want) {
          const r = await file.read(buf.subarray(n, want));
          if (r === null) {
            throw new ImgError(`${ctx.action} failed: blob ${digest} is shorter than expected`);
          }
          n += r;
        }
        const chunk = buf.slice(0, n);
        const patch = await this.#request(ref.domain, location, {
          method: "PATCH",
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${offset}-${offset + n - 1}`,
          },
          body: () => chunk as Uint8Array<ArrayBuffer>,
          scopes,
          ctx,
          retry: false,
        });
        if (patch.status !== 202) throw await this.#failure(patch, ctx);
        await patch.body?.cancel();
        location = this.#location(ref.domain, patch, ctx);
        offset += n;
        onProgress?.(offset);
      }
    } finally {
      file.close();
    }
    const put = await this.#request(ref.domain, withQuery(location, "digest", digest), {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      scopes,
      ctx,
      retry: false,
    });
    if (put.status !== 201) throw await this.#failure(put, ctx);
    await put.body?.cancel();
    return "uploaded";
  }

  /**
   * Puts a manifest or index under the reference's tag (or digest) with its media type as
   * `Content-Type`, and returns its descriptor.
   */
  async putManifest(ref: Reference, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const ctx = pushContext(ref);
    const digest = sha256(bytes);
    const res = await this.#request(
      ref.domain,
      `/v2/${ref.path}/manifests/${ref.tag ?? ref.digest}`,
      {
        method: "PUT",
        headers: { "content-type": mediaType },
        body: () => bytes as Uint8Array<ArrayBuffer>,
        scopes: [pushScope(ref.path)],
        ctx,
        retry: true,
      },
    );
    if (res.status !== 201 && res.status !== 200) throw await this.#failure(res, ctx);
    await res.body?.cancel();
    const returned = res.headers.get("docker-content-digest");
    if (returned && returned !== digest && returned.startsWith("sha256:")) {
      throw new RegistryError(
        `${ctx.action} failed: the registry stored the manifest under digest ${returned} instead of ${digest}`,
      );
    }
    return { mediaType, digest, size: bytes.byteLength };
  }

  /**
   * Pulls an image into the content store (index, chosen manifest, config, layers), with at
   * most `concurrency` blobs at once. See {@linkcode pullImage | pull} in `transfer.ts`.
   */
  pull(ref: Reference, store: ContentStore, options: PullOptions): Promise<PullResult> {
    return pullImage(this, ref, store, options);
  }

  /**
   * Pushes an image (manifest or index) from the content store under `ref`, with at most
   * `concurrency` blobs at once. See {@linkcode pushImage | push} in `transfer.ts`.
   */
  push(
    ref: Reference,
    descriptor: Descriptor,
    store: ContentStore,
    options: PushOptions = {},
  ): Promise<Descriptor> {
    return pushImage(this, ref, descriptor, store, options);
  }

  // --- plumbing -------------------------------------------------------------------------------

  #authenticator(credentials: CredentialStore | undefined): Authenticator {
    return new Authenticator({
      credentials,
      // Token requests are idempotent: retry them like GETs.
      send: (url, init, ctx) =>
        this.#send(
          url,
          { ...init, headers: this.#headers(init.headers as Record<string, string>) },
          ctx,
          ctx.domain,
          true,
        ),
    });
  }

  #headers(headers: Record<string, string> = {}): Record<string, string> {
    return { "user-agent": this.#userAgent, ...headers };
  }

  /** Builds an error for an unexpected answer, noting whether credentials were sent. */
  async #failure(res: Response, ctx: ErrorContext): Promise<RegistryError> {
    const authenticated = res.status === 401 || res.status === 403
      ? await this.#auth.hasCredential(ctx.domain)
      : undefined;
    return await responseError(res, { ...ctx, authenticated });
  }

  #location(domain: string, res: Response, ctx: ErrorContext): string {
    const location = res.headers.get("location");
    if (!location) {
      throw new RegistryError(
        `${ctx.action} failed: the registry started an upload without a Location`,
      );
    }
    return new URL(location, `${this.baseUrl(domain)}/`).href;
  }

  /**
   * Sends an authorized request to a registry: pings first, adds the `Authorization` header,
   * re-authenticates once on 401, follows redirects (dropping credentials when leaving the
   * registry), and retries transient failures when `opts.retry` is set.
   */
  async #request(domain: string, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
    await this.ping(domain, opts.ctx);
    const url = pathOrUrl.startsWith("/") ? `${this.baseUrl(domain)}${pathOrUrl}` : pathOrUrl;
    let authorization = await this.#auth.authorization(domain, opts.scopes, opts.ctx);
    let reauthorized = false;
    for (;;) {
      const headers = this.#headers({
        ...opts.headers,
        ...(authorization ? { authorization } : {}),
      });
      const res = await this.#sendFollowing(
        url,
        {
          method: opts.method ?? "GET",
          headers,
          body: opts.body?.() ?? null,
        },
        opts.ctx,
        domain,
        opts.retry,
      );
      if (res.status !== 401 || reauthorized) return res;
      const header = res.headers.get("www-authenticate");
      if (!header) return res;
      reauthorized = true;
      const next = await this.#auth.reauthorize(domain, opts.scopes, header, opts.ctx);
      if (next === undefined || next === authorization) return res;
      await res.body?.cancel();
      authorization = next;
    }
  }

  /** Sends a request, following redirects by hand so that credentials never leave the registry. */
  async #sendFollowing(
    url: string,
    init: RequestInit & { headers: Record<string, string> },
    ctx: ErrorContext,
    domain: string,
    retry: boolean,
  ): Promise<Response> {
    let current = url;
    let headers = init.headers;
    let method = init.method ?? "GET";
    let body = init.body;
    for (let i = 0; i <= MAX_REDIRECTS; i++) {
      const res = await this.#send(
        current,
        { ...init, method, headers, body, redirect: "manual" },
        ctx,
        domain,
        retry,
      );
      const location = res.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      await res.body?.cancel();
      const next = new URL(location, current);
      if (next.origin !== new URL(current).origin) {
        const { authorization: _, ...rest } = headers;
        headers = rest;
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = null;
      }
      current = next.href;
    }
    throw new RegistryError(
      `${ctx.action} failed: too many redirects from ${registryHost(domain)}`,
    );
  }

  /** Sends one request; when `retry` is set, retries broken connections, 5xx and 429. */
  async #send(
    url: string,
    init: RequestInit,
    ctx: ErrorContext,
    domain: string,
    retry: boolean,
  ): Promise<Response> {
    const host = new URL(url).host || registryHost(domain);
    for (let attempt = 1;; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, init);
      } catch (e) {
        if (retry && isRetryableError(e) && attempt < this.retry.attempts) {
          await sleep(retryDelay(this.retry, attempt));
          continue;
        }
        throw networkError(e, ctx, host);
      }
      if (retry && isRetryableStatus(res.status) && attempt < this.retry.attempts) {
        await res.body?.cancel();
        await sleep(
          retryDelay(this.retry, attempt, parseRetryAfter(res.headers.get("retry-after"))),
        );
        continue;
      }
      return res;
    }
  }
}

function pullContext(ref: Reference): ErrorContext {
  return { action: `Pull of ${familiarReference(ref)}`, domain: ref.domain };
}

function pushContext(ref: Reference): ErrorContext {
  return { action: `Push of ${familiarReference(ref)}`, domain: ref.domain };
}

function withQuery(url: string, name: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.href;
}

async function readLimited(res: Response, limit: number, ctx: ErrorContext): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    throw new RegistryError(`${ctx.action} failed: the manifest is larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > limit) {
        throw new RegistryError(`${ctx.action} failed: the manifest is larger than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return concatBytes(chunks);
}

/**
 * Works out a manifest's media type from the `Content-Type` header and the body's
 * `mediaType`/`schemaVersion`/shape, as containerd does.
 */
export function detectMediaType(contentType: string | null, bytes: Uint8Array): string {
  const header = (contentType ?? "").split(";")[0].trim().toLowerCase();
  let body: {
    schemaVersion?: unknown;
    mediaType?: unknown;
    manifests?: unknown;
    config?: unknown;
    fsLayers?: unknown;
  } = {};
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (v && typeof v === "object") body = v;
  } catch { /* not JSON: rely on the header */ }
  if (body.schemaVersion === 1 || body.fsLayers !== undefined) {
    return MediaType.dockerManifestV1Signed;
  }
  if (typeof body.mediaType === "string" && body.mediaType) return body.mediaType;
  if (
    header && header !== "application/json" && header !== "text/plain" &&
    header !== "application/octet-stream"
  ) {
    return header;
  }
  if (Array.isArray(body.manifests)) return MediaType.ociIndex;
  if (body.config !== undefined) return MediaType.ociManifest;
  return header || "application/octet-stream";
}

/** Parses a fetched manifest or index; `what` names it in the error ("image manifest"). */
function parseDocument<T>(
  bytes: Uint8Array,
  schema: z.ZodType<T>,
  what: string,
  ctx: ErrorContext,
): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new RegistryError(`${ctx.action} failed: the ${what} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new RegistryError(
      `${ctx.action} failed: the ${what} is not valid: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  return parsed.data;
}

function parseManifest(bytes: Uint8Array, ctx: ErrorContext): Manifest {
  return parseDocument(bytes, manifestSchema, "image manifest", ctx);
}

function parseIndex(bytes: Uint8Array, ctx: ErrorContext): Index {
  return parseDocument(bytes, indexSchema, "image index", ctx);
}
